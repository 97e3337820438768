"""Front door of ktstr_host.decode (the names ``__init__.py`` loads lazily)."""

from .bulk import BulkDecoder, BulkStats, parse_tlv_stream, scan_tlv_stream
from .events import Dropped, DropReason, Frame
from .serial import (
    BacktraceLine,
    CaptureTruncated,
    DumpEnd,
    DumpLine,
    DumpStart,
    DumpUnterminated,
    FatalSignal,
    KernelPanic,
    Line,
    LineOverflow,
    PanicHead,
    PanicMessageLine,
    SerialDecoder,
    decode_serial,
)

__all__ = [
    "BacktraceLine",
    "BulkDecoder",
    "BulkStats",
    "CaptureTruncated",
    "DropReason",
    "Dropped",
    "DumpEnd",
    "DumpLine",
    "DumpStart",
    "DumpUnterminated",
    "FatalSignal",
    "Frame",
    "KernelPanic",
    "Line",
    "LineOverflow",
    "PanicHead",
    "PanicMessageLine",
    "SerialDecoder",
    "decode_serial",
    "parse_tlv_stream",
    "scan_tlv_stream",
]
