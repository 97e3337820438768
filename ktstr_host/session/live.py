"""Decode a run's channels as bytes arrive, for live display.

:class:`LiveDecoder` feeds each transcript chunk to a
:class:`~ktstr_host.session.RunSession` (the one routing of channels to decoders) and
returns one printable line per event. Used by ``ktstr-host record``, ``replay`` and
``vm run``.
"""

from __future__ import annotations

import re

from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.transcript import Chunk, Mark

from ..decode.describe import format_event
from ..decode.events import Dropped, Frame
from ..decode.serial import (
    CaptureTruncated,
    DumpEnd,
    DumpStart,
    DumpUnterminated,
    FatalSignal,
    KernelPanic,
    Line,
    PanicHead,
    SerialEvent,
)
from .run_session import RawData, RunSession, SessionEvent

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Guest text made safe for a terminal: control characters (escape sequences
    included) shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _serial_line(channel: str, event: SerialEvent) -> str | None:
    if isinstance(event, Line):
        return f"{channel:<5} {event.offset:>10}  {printable(event.text.rstrip(chr(13)))}"
    if isinstance(event, PanicHead):
        return f"{channel:<5} {event.offset:>10}  ** PANIC: {printable(event.message)}"
    if isinstance(event, FatalSignal):
        where = f"{channel:<5} {event.offset:>10}"
        return f"{where}  ** fatal signal {event.signal} at 0x{event.addr:x}"
    if isinstance(event, KernelPanic):
        return f"{channel:<5} {event.offset:>10}  ** kernel panic: {printable(event.message)}"
    if isinstance(event, DumpStart):
        return f"{channel:<5} {event.offset:>10}  ** sched_ext dump starts"
    if isinstance(event, DumpEnd):
        return f"{channel:<5} {event.offset:>10}  ** sched_ext dump complete ({event.lines} lines)"
    if isinstance(event, DumpUnterminated):
        return f"{channel:<5} {event.offset:>10}  ** sched_ext dump unterminated ({event.reason})"
    if isinstance(event, CaptureTruncated):
        return f"{channel:<5} {event.offset:>10}  ** host capture window dropped {event.dropped} B"
    return None


class LiveDecoder:
    """A :class:`~ktstr_host.session.RunSession` whose events come out as display lines:
    ``feed(chunk)`` returns one line per event; :attr:`session` has the run's result."""

    def __init__(self, profile: str | Profile | None = None, *, lines: bool = True) -> None:
        self.profile = get_profile(profile)
        self.show_lines = lines
        self.session = RunSession(self.profile, lines=lines)

    def feed(self, chunk: Chunk) -> list[str]:
        events = self.session.feed(chunk.channel, chunk.data, chunk.t, chunk.direction)
        return self._lines(events)

    def mark(self, mark: Mark) -> None:
        self.session.mark(mark)

    def close(self) -> list[str]:
        return self._lines(self.session.close())

    def _lines(self, events: list[SessionEvent]) -> list[str]:
        out: list[str] = []
        for ev in events:
            e = ev.event
            if isinstance(e, RawData):
                if ev.direction == "h2g":
                    out.append(f"{ev.channel:<5} host->guest {e.data[:32].hex(' ')}")
                else:
                    out.append(f"{ev.channel:<5} guest->host {len(e.data)} bytes")
            elif isinstance(e, Frame | Dropped):
                towards = "host->guest " if ev.direction == "h2g" else ""
                out.append(f"bulk  {towards}{format_event(e, self.profile)}")
            elif not (isinstance(e, Line) and not self.show_lines):
                line = _serial_line(ev.channel, e)
                if line is not None:
                    out.append(line)
        return out
