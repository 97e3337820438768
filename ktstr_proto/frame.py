"""The 16-byte frame header and the frame, declared with construct (bulk.md section 2)."""

from __future__ import annotations

from dataclasses import dataclass

from construct import Bytes, Int32ul, Rebuild, Struct, len_, this

from .crc import crc32
from .errors import UsageError

HEADER_SIZE = 16
U32_MAX = 0xFFFFFFFF

FrameHeader = Struct(
    "msg_type" / Int32ul,
    "length" / Int32ul,
    "crc32" / Int32ul,
    "pad" / Int32ul,
)
"""msg_type, payload length, CRC-32 of the payload only, reserved pad; all u32 LE."""

Frame = Struct(
    "msg_type" / Int32ul,
    "length" / Rebuild(Int32ul, len_(this.payload)),
    "crc32" / Rebuild(Int32ul, lambda ctx: crc32(ctx.payload)),
    "pad" / Int32ul,
    "payload" / Bytes(this.length),
)
"""A whole frame. Building computes ``length`` and ``crc32`` from ``payload``."""


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed frame header."""

    msg_type: int
    length: int
    crc32: int
    pad: int


def _check_u32(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U32_MAX:
        raise UsageError(f"{name} must be an int in 0..0xFFFFFFFF, got {value!r}")


def build_frame(msg_type: int, payload: bytes, *, pad: int = 0) -> bytes:
    """Build one frame through the construct spec: header (CRC over payload) + payload."""
    _check_u32("msg_type", msg_type)
    _check_u32("pad", pad)
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise UsageError(f"payload must be bytes-like, got {type(payload).__name__}")
    payload = bytes(payload)
    if len(payload) > U32_MAX:
        raise UsageError("payload longer than u32::MAX cannot be framed")
    out: bytes = Frame.build({"msg_type": int(msg_type), "pad": pad, "payload": payload})
    return out


def build_header(msg_type: int, length: int, crc: int, pad: int = 0) -> bytes:
    """Build a raw header with arbitrary field values (for hostile or test streams)."""
    for name, value in (("msg_type", msg_type), ("length", length), ("crc32", crc), ("pad", pad)):
        _check_u32(name, value)
    out: bytes = FrameHeader.build(
        {"msg_type": int(msg_type), "length": length, "crc32": crc, "pad": pad}
    )
    return out


def parse_header(data: bytes) -> Header:
    """Parse the first 16 bytes of ``data`` as a header with the construct spec."""
    if len(data) < HEADER_SIZE:
        raise UsageError(f"a header needs {HEADER_SIZE} bytes, got {len(data)}")
    c = FrameHeader.parse(bytes(data[:HEADER_SIZE]))
    return Header(c.msg_type, c.length, c.crc32, c.pad)
