"""What a ``@pytest.mark.ktstr_transcript(...)`` marker asks for, checked once.

:func:`marker_options` validates the marker's arguments into :class:`MarkerOptions`;
:func:`default_path` names a test's transcript when the marker gives no path;
:func:`write_recording` filters a fresh recording and writes it atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Transcript

from ..output_files import atomic_output
from .filters import RedactRules, drop_channels, redact
from .io import write_transcript
from .recorders import RecordFn, resolve
from .replay import MatchOn, match_rules

RECORD_MODES = ("none", "once", "rewrite", "all")
"""``none``: replay only; ``once``: record when missing; ``rewrite`` (alias ``all``):
record anew when the marker has a recorder."""
DEFAULT_DIR = "transcripts"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.,=+\[\]-]")
MAX_NAME = 200  # bytes of a file name, leaving room for the suffix and temp-file prefix

BeforeRecord = Callable[[Transcript], Transcript]


@dataclass(frozen=True)
class MarkerOptions:
    """The validated arguments of one ``ktstr_transcript`` marker."""

    path: str | None = None
    record: RecordFn | None = None
    record_mode: str | None = None
    strict: bool = True
    speed: float | None = None
    complete: bool = True
    match_on: MatchOn = ("bytes",)
    before_record: BeforeRecord | None = None
    drop_channels: tuple[str, ...] = ()
    redact: RedactRules = ()
    recorder_options: dict[str, Any] = field(default_factory=dict)

    def filter(self, transcript: Transcript) -> Transcript:
        """Built-in filters (``drop_channels``, ``redact``), then ``before_record``."""
        if self.drop_channels:
            transcript = drop_channels(transcript, self.drop_channels)
        if self.redact:
            transcript = redact(transcript, self.redact)
        if self.before_record is not None:
            transcript = self.before_record(transcript)
            if not isinstance(transcript, Transcript):
                raise UsageError(
                    f"before_record must return a Transcript, got {type(transcript).__name__}"
                )
        return transcript


_RECORDER_KEYS = ("kernel", "accel", "timeout", "profile")
KNOWN_KEYS = (
    "path",
    "record",
    "record_mode",
    "strict",
    "speed",
    "complete",
    "match_on",
    "before_record",
    "drop_channels",
    "redact",
    *_RECORDER_KEYS,
)


def _names(value: object, what: str) -> tuple[str, ...]:
    items: Iterable[object] = (value,) if isinstance(value, str) else value  # type: ignore[assignment]
    try:
        names = tuple(items)
    except TypeError:
        raise UsageError(f"{what} must be a channel name or a list of them") from None
    if not all(isinstance(n, str) for n in names):
        raise UsageError(f"{what} must be a channel name or a list of them")
    return names  # type: ignore[return-value]


def marker_options(args: tuple[Any, ...], kwargs: dict[str, Any]) -> MarkerOptions:
    """Check a marker's arguments; UsageError names what is wrong."""
    unknown = sorted(set(kwargs) - set(KNOWN_KEYS))
    if unknown:
        raise UsageError(
            f"ktstr_transcript: unknown argument(s) {', '.join(unknown)} "
            f"(known: {', '.join(KNOWN_KEYS)})"
        )
    if len(args) > 1 or (args and "path" in kwargs):
        raise UsageError("ktstr_transcript takes one path (positional or path=)")
    path = args[0] if args else kwargs.get("path")
    if path is not None and not isinstance(path, str | Path):
        raise UsageError(f"ktstr_transcript path must be a string or Path, got {path!r}")
    mode = kwargs.get("record_mode")
    if mode is not None and mode not in RECORD_MODES:
        raise UsageError(f"record_mode must be one of {', '.join(RECORD_MODES)}, got {mode!r}")
    rec_opts = {k: kwargs[k] for k in _RECORDER_KEYS if k in kwargs}
    record = kwargs.get("record")
    if record is None and rec_opts:
        raise UsageError(f"{', '.join(rec_opts)} only apply with record=")
    before = kwargs.get("before_record")
    if before is not None and not callable(before):
        raise UsageError("before_record must be a callable(transcript) -> transcript")
    match_on = kwargs.get("match_on", ("bytes",))
    match_rules(match_on)
    return MarkerOptions(
        path=None if path is None else str(path),
        record=None if record is None else resolve(record, **rec_opts),
        record_mode=mode,
        strict=bool(kwargs.get("strict", True)),
        speed=kwargs.get("speed"),
        complete=bool(kwargs.get("complete", True)),
        match_on=match_on,
        before_record=before,
        drop_channels=_names(kwargs.get("drop_channels", ()), "drop_channels"),
        redact=kwargs.get("redact", ()),
        recorder_options=rec_opts,
    )


def safe_file_name(name: str) -> str:
    """A test name (parametrised ids included) usable as one file name component."""
    safe = _UNSAFE.sub("_", name)
    if safe.startswith("."):
        safe = "_" + safe[1:]
    if len(safe) > MAX_NAME:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        safe = f"{safe[: MAX_NAME - 17]}-{digest}"
    return safe


def default_path(test_file: Path, test_name: str, root: Path | None) -> Path:
    """``<root>/<module>/<test name>.jsonl``; ``root`` defaults to ``<test dir>/transcripts``."""
    base = root if root is not None else test_file.parent / DEFAULT_DIR
    return base / safe_file_name(test_file.stem) / f"{safe_file_name(test_name)}.jsonl"


def write_recording(path: Path, transcript: Transcript) -> None:
    """Write ``transcript`` to ``path`` atomically (gzip when it ends in ``.gz``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as out:
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=out, mode="wb") as gz:
                write_transcript(gz, transcript)  # type: ignore[arg-type]
        else:
            write_transcript(out, transcript)
