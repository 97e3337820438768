"""One run, h11-style: bytes in per channel, events out, the result at any moment.

:class:`RunSession` is the front door of the host side. It routes each channel to the
decoder that reads it (the bulk port, in each direction, to a
:class:`~ktstr_host.decode.bulk.BulkDecoder`, COM1 and COM2 to a
:class:`~ktstr_host.decode.serial.SerialDecoder`, anything else kept as raw data),
returns every decoded event tagged with its channel, and feeds an incremental
:class:`~ktstr_host.session.result_builder.ResultBuilder`, so :meth:`RunSession.result` answers
at any moment in bounded memory (2 x cap for the bulk assembler, 4 MiB per serial capture
window, a fixed head and tail per large text field)::

    session = RunSession("ktstr-0.15")
    for event in session.feed("bulk", data):
        ...
    session.mark("vm-exit", 9.0, status=0, timed_out=False)
    session.close()
    print(session.result().status)

Sans-IO: it does no I/O of its own (``full_dir`` aside, which streams the large fields to
files for ``report --full``).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from ktstr_proto.channels import BULK, COM2, names_read_by
from ktstr_proto.errors import UsageError
from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.transcript import Direction, Mark

from ..decode.bulk import BulkDecoder, scan_tlv_stream
from ..decode.events import BulkEvent
from ..decode.serial import SerialDecoder, SerialEvent
from .full_output import FullOutput
from .result import RunResult
from .result_builder import ResultBuilder

SERIAL_CHANNELS = names_read_by("serial")
BULK_CHANNEL = BULK


class RawData(NamedTuple):
    """Bytes of a channel no decoder reads (hvc0, the stats port, host writes to them)."""

    offset: int
    data: bytes


class SessionEvent(NamedTuple):
    """One decoded event, with the channel, direction and time of the bytes it came from."""

    channel: str
    direction: Direction
    t: float | None
    event: BulkEvent | SerialEvent | RawData


class RunSession:
    """A whole run, fed channel by channel; see the module docstring.

    ``lines`` makes the serial decoders report every line (for a live display); the
    result does not need them. ``full_dir`` streams each large field of the result whole
    to its own file (``report --full``); ``force`` lets it write into a non-empty one.
    """

    def __init__(
        self,
        profile: str | Profile | None = None,
        *,
        lines: bool = False,
        full_dir: str | os.PathLike[str] | None = None,
        force: bool = False,
    ) -> None:
        self.profile = get_profile(profile)
        full = FullOutput(full_dir, force=force) if full_dir is not None else None
        self._builder = ResultBuilder(self.profile, full=full)
        legacy = self.profile.transport != "bulk"
        self._bulk = BulkDecoder(self.profile) if not legacy else None
        self._host_bulk = BulkDecoder(self.profile) if not legacy else None  # host replies
        self._serial = {
            ch: SerialDecoder(ch, lines=lines or (legacy and ch == COM2))  # type: ignore[arg-type]
            for ch in SERIAL_CHANNELS
        }
        self._raw_offsets: dict[tuple[str, str], int] = {}
        self.closed = False
        self.bytes_fed = 0

    def feed(
        self,
        channel: str,
        data: bytes | bytearray | memoryview,
        t: float | None = None,
        direction: Direction = "g2h",
    ) -> list[SessionEvent]:
        """Bytes ``channel`` carried in ``direction`` (at time ``t``, if known); returns
        the events they completed."""
        if self.closed:
            raise UsageError("feed() after close()")
        if direction not in ("g2h", "h2g"):
            raise UsageError(f"direction is 'g2h' or 'h2g', got {direction!r}")
        n = len(data)
        self.bytes_fed += n
        b = self._builder
        if direction == "g2h" and channel == BULK_CHANNEL and self._bulk is not None:
            b.bulk_data(n)
            events: list[Any] = self._bulk.feed(data)
            b.bulk_events(events)
        elif direction == "h2g" and channel == BULK_CHANNEL and self._host_bulk is not None:
            b.host_data(channel, data)
            events = self._host_bulk.feed(data)
        elif direction == "g2h" and channel in self._serial:
            b.serial_data(channel, data)
            events = self._serial[channel].feed(data)
            b.serial_events(channel, events)
        else:
            if direction == "h2g":
                b.host_data(channel, data)
            elif channel == BULK_CHANNEL:
                b.bulk_data(n)  # a serial-era run: its bulk bytes are only counted
            key = (channel, direction)
            offset = self._raw_offsets.get(key, 0)
            self._raw_offsets[key] = offset + n
            events = [RawData(offset, bytes(data))] if n else []
        return [SessionEvent(channel, direction, t, e) for e in events]

    def mark(self, mark: Mark | str, t: float = 0.0, **data: Any) -> None:
        """A host-side mark (``vm-exit``, ``timeout``, ``interrupted``...): a
        :class:`~ktstr_proto.transcript.Mark` or its name, time and data."""
        self._builder.mark(mark if isinstance(mark, Mark) else Mark(t, mark, dict(data)))

    def transcript_truncated(self, note: str) -> None:
        """The recording ends early (a torn final line): reported as an anomaly."""
        self._builder.truncated = note

    def close(self) -> list[SessionEvent]:
        """End of the run: the bulk residual goes through the one-shot parser (as the
        coordinator does at exit), serial lines in progress end; returns their events."""
        if self.closed:
            return []
        self.closed = True
        out: list[SessionEvent] = []
        b = self._builder
        if self._bulk is not None:
            base = self._bulk.offset - self._bulk.pending
            residual = self._bulk.take_residual()
            tail = [
                e._replace(offset=e.offset + base) for e in scan_tlv_stream(residual, self.profile)
            ]
            b.bulk_events(tail)
            out += [SessionEvent(BULK_CHANNEL, "g2h", None, e) for e in tail]
        if self._host_bulk is not None:
            out += [SessionEvent(BULK_CHANNEL, "h2g", None, e) for e in self._host_bulk.close()]
        for ch, decoder in self._serial.items():
            events = decoder.close()
            b.serial_events(ch, events)
            out += [SessionEvent(ch, "g2h", None, e) for e in events]
        if b.full is not None:
            b.close_full(b.result())
        return out

    def result(self) -> RunResult:
        """The run result of everything fed so far (final after :meth:`close`)."""
        return self._builder.result()
