"""Front door of ktstr_host (the list ``ktstr_host/__init__.py`` loads lazily)."""

from ktstr_proto.transcript import Chunk, Header, Mark, Transcript

from .decode.bulk import BulkDecoder, BulkStats, parse_tlv_stream, scan_tlv_stream
from .decode.events import Dropped, DropReason, Frame
from .decode.serial import (
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
from .export.html import write_html
from .session.result import Anomaly, RunResult, Status
from .session.result_builder import build_run_result
from .session.run_session import RawData, RunSession, SessionEvent
from .transcripts.io import (
    TranscriptReader,
    TranscriptWriter,
    read_transcript,
    save_transcript,
    write_transcript,
)
from .transcripts.recorder import Recorder, import_captures, open_port
from .transcripts.replay import Replayer, ReplayIncomplete, ReplayMismatch, ReplayReport
from .vm.record import record_scenario
from .vm.runner import VmConfig, run_vm

__all__ = [
    "Anomaly",
    "BacktraceLine",
    "BulkDecoder",
    "BulkStats",
    "CaptureTruncated",
    "Chunk",
    "DropReason",
    "Dropped",
    "DumpEnd",
    "DumpLine",
    "DumpStart",
    "DumpUnterminated",
    "FatalSignal",
    "Frame",
    "Header",
    "KernelPanic",
    "Line",
    "LineOverflow",
    "Mark",
    "PanicHead",
    "PanicMessageLine",
    "RawData",
    "Recorder",
    "ReplayIncomplete",
    "ReplayMismatch",
    "ReplayReport",
    "Replayer",
    "RunResult",
    "RunSession",
    "SerialDecoder",
    "SessionEvent",
    "Status",
    "Transcript",
    "TranscriptReader",
    "TranscriptWriter",
    "VmConfig",
    "build_run_result",
    "decode_serial",
    "import_captures",
    "open_port",
    "parse_tlv_stream",
    "read_transcript",
    "record_scenario",
    "run_vm",
    "save_transcript",
    "scan_tlv_stream",
    "write_html",
    "write_transcript",
]
