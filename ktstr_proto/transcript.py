"""Transcript format v1: every channel of one run as JSON Lines (no I/O here).

Line 1 is a :class:`Header`; every further line is a :class:`Chunk` (bytes seen on one
channel in one direction at a relative time) or a :class:`Mark` (an annotation such as
``vm-exit``). Data is stored as ``"text"`` when it is valid UTF-8 and as ``"b64"``
otherwise, so text channels stay diffable and any byte sequence round-trips.
``docs/transcript-format.md`` is the normative description.

:class:`LineDecoder` validates a transcript line by line (strict: line numbers and what
is wrong); file handling lives in ``ktstr_host.transcripts.io``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .channels import CHANNELS, ChannelDirection, ChannelKind
from .errors import KtstrError, UsageError

FORMAT_NAME = "ktstr-transcript"
FORMAT_VERSION = 1

Direction = Literal["g2h", "h2g"]
DIRECTIONS: tuple[Direction, ...] = ("g2h", "h2g")


class TranscriptError(KtstrError, ValueError):
    """A transcript file is malformed; ``line`` is its 1-based line number when known."""

    def __init__(self, message: str, line: int | None = None, *, source: str | None = None) -> None:
        where = [w for w in (source, None if line is None else f"line {line}") if w]
        super().__init__(": ".join([*where, message]))
        self.line = line
        self.reason = message
        self.source = source


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One channel of the channel table."""

    kind: ChannelKind
    direction: ChannelDirection
    device: str = ""

    def allows(self, direction: Direction) -> bool:
        return self.direction in ("both", direction)


STANDARD_CHANNELS: dict[str, ChannelSpec] = {
    c.name: ChannelSpec(c.kind, c.direction, c.summary) for c in CHANNELS
}
"""The channel table of a header that names none: every row of ``ktstr_proto.channels``."""


@dataclass(frozen=True, slots=True)
class Header:
    """The first line: what this transcript is and which channels it holds."""

    profile: str
    channels: dict[str, ChannelSpec] = field(default_factory=lambda: dict(STANDARD_CHANNELS))
    recorder: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes seen on ``channel`` travelling ``direction`` at ``t`` seconds after start."""

    t: float
    channel: str
    direction: Direction
    data: bytes


@dataclass(frozen=True, slots=True)
class Mark:
    """A named annotation at ``t`` (e.g. ``vm-exit`` with the exit status)."""

    t: float
    name: str
    data: dict[str, Any] = field(default_factory=dict)


Event = Chunk | Mark


@dataclass
class Transcript:
    """A whole transcript in memory: for fixtures, tests and small recordings."""

    header: Header
    events: list[Event] = field(default_factory=list)
    truncated: str | None = None
    """Set when the file ended in a torn line (a recorder killed mid-write): what was cut."""

    @property
    def chunks(self) -> list[Chunk]:
        return [e for e in self.events if isinstance(e, Chunk)]

    @property
    def marks(self) -> list[Mark]:
        return [e for e in self.events if isinstance(e, Mark)]

    def iter_chunks(self, channel: str, direction: Direction = "g2h") -> Iterator[bytes]:
        """The data of one channel's chunks in one direction, in order."""
        for e in self.events:
            if isinstance(e, Chunk) and e.channel == channel and e.direction == direction:
                yield e.data

    def channel_bytes(self, channel: str, direction: Direction = "g2h") -> bytes:
        """Everything one channel carried in one direction, concatenated."""
        return b"".join(
            c.data for c in self.chunks if c.channel == channel and c.direction == direction
        )

    def mark(self, name: str) -> Mark | None:
        """The last mark called ``name``."""
        found = [m for m in self.marks if m.name == name]
        return found[-1] if found else None

    def duration(self) -> float:
        return self.events[-1].t if self.events else 0.0


# ---- encoding ----------------------------------------------------------------------


def _round_t(t: float) -> float:
    return round(float(t), 6)


def encode_header(header: Header) -> str:
    doc = {
        "format": FORMAT_NAME,
        "version": header.version,
        "profile": header.profile,
        "channels": {
            name: {"kind": c.kind, "direction": c.direction, "device": c.device}
            for name, c in header.channels.items()
        },
        "recorder": header.recorder,
        "started_at": header.started_at,
        "meta": header.meta,
    }
    return json.dumps(doc, sort_keys=False, ensure_ascii=False)


def encode_event(event: Event, kind: ChannelKind = "text") -> str:
    """One event as a JSON line (no trailing newline).

    Chunks of ``text`` channels are stored as text when they are valid UTF-8; everything
    else (and every chunk of a ``binary`` channel) as base64.
    """
    if isinstance(event, Mark):
        return json.dumps(
            {"t": _round_t(event.t), "mark": event.name, "data": event.data}, ensure_ascii=False
        )
    doc: dict[str, Any] = {"t": _round_t(event.t), "ch": event.channel, "dir": event.direction}
    text = None
    if kind == "text":
        try:
            text = event.data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is not None:
        doc["text"] = text
        return json.dumps(doc, ensure_ascii=False)
    # base64 needs no JSON escaping: splice it in rather than scanning it again
    b64 = base64.b64encode(event.data).decode("ascii")
    return f'{json.dumps(doc, ensure_ascii=False)[:-1]}, "b64": "{b64}"}}'


# ---- strict decoding ---------------------------------------------------------------


def _obj(line: str, lineno: int) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"invalid JSON ({exc.msg} at column {exc.colno})", lineno) from None
    except RecursionError:
        raise TranscriptError("invalid JSON (nested too deeply)", lineno) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise TranscriptError(f"invalid JSON ({exc})", lineno) from None
    if not isinstance(doc, dict):
        raise TranscriptError(f"expected a JSON object, got {type(doc).__name__}", lineno)
    if _holds_lone_surrogate(doc):  # only \u escapes can smuggle one in
        raise TranscriptError(
            "a string holds a lone surrogate (not valid UTF-8); binary data belongs in 'b64'",
            lineno,
        )
    return doc


def _holds_lone_surrogate(doc: Any) -> bool:
    """Whether any key or string in a decoded JSON value is not encodable as UTF-8.
    ASCII strings (the common case, a flag check in CPython) are skipped at once."""
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _field(doc: dict[str, Any], key: str, typ: type | tuple[type, ...], lineno: int) -> Any:
    if key not in doc:
        raise TranscriptError(f"missing field {key!r}", lineno)
    value = doc[key]
    if not isinstance(value, typ) or (typ is not bool and isinstance(value, bool)):
        want = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise TranscriptError(f"field {key!r} must be {want}, got {type(value).__name__}", lineno)
    return value


def decode_header(line: str, lineno: int = 1) -> Header:
    doc = _obj(line, lineno)
    if doc.get("format") != FORMAT_NAME:
        raise TranscriptError(
            f"not a ktstr transcript (format is {doc.get('format')!r}, expected {FORMAT_NAME!r})",
            lineno,
        )
    version = _field(doc, "version", int, lineno)
    if version > FORMAT_VERSION:
        raise TranscriptError(
            f"transcript version {version} is newer than this ktstr-py supports "
            f"({FORMAT_VERSION}); upgrade ktstr-py to read it",
            lineno,
        )
    if version < 1:
        raise TranscriptError(f"invalid transcript version {version}", lineno)
    profile = _field(doc, "profile", str, lineno)
    table = _field(doc, "channels", dict, lineno)
    channels: dict[str, ChannelSpec] = {}
    for name, spec in table.items():
        if not isinstance(spec, dict):
            raise TranscriptError(f"channel {name!r}: expected an object", lineno)
        kind, direction = spec.get("kind"), spec.get("direction")
        if kind not in ("binary", "text"):
            raise TranscriptError(f"channel {name!r}: kind must be binary or text", lineno)
        if direction not in ("g2h", "h2g", "both"):
            raise TranscriptError(f"channel {name!r}: direction must be g2h, h2g or both", lineno)
        device = spec.get("device", "")
        if not isinstance(device, str):
            raise TranscriptError(f"channel {name!r}: device must be a string", lineno)
        channels[name] = ChannelSpec(kind, direction, device)
    recorder = doc.get("recorder", {})
    meta = doc.get("meta", {})
    started = doc.get("started_at", "")
    if not isinstance(recorder, dict) or not isinstance(meta, dict):
        raise TranscriptError("recorder and meta must be objects", lineno)
    if not isinstance(started, str):
        raise TranscriptError("started_at must be a string", lineno)
    return Header(profile, channels, recorder, started, meta, version)


class LineDecoder:
    """Validates the event lines that follow a header, in order."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self._last_t = 0.0

    def decode(self, line: str, lineno: int) -> Event:
        doc = _obj(line, lineno)
        t = _field(doc, "t", (int, float), lineno)
        try:
            t = float(t)
        except OverflowError:
            raise TranscriptError("time is too large", lineno) from None
        if not math.isfinite(t) or t < 0:
            raise TranscriptError(f"time must be a finite number >= 0, got {t}", lineno)
        if t < self._last_t:
            raise TranscriptError(
                f"time goes backwards ({t} after {self._last_t}); timestamps must be monotonic",
                lineno,
            )
        self._last_t = float(t)
        if "mark" in doc:
            name = _field(doc, "mark", str, lineno)
            data = doc.get("data", {})
            if not isinstance(data, dict):
                raise TranscriptError("mark data must be an object", lineno)
            _check_mark(name, data, lineno)
            return Mark(float(t), name, data)
        channel = _field(doc, "ch", str, lineno)
        spec = self.header.channels.get(channel)
        if spec is None:
            raise TranscriptError(
                f"unknown channel {channel!r} (declared: {', '.join(self.header.channels)})",
                lineno,
            )
        direction = _field(doc, "dir", str, lineno)
        if direction not in DIRECTIONS:
            raise TranscriptError(f"direction must be g2h or h2g, got {direction!r}", lineno)
        if not spec.allows(direction):
            raise TranscriptError(
                f"channel {channel!r} does not carry {direction} data (it is {spec.direction})",
                lineno,
            )
        has_text, has_b64 = "text" in doc, "b64" in doc
        if has_text == has_b64:
            raise TranscriptError("a chunk needs exactly one of 'text' or 'b64'", lineno)
        if has_text and spec.kind == "binary":
            raise TranscriptError(
                f"channel {channel!r} is binary: its chunks are stored as 'b64'", lineno
            )
        if has_text:
            try:
                data = _field(doc, "text", str, lineno).encode("utf-8")
            except UnicodeEncodeError:
                raise TranscriptError(
                    "field 'text' holds a lone surrogate; binary data belongs in 'b64'", lineno
                ) from None
        else:
            raw = _field(doc, "b64", str, lineno)
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise TranscriptError("field 'b64' is not valid base64", lineno) from None
        return Chunk(float(t), channel, direction, data)


_MARK_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "vm-exit": {"status": (int, type(None)), "timed_out": (bool,)},
    "eof": {"channel": (str,), "reason": (str,)},
    "interrupted": {"signal": (str,)},
}


def _check_mark(name: str, data: dict[str, Any], lineno: int) -> None:
    """Known marks carry typed fields (readers act on them); unknown marks are kept."""
    for key, types in _MARK_FIELDS.get(name, {}).items():
        value = data.get(key)
        if key in data and (
            not isinstance(value, types) or (bool not in types and isinstance(value, bool))
        ):
            raise TranscriptError(f"mark {name!r}: field {key!r} has the wrong type", lineno)


def check_chunk(header: Header, chunk: Chunk) -> None:
    """Raise :class:`UsageError` when ``chunk`` does not fit ``header`` (writer side)."""
    spec = header.channels.get(chunk.channel)
    if spec is None:
        raise UsageError(f"channel {chunk.channel!r} is not in the transcript's channel table")
    if chunk.direction not in DIRECTIONS or not spec.allows(chunk.direction):
        raise UsageError(f"channel {chunk.channel!r} does not carry {chunk.direction!r} data")
    if not isinstance(chunk.data, bytes):
        raise UsageError("chunk data must be bytes")
