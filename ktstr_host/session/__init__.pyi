"""Front door of ktstr_host.session (the names ``__init__.py`` loads lazily)."""

from .result import Anomaly, RunResult, Status
from .result_builder import ResultBuilder, build_run_result
from .run_input import CaptureFiles, RunInput
from .run_session import RawData, RunSession, SessionEvent

__all__ = [
    "Anomaly",
    "CaptureFiles",
    "RawData",
    "ResultBuilder",
    "RunInput",
    "RunResult",
    "RunSession",
    "SessionEvent",
    "Status",
    "build_run_result",
]
