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
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

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

__all__ = [
    "MAX_LINE",
    "PathLike",
    "Transcript",
    "TranscriptReader",
    "TranscriptWriter",
    "read_transcript",
    "write_transcript",
]

MAX_LINE = 64 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"

PathLike = str | os.PathLike[str]


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


class TranscriptReader:
    """Streams the events of one transcript, validating every line.

    ``header`` is parsed on construction; iterate for events. Malformed input raises
    :class:`TranscriptError` naming the line.
    """

    def __init__(self, source: PathLike | IO[bytes], *, max_line: int = MAX_LINE) -> None:
        self._stream, self._owned = _open_read(source)
        self._max_line = max_line
        self._lineno = 0
        try:
            first = self._next_line()
            if first is None:
                raise TranscriptError("empty file: no header line", 1)
            self.header = decode_header(first, 1)
        except BaseException:
            self.close()
            raise
        self._decoder = LineDecoder(self.header)

    def _next_line(self) -> str | None:
        try:
            raw = self._stream.readline(self._max_line + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise TranscriptError(
                f"compressed stream is corrupt or truncated ({exc})", self._lineno + 1
            ) from None
        if not raw:
            return None
        self._lineno += 1
        if len(raw) > self._max_line:
            raise TranscriptError(f"line longer than {self._max_line} bytes", self._lineno)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TranscriptError(f"not UTF-8 (byte {exc.start})", self._lineno) from None

    def __iter__(self) -> Iterator[Event]:
        while True:
            line = self._next_line()
            if line is None:
                return
            if not line.strip():
                raise TranscriptError("empty line", self._lineno)
            yield self._decoder.decode(line, self._lineno)

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


def read_transcript(source: PathLike | IO[bytes]) -> Transcript:
    """Read a whole transcript (use :class:`TranscriptReader` for large files)."""
    with TranscriptReader(source) as reader:
        return Transcript(reader.header, list(reader))


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
        self._file.write(line.encode("utf-8") + b"\n")
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
    with TranscriptWriter(target, transcript.header, flush_every=False) as w:
        for event in transcript.events:
            w.write(event)
