"""Front door of ktstr_host.transcripts (the names ``__init__.py`` loads lazily)."""

from .io import (
    TranscriptReader,
    TranscriptWriter,
    read_transcript,
    save_transcript,
    write_transcript,
)
from .recorder import Recorder, import_captures, open_port
from .replay import Replayer, ReplayIncomplete, ReplayMismatch, ReplayReport

__all__ = [
    "Recorder",
    "ReplayIncomplete",
    "ReplayMismatch",
    "ReplayReport",
    "Replayer",
    "TranscriptReader",
    "TranscriptWriter",
    "import_captures",
    "open_port",
    "read_transcript",
    "save_transcript",
    "write_transcript",
]
