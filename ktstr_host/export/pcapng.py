"""Export a transcript as pcapng (Wireshark, tshark); the mapping is in ``docs/export.md``.

One Interface Description Block per lane (channel + direction, named ``bulk.g2h``,
``hvc0.h2g``, ...) and one ``marks`` interface, all written up front from the channel
table. Each chunk becomes an Enhanced Packet Block on its lane's interface, with the
direction also in ``epb_flags`` (g2h inbound, h2g outbound); each mark becomes a packet
on ``marks`` holding the mark as JSON, with a comment. Channel ``i`` of the table uses
link type ``LINKTYPE_USER0 + i`` (both directions share it), ``marks`` the next one, so
Wireshark's DLT_User table can give every channel its own dissector. Timestamps are in
microseconds: ``started_at`` (or the epoch) plus the event's ``t``. Events stream from
:class:`TranscriptReader`; nothing is held beyond one event.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Direction, Event, Header, TranscriptError, check_chunk

from ..transcripts.io import PathLike, TranscriptReader
from .common import atomic_output, check_absent, lanes

__all__ = [
    "DEFAULT_MAX_PACKET",
    "LINKTYPE_USER0",
    "Interface",
    "PcapngStats",
    "epoch_us",
    "export_pcapng",
    "plan_interfaces",
    "write_pcapng",
]

LINKTYPE_USER0 = 147
USER_LINKTYPES = 16  # LINKTYPE_USER0 .. LINKTYPE_USER15
DEFAULT_MAX_PACKET = 262_144  # Wireshark refuses longer packets for most link types

SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT, OPT_COMMENT = 0, 1
SHB_USERAPPL = 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL = 2, 3, 9
EPB_FLAGS = 2
FLAG_INBOUND, FLAG_OUTBOUND = 1, 2
DIRECTION_FLAGS: dict[Direction, int] = {"g2h": FLAG_INBOUND, "h2g": FLAG_OUTBOUND}
DIRECTION_WORDS: dict[Direction, str] = {"g2h": "guest->host", "h2g": "host->guest"}
MARKS = "marks"
_MAX_OPTION = 0xFFFF
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Interface:
    """One pcapng interface: a lane, or the marks interface (``channel`` is None)."""

    name: str
    description: str
    linktype: int
    channel: str | None = None
    direction: Direction | None = None


@dataclass(slots=True)
class PcapngStats:
    """What :func:`write_pcapng` wrote."""

    packets: int = 0
    chunks: int = 0
    marks: int = 0
    data_bytes: int = 0


def plan_interfaces(header: Header) -> list[Interface]:
    """The interfaces, in id order: every lane of the channel table, then ``marks``."""
    index = {name: i for i, name in enumerate(header.channels)}
    out = []
    for channel, direction in lanes(header):
        device = header.channels[channel].device or channel
        out.append(
            Interface(
                f"{channel}.{direction}",
                f"{device}, {DIRECTION_WORDS[direction]}",
                _linktype(index[channel]),
                channel,
                direction,
            )
        )
    out.append(Interface(MARKS, "ktstr transcript marks", _linktype(len(header.channels))))
    return out


def _linktype(i: int) -> int:
    return LINKTYPE_USER0 + min(i, USER_LINKTYPES - 1)


def epoch_us(started_at: str) -> int:
    """``started_at`` (ISO 8601; UTC when no offset is given) in microseconds since 1970."""
    if not started_at:
        return 0
    try:
        when = datetime.fromisoformat(started_at)
    except ValueError:
        raise TranscriptError(f"started_at {started_at!r} is not an ISO 8601 time", 1) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    us = (when - _EPOCH) // timedelta(microseconds=1)
    if us < 0:
        raise TranscriptError(f"started_at {started_at!r} is before 1970", 1)
    return us


# ---- blocks ------------------------------------------------------------------------


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _text(value: str) -> bytes:
    """UTF-8, cut at a character boundary to fit a 16-bit option length."""
    raw = value.encode("utf-8", "replace")
    if len(raw) > _MAX_OPTION:
        raw = raw[:_MAX_OPTION].decode("utf-8", "ignore").encode("utf-8")
    return raw


def _options(opts: list[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    parts = [struct.pack("<HH", code, len(v)) + v + _pad(len(v)) for code, v in opts]
    return b"".join(parts) + struct.pack("<HH", OPT_ENDOFOPT, 0)


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def section_header_block(header: Header) -> bytes:
    """The SHB: byte-order magic, version 1.0, unknown section length, a summary comment."""
    comment = f"ktstr transcript v{header.version}, profile {header.profile}"
    for key, value in (("recorder", header.recorder), ("meta", header.meta)):
        if value:
            comment += f", {key} {json.dumps(value, ensure_ascii=False)}"
    if header.started_at:
        comment += f", started_at {header.started_at}"
    opts = [(OPT_COMMENT, _text(comment)), (SHB_USERAPPL, b"ktstr-py export")]
    return _block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(opts))


def interface_block(iface: Interface, snaplen: int) -> bytes:
    """An IDB with if_name, if_description and if_tsresol = 6 (microseconds)."""
    opts = [
        (IF_NAME, _text(iface.name)),
        (IF_DESCRIPTION, _text(iface.description)),
        (IF_TSRESOL, bytes([6])),
    ]
    return _block(IDB, struct.pack("<HHI", iface.linktype, 0, snaplen) + _options(opts))


def packet_block(
    iface_id: int, ts_us: int, data: bytes, *, flags: int | None = None, comment: str = ""
) -> bytes:
    """An EPB: captured length = original length = ``len(data)``."""
    opts = [(OPT_COMMENT, _text(comment))] if comment else []
    if flags is not None:
        opts.append((EPB_FLAGS, struct.pack("<I", flags)))
    fixed = struct.pack("<IIIII", iface_id, ts_us >> 32, ts_us & 0xFFFFFFFF, len(data), len(data))
    return _block(EPB, fixed + data + _pad(len(data)) + _options(opts))


# ---- writing -----------------------------------------------------------------------


def write_pcapng(
    header: Header,
    events: Iterable[Event],
    out: IO[bytes],
    *,
    max_packet: int = DEFAULT_MAX_PACKET,
) -> PcapngStats:
    """Write a whole section to ``out``; chunks longer than ``max_packet`` are split."""
    if max_packet < 1:
        raise UsageError("max_packet must be at least 1")
    interfaces = plan_interfaces(header)
    ids = {(i.channel, i.direction): n for n, i in enumerate(interfaces)}
    base = epoch_us(header.started_at)
    out.write(section_header_block(header))
    for iface in interfaces:
        out.write(interface_block(iface, max_packet))
    stats = PcapngStats()
    for event in events:
        ts = _timestamp(base, event.t)
        if isinstance(event, Chunk):
            check_chunk(header, event)
            iface_id, flags = ids[event.channel, event.direction], DIRECTION_FLAGS[event.direction]
            stats.chunks += 1
            stats.data_bytes += len(event.data)
            pieces = _split(event.data, max_packet)
            comment = ""
        else:
            iface_id, flags = len(interfaces) - 1, None
            stats.marks += 1
            pieces = _split(_mark_json(event.name, event.data), max_packet)
            comment = f"mark {event.name}" + (f" {json.dumps(event.data)}" if event.data else "")
        for n, piece in enumerate(pieces):
            note = comment if n == 0 else ""
            out.write(packet_block(iface_id, ts, piece, flags=flags, comment=note))
            stats.packets += 1
    out.flush()
    return stats


def _timestamp(base: int, t: float) -> int:
    us = t * 1_000_000
    if not math.isfinite(us) or base + us >= 2.0**64:
        raise TranscriptError(f"time {t} does not fit a 64-bit pcapng timestamp")
    ts = base + round(us)
    if ts >= 1 << 64:
        raise TranscriptError(f"time {t} does not fit a 64-bit pcapng timestamp")
    return ts


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _mark_json(name: str, data: dict[str, Any]) -> bytes:
    doc = {"mark": name, "data": data}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def export_pcapng(
    source: PathLike | IO[bytes],
    target: PathLike | IO[bytes],
    *,
    overwrite: bool = False,
    max_packet: int = DEFAULT_MAX_PACKET,
) -> PcapngStats:
    """Stream the transcript ``source`` into the pcapng file (or binary stream) ``target``.

    A path target appears only when the whole transcript was valid; an existing one is
    refused (:class:`~ktstr_host.export.common.OutputExistsError`) unless ``overwrite``.
    """
    if isinstance(target, str | os.PathLike):
        path = Path(target)
        check_absent([path], overwrite)
        with TranscriptReader(source) as reader, atomic_output(path) as out:
            return write_pcapng(reader.header, reader, out, max_packet=max_packet)
    with TranscriptReader(source) as reader:
        return write_pcapng(reader.header, reader, target, max_packet=max_packet)
