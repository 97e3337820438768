"""Reading and writing transcript files (format: ``ktstr_proto.transcript``).

Files ending in ``.gz`` (or starting with the gzip magic, when reading) are gzip
compressed. :class:`TranscriptReader` streams: it holds one line at a time and refuses
lines longer than ``max_line`` bytes, so a huge or hostile file never loads whole.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import (
    Chunk,
    Direction,
    Event,
    Header,
    LineDecoder,
    Mark,
    Transcript,
    TranscriptError,
    check_chunk,
    decode_header,
    encode_event,
    encode_header,
)

from ..output_files import PathLike, atomic_output, output_stream

T = TypeVar("T")

__all__ = [
    "MAX_LINE",
    "PathLike",
    "Transcript",
    "TranscriptReader",
    "TranscriptWriter",
    "read_transcript",
    "save_transcript",
    "truncation_note",
    "write_transcript",
]

MAX_LINE = 64 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


def _open_read(source: PathLike | IO[bytes]) -> tuple[IO[bytes], bool]:
    """A binary stream for ``source`` (transparently gunzipped) and whether we own it."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            raise UsageError(f"{path}: is a directory")
        try:
            raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by the reader
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file") from None
        owned = True
    else:
        raw, owned = source, False
    head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb"), owned  # type: ignore[return-value]
    return raw, owned


CUT_GZIP = "the gzip stream ends before its end marker"


class TranscriptReader:
    """Streams the events of one transcript, validating every line.

    ``header`` is parsed on construction; iterate for events. Malformed input raises
    :class:`TranscriptError` naming the file and line. A final line without its newline
    that does not decode is what a recorder killed mid-write leaves: it ends the events
    and is described in :attr:`truncated`, unless ``strict``, where it raises too. A gzip
    stream that ends before its end marker (a ``.gz`` recording killed mid-write) is
    the same: every line before the cut is read, and the cut is :attr:`truncated`.
    """

    def __init__(
        self, source: PathLike | IO[bytes], *, max_line: int = MAX_LINE, strict: bool = False
    ) -> None:
        self.name = _source_name(source)
        self._stream, self._owned = _open_read(source)
        self._max_line = max_line
        self._strict = strict
        self._lineno = 0
        self.truncated: TranscriptError | None = None
        try:
            first = self._next_line()
            if first is None:
                raise self._named(TranscriptError("empty file: no header line", 1))
            self.header = self._decode(lambda: decode_header(_utf8(first, 1), 1))
        except BaseException:
            self.close()
            raise
        self._decoder = LineDecoder(self.header)

    def _named(self, exc: TranscriptError) -> TranscriptError:
        if exc.source is not None or self.name is None:
            return exc
        return TranscriptError(exc.reason, exc.line, source=self.name)

    def _decode(self, decode: Callable[[], T]) -> T:
        try:
            return decode()
        except TranscriptError as exc:
            raise self._named(exc) from None

    def _next_line(self) -> bytes | None:
        try:
            raw = self._stream.readline(self._max_line + 1)
        except EOFError:
            # gzip's "ended before the end-of-stream marker": a compressed recording cut
            # off (the writer sync-flushes every line, so every whole line before it read).
            cut = TranscriptError(CUT_GZIP, self._lineno + 1)
            if self._strict:
                raise self._named(cut) from None
            self.truncated = cut
            return None
        except (OSError, zlib.error) as exc:
            raise self._named(
                TranscriptError(
                    f"compressed stream is corrupt or truncated ({exc})", self._lineno + 1
                )
            ) from None
        if not raw:
            return None
        self._lineno += 1
        if len(raw) > self._max_line:
            raise self._named(
                TranscriptError(f"line longer than {self._max_line} bytes", self._lineno)
            )
        return raw

    def __iter__(self) -> Iterator[Event]:
        while True:
            raw = self._next_line()
            if raw is None:
                return
            lineno = self._lineno
            try:
                line = _utf8(raw, lineno)
                if not line.strip():
                    raise TranscriptError("empty line", lineno)
                event = self._decoder.decode(line, lineno)
            except TranscriptError as exc:
                if raw.endswith(b"\n") or self._strict:
                    raise self._named(exc) from None
                self.truncated = exc  # torn final line: everything before it stands
                return
            yield event

    def close(self) -> None:
        if self._owned or isinstance(self._stream, gzip.GzipFile):
            self._stream.close()

    def __enter__(self) -> TranscriptReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _utf8(raw: bytes, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"not UTF-8 (byte {exc.start})", lineno) from None


def _source_name(source: PathLike | IO[bytes]) -> str | None:
    if isinstance(source, str | os.PathLike):
        return str(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else None


def truncation_note(exc: TranscriptError) -> str:
    """How a torn final line is described to users (report anomaly, validate warning)."""
    return f"the final line {exc.line} is incomplete ({exc.reason}); the recording was cut off"


def read_transcript(source: PathLike | IO[bytes]) -> Transcript:
    """Read a whole transcript (use :class:`TranscriptReader` for large files)."""
    with TranscriptReader(source) as reader:
        events = list(reader)
        cut = None if reader.truncated is None else truncation_note(reader.truncated)
        return Transcript(reader.header, events, truncated=cut)


class TranscriptWriter:
    """Writes a transcript line by line; flushes after every event by default."""

    def __init__(
        self, target: PathLike | IO[bytes], header: Header, *, flush_every: bool = True
    ) -> None:
        if isinstance(target, str | os.PathLike):
            path = Path(target)
            self._owned = True
            self._file: IO[bytes] = (
                gzip.GzipFile(path, "wb")  # type: ignore[assignment]
                if path.suffix == ".gz"
                else open(path, "wb")  # noqa: SIM115
            )
        else:
            self._owned = False
            self._file = target
        self.header = header
        self._flush_every = flush_every
        self._last_t = 0.0
        self._closed = False
        self._put(encode_header(header))

    def _put(self, line: str) -> None:
        """One whole line per write (a raw file may take it in several parts)."""
        data = memoryview(line.encode("utf-8") + b"\n")
        while data:
            n = self._file.write(data)
            data = data[len(data) if n is None else n :]
        if self._flush_every:
            self._file.flush()

    def _check_time(self, t: float) -> None:
        if self._closed:
            raise UsageError("write after close()")
        if t < self._last_t:
            raise UsageError(f"time goes backwards ({t} after {self._last_t})")
        self._last_t = t

    def write(self, event: Event) -> None:
        """Append one chunk or mark."""
        self._check_time(event.t)
        if isinstance(event, Chunk):
            check_chunk(self.header, event)
            if not event.data:
                return
            self._put(encode_event(event, self.header.channels[event.channel].kind))
        else:
            self._put(encode_event(event))

    def chunk(self, t: float, channel: str, direction: Direction, data: bytes) -> None:
        self.write(Chunk(t, channel, direction, bytes(data)))

    def mark(self, t: float, name: str, **data: Any) -> None:
        self.write(Mark(t, name, data))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._file.flush()
        if self._owned:
            self._file.close()

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_transcript(target: PathLike | IO[bytes], transcript: Transcript) -> None:
    """Write a whole transcript; a path is replaced atomically (gzip when it ends in .gz)."""
    if not isinstance(target, str | os.PathLike):
        with TranscriptWriter(target, transcript.header, flush_every=False) as w:
            for event in transcript.events:
                w.write(event)
        return
    with atomic_output(target) as out:
        _write_maybe_gz(out, str(target), transcript)


def save_transcript(target: str, transcript: Transcript, *, force: bool) -> None:
    """The CLI's ``--out``: ``-`` is standard output; an existing path or a symlink is
    refused unless ``force``; the file appears whole or not at all."""
    with output_stream(target, force, binary=False) as out:
        _write_maybe_gz(out, target, transcript)


def _write_maybe_gz(out: IO[bytes], name: str, transcript: Transcript) -> None:
    if name.endswith(".gz"):
        with gzip.GzipFile(fileobj=out, mode="wb") as gz:
            write_transcript(gz, transcript)  # type: ignore[arg-type]
    else:
        write_transcript(out, transcript)
