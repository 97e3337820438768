"""Decode a run's channels as bytes arrive, for live display.

:class:`LiveDecoder` routes each transcript chunk to the decoder of its channel (bulk
frames, serial lines) and returns one printable line per event. Used by
``ktstr-host record``, ``replay`` and ``vm run``.
"""

from __future__ import annotations

import re

from ktstr_proto.channels import BULK
from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.serial import CHANNELS as SERIAL_CHANNELS
from ktstr_proto.transcript import Chunk

from .bulk import BulkDecoder
from .describe import format_event
from .serial import (
    CaptureTruncated,
    DumpEnd,
    DumpStart,
    DumpUnterminated,
    FatalSignal,
    KernelPanic,
    Line,
    PanicHead,
    SerialDecoder,
    SerialEvent,
)

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
    """Per-channel decoders; ``feed(chunk)`` returns display lines."""

    def __init__(self, profile: str | Profile | None = None, *, lines: bool = True) -> None:
        self.profile = get_profile(profile)
        self.show_lines = lines
        self.bulk = BulkDecoder(self.profile) if self.profile.transport == "bulk" else None
        self.serial = {ch: SerialDecoder(ch) for ch in SERIAL_CHANNELS}

    def feed(self, chunk: Chunk) -> list[str]:
        out: list[str] = []
        if chunk.direction == "h2g":
            return [f"{chunk.channel:<5} host->guest {chunk.data[:32].hex(' ')}"]
        if chunk.channel == BULK and self.bulk is not None:
            out += ["bulk  " + format_event(e, self.profile) for e in self.bulk.feed(chunk.data)]
        elif chunk.channel in self.serial:
            for event in self.serial[chunk.channel].feed(chunk.data):
                if isinstance(event, Line) and not self.show_lines:
                    continue
                line = _serial_line(chunk.channel, event)
                if line is not None:
                    out.append(line)
        else:
            out.append(f"{chunk.channel:<5} guest->host {len(chunk.data)} bytes")
        return out

    def close(self) -> list[str]:
        out: list[str] = []
        if self.bulk is not None:
            out += ["bulk  " + format_event(e, self.profile) for e in self.bulk.close()]
        for ch, dec in self.serial.items():
            for event in dec.close():
                if isinstance(event, Line) and not self.show_lines:
                    continue
                line = _serial_line(ch, event)
                if line is not None:
                    out.append(line)
        return out
