"""``ktstr-host report --html``: one self-contained HTML page showing a run on a timeline.

The page (template ``templates/timeline.html``, inline CSS and JS, no network) holds the
verdict banner and reasons, one lane per channel with frames and serial lines as marks,
lifecycle phases, scenario steps, the sched_ext dump and the panic as spans, host marks
(transcript marks, wake bytes), and below it the text report. The data is built here from
the transcript (times come from the chunks: an item gets the time of the chunk that
completed it) and the :class:`RunResult` (verdict, provenance offsets).
"""

from __future__ import annotations

import bisect
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ktstr_proto.channels import BULK, WAKE_CHANNEL
from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.serial import WakeByte
from ktstr_proto.tags import MsgType

from ..decode.describe import format_event
from ..decode.events import Dropped, Frame
from ..decode.serial import DumpEnd, DumpLine, DumpStart, KernelPanic, Line, PanicHead
from ..session.result import RunResult
from ..session.run_session import RawData, RunSession, SessionEvent
from ..transcripts.io import Transcript
from .common import atomic_output, check_absent

TEMPLATE = Path(__file__).resolve().parent / "templates" / "timeline.html"
DATA_SLOT = "/*@@KTSTR_DATA@@*/null"
MAX_DETAIL = 240  # characters of decoded content kept per mark
HOST_LANE = "host"
_SERIAL_KINDS: dict[type, str] = {
    PanicHead: "panic",
    KernelPanic: "kernel-panic",
    DumpStart: "dump",
    DumpLine: "dump",
    DumpEnd: "dump",
}
"""The label of a serial line, from the event the decoder gave it (else ``line``)."""


@dataclass
class _Lane:
    """Columnar marks of one lane (compact JSON for 100,000+ items)."""

    name: str
    t: list[float] = field(default_factory=list)
    k: list[int] = field(default_factory=list)  # index into the page's label table
    o: list[int] = field(default_factory=list)  # stream offset
    d: list[str] = field(default_factory=list)  # decoded content

    def add(self, t: float, label: int, offset: int, detail: str) -> None:
        self.t.append(round(t, 6))
        self.k.append(label)
        self.o.append(offset)
        self.d.append(detail[:MAX_DETAIL])

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "t": self.t, "k": self.k, "o": self.o, "d": self.d}


class _Labels:
    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, name: str) -> int:
        i = self._index.get(name)
        if i is None:
            i = self._index[name] = len(self.names)
            self.names.append(name)
        return i


class _Clock:
    """Stream offset -> time of the chunk holding it, per (channel, direction)."""

    def __init__(self) -> None:
        self.starts: dict[str, list[int]] = {}
        self.times: dict[str, list[float]] = {}
        self.size: dict[str, int] = {}

    def add(self, key: str, t: float, n: int) -> None:
        self.starts.setdefault(key, []).append(self.size.get(key, 0))
        self.times.setdefault(key, []).append(t)
        self.size[key] = self.size.get(key, 0) + n

    def at(self, key: str, offset: int) -> float | None:
        starts = self.starts.get(key)
        if not starts:
            return None
        i = max(bisect.bisect_right(starts, offset) - 1, 0)
        return self.times[key][i]

    def end(self, key: str) -> float | None:
        times = self.times.get(key)
        return times[-1] if times else None


def timeline_data(transcript: Transcript, result: RunResult) -> dict[str, Any]:
    """Everything the page shows, as plain JSON."""
    prof = get_profile(result.profile)
    labels = _Labels()
    lanes: dict[str, _Lane] = {}
    clock = _Clock()
    marks: list[dict[str, Any]] = []
    duration = transcript.duration()

    def lane(name: str) -> _Lane:
        if name not in lanes:
            lanes[name] = _Lane(name)
        return lanes[name]

    def show(events: list[SessionEvent]) -> None:
        kinds = _line_kinds(events)
        for ev in events:  # close()'s events get the time of their stream's last chunk
            t = ev.t if ev.t is not None else clock.end(f"{ev.channel}.{ev.direction}")
            _add(lane(ev.channel), labels, prof, t or 0.0, ev, kinds=kinds)

    for ch in transcript.header.channels:
        lane(ch)
    session = RunSession(prof, lines=True)  # the same decoders as the report, every line
    for chunk in transcript.chunks:
        clock.add(f"{chunk.channel}.{chunk.direction}", chunk.t, len(chunk.data))
        show(session.feed(chunk.channel, chunk.data, chunk.t, chunk.direction))
    show(session.close())
    for mark in transcript.marks:
        marks.append({"t": mark.t, "label": mark.name, "detail": json.dumps(mark.data)})
    lane(HOST_LANE)
    for m in marks:
        lane(HOST_LANE).add(m["t"], labels(f"mark {m['label']}"), 0, m["detail"])
    spans = _spans(result, clock, lanes, labels, duration)
    cites: dict[str, list[str]] = {}
    for name, sources in result.provenance.items():
        for src in sources:
            for off in src.offsets:
                cites.setdefault(f"{src.channel}:{off}", []).append(name)
    return {
        "profile": result.profile,
        "status": result.status.value,
        "reasons": list(result.reasons),
        "duration": duration,
        "labels": labels.names,
        "lanes": [lane.to_json() for lane in lanes.values() if lane.t],
        "spans": spans,
        "cites": cites,
        "report": result.render(),
    }


def _line_kinds(events: list[SessionEvent]) -> dict[tuple[str, int], str]:
    """(channel, line offset) -> the kind the serial decoder gave that line."""
    kinds: dict[tuple[str, int], str] = {}
    for ev in events:
        kind = _SERIAL_KINDS.get(type(ev.event))
        if kind is not None:
            kinds.setdefault((ev.channel, ev.event.offset), kind)
    return kinds


def _add(
    lane: _Lane,
    labels: _Labels,
    prof: Profile,
    t: float,
    ev: SessionEvent,
    *,
    kinds: dict[tuple[str, int], str],
) -> None:
    """One mark for a frame, a drop, a line, a wake byte or a run of raw bytes."""
    e = ev.event
    if isinstance(e, Frame | Dropped):
        text = " ".join(format_event(e, prof).split())
        name = (
            (e.label if e.crc_ok else f"{e.label} (crc bad)")
            if isinstance(e, Frame)
            else (f"DROP {e.reason.value}")
        )
        lane.add(t, labels(name), e.offset, f"{ev.direction}: {text}")
    elif isinstance(e, Line):
        kind = kinds.get((ev.channel, e.offset), "line")
        lane.add(t, labels(kind), e.offset, e.text.removesuffix("\r"))
    elif isinstance(e, RawData) and ev.channel == WAKE_CHANNEL and ev.direction == "h2g":
        for i, b in enumerate(e.data):
            name = WakeByte(b).name if b in WakeByte._value2member_map_ else f"0x{b:02x}"
            lane.add(t, labels(f"wake {name}"), e.offset + i, f"{WAKE_CHANNEL} h2g 0x{b:02x}")
    elif isinstance(e, RawData):
        lane.add(t, labels(f"{ev.direction} bytes"), e.offset, e.data[:48].hex(" "))


def _spans(
    result: RunResult,
    clock: _Clock,
    lanes: dict[str, _Lane],
    labels: _Labels,
    duration: float,
) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []

    def span(lane: str, kind: str, t0: float, t1: float, *, label: str, prov: str) -> None:
        spans.append(
            {"lane": lane, "kind": kind, "t0": t0, "t1": max(t1, t0), "label": label, "prov": prov}
        )

    # lifecycle phases: from each phase to the next one (or the end of the run)
    chan = next(iter(result.provenance.get("lifecycle", [])), None)
    where = chan.channel if chan else BULK
    times = [(clock.at(f"{where}.g2h", e.offset), e) for e in result.lifecycle]
    known = [(t, e) for t, e in times if t is not None]
    for i, (t, e) in enumerate(known):
        end = known[i + 1][0] if i + 1 < len(known) else duration
        label = e.phase + (f" ({e.reason})" if e.reason else "")
        span(where, "phase", t, end, label=label, prov=f"{where} @ {e.offset}")
    # scenario and its steps, from the frames as the host received them
    bulk = lanes.get(BULK)
    if bulk is not None:
        _scenario_spans(bulk, labels, duration, span)
    # the sched_ext dump and the panic
    dump = result.provenance.get("sched_ext_dump", [])
    if dump:
        ch = dump[0].channel
        key = f"{ch}.g2h"
        t0 = clock.at(key, dump[0].offsets[0])
        t1 = clock.at(key, dump[-1].offsets[-1]) if result.dump_complete else clock.end(key)
        if t0 is not None:
            span(
                ch,
                "dump",
                t0,
                t1 or t0,
                label="sched_ext dump",
                prov=f"{ch} @ {dump[0].offsets[0]}",
            )
    for name in ("crash_message", "fatal_signal", "kernel_panic"):
        src = next(iter(result.provenance.get(name, [])), None)
        if src is None:
            continue
        key = f"{src.channel}.g2h"
        t0 = clock.at(key, src.offsets[0])
        if t0 is None:
            continue
        text = getattr(result, name)
        label = text if isinstance(text, str) else f"{name}: {text}"
        span(
            src.channel,
            "panic",
            t0,
            clock.end(key) or t0,
            label=label,
            prov=f"{src.channel} @ {src.offsets[0]}",
        )
        break
    return spans


def _scenario_spans(bulk: _Lane, labels: _Labels, duration: float, span: Any) -> None:
    start: tuple[float, int] | None = None
    step: tuple[float, int, str] | None = None
    for t, k, o, d in zip(bulk.t, bulk.k, bulk.o, bulk.d, strict=True):
        tag = labels.names[k]
        if tag == MsgType.SCENARIO_START.ascii:
            start = (t, o)
        elif tag == MsgType.SCENARIO_END.ascii and start is not None:
            span(BULK, "scenario", start[0], t, label="scenario", prov=f"{BULK} @ {start[1]}")
            start = None
        if tag in (MsgType.STIMULUS.ascii, MsgType.STEP_END.ascii, MsgType.SCENARIO_END.ascii):
            if step is not None:
                span(BULK, "step", step[0], t, label=step[2], prov=f"{BULK} @ {step[1]}")
                step = None
            if tag == MsgType.STIMULUS.ascii:
                step = (t, o, _step_label(d))
    if start is not None:
        span(
            BULK,
            "scenario",
            start[0],
            duration,
            label="scenario (no end)",
            prov=f"{BULK} @ {start[1]}",
        )
    if step is not None:
        span(BULK, "step", step[0], duration, label=step[2], prov=f"{BULK} @ {step[1]}")


def _step_label(detail: str) -> str:
    for part in detail.split():
        if part.startswith("step_index="):
            return f"step {part.split('=', 1)[1]}"
    return "step"


def render_html(transcript: Transcript, result: RunResult) -> str:
    """The whole page."""
    data = json.dumps(timeline_data(transcript, result), separators=(",", ":"))
    data = data.replace("</", "<\\/").replace("<!--", "<\\!--")
    page = TEMPLATE.read_text(encoding="utf-8")
    if page.count(DATA_SLOT) != 1:
        raise ValueError(f"{TEMPLATE} must hold {DATA_SLOT} exactly once")
    head = {"pass": "PASSED", "fail": "FAILED", "skip": "SKIPPED"}[result.status.value]
    title = html.escape(f"ktstr run {head} ({result.profile})")
    return page.replace("@@TITLE@@", title).replace(DATA_SLOT, data)


def write_html(
    transcript: Transcript, result: RunResult, target: str | os.PathLike[str], *, overwrite: bool
) -> Path:
    """Write the page atomically; an existing file is refused unless ``overwrite``."""
    path = Path(target)
    check_absent([path], overwrite)
    page = render_html(transcript, result).encode("utf-8")
    with atomic_output(path) as out:
        out.write(page)
    return path
