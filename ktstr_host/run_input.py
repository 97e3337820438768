"""What ``report`` reads a run from without loading its bulk stream whole.

:func:`ktstr_host.result_builder.build_run_result` needs a run's header, marks, serial
channels and its bulk chunks. A :class:`~ktstr_proto.transcript.Transcript` in memory
provides them; so do :class:`CaptureFiles` (raw capture files, bulk read in blocks) and
:class:`TranscriptFile` (a transcript file read twice: once for everything but the bulk
data, then again streaming the bulk chunks), so that a huge or hostile bulk stream (say
1 GiB of zeros in a 1 MB ``.gz``) costs memory for one chunk at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Direction, Header, Mark, TranscriptError

from .transcript_io import PathLike, TranscriptReader, truncation_note

BLOCK = 64 * 1024
STREAMED = ("bulk", "g2h")
"""The channel and direction streamed rather than held (the only one that can be huge
and still matter in full)."""


class RunInput(Protocol):
    """A run as the result builder reads it (a ``Transcript`` is one)."""

    @property
    def header(self) -> Header: ...

    @property
    def marks(self) -> list[Mark]: ...

    @property
    def truncated(self) -> str | None:
        """Why the input ends early (a torn final transcript line), if it does."""
        ...

    def channel_bytes(self, channel: str, direction: Direction = "g2h") -> bytes: ...

    def iter_chunks(self, channel: str, direction: Direction = "g2h") -> Iterator[bytes]: ...


class CaptureFiles:
    """Raw per-channel capture files (no timing), read on demand."""

    def __init__(
        self,
        profile: str,
        captures: Mapping[str, PathLike],
        *,
        host_to_guest: tuple[str, ...] = (),
    ) -> None:
        self.header = Header(
            profile,
            recorder={"name": "ktstr-py", "source": "import"},
            meta={"imported_from": {ch: str(p) for ch, p in captures.items()}},
        )
        self.marks: list[Mark] = []
        self.truncated: str | None = None
        self._files: dict[tuple[str, str], Path] = {}
        for channel, path in captures.items():
            if channel not in self.header.channels:
                known = ", ".join(self.header.channels)
                raise UsageError(f"unknown channel {channel!r} (known: {known})")
            p = Path(path)
            if not p.is_file():
                raise UsageError(f"{p}: no such file")
            direction = "h2g" if channel in host_to_guest else "g2h"
            self._files[channel, direction] = p

    def has_data(self) -> bool:
        return any(os.path.getsize(p) for p in self._files.values())

    def iter_chunks(self, channel: str, direction: Direction = "g2h") -> Iterator[bytes]:
        path = self._files.get((channel, direction))
        if path is None:
            return
        with open(path, "rb") as f:
            while block := f.read(BLOCK):
                yield block

    def channel_bytes(self, channel: str, direction: Direction = "g2h") -> bytes:
        path = self._files.get((channel, direction))
        return path.read_bytes() if path is not None else b""


class TranscriptFile:
    """A transcript file: everything but the bulk data held, the bulk data streamed."""

    def __init__(self, path: PathLike) -> None:
        self._path = path
        self.marks: list[Mark] = []
        self._held: dict[tuple[str, str], list[bytes]] = {}
        self._streamed = 0
        with TranscriptReader(path) as reader:
            self.header = reader.header
            for event in reader:
                if isinstance(event, Mark):
                    self.marks.append(event)
                elif (event.channel, event.direction) == STREAMED:
                    self._streamed += len(event.data)
                else:
                    self._held.setdefault((event.channel, event.direction), []).append(event.data)
            cut = reader.truncated
        self.truncated = None if cut is None else truncation_note(cut)

    def has_data(self) -> bool:
        return bool(self._streamed) or any(any(v) for v in self._held.values())

    def iter_chunks(self, channel: str, direction: Direction = "g2h") -> Iterator[bytes]:
        if (channel, direction) != STREAMED:
            yield from self._held.get((channel, direction), [])
            return
        seen = 0
        with TranscriptReader(self._path) as reader:
            for event in reader:
                if isinstance(event, Chunk) and (event.channel, event.direction) == STREAMED:
                    seen += len(event.data)
                    yield event.data
        if seen != self._streamed:
            raise TranscriptError(f"{self._path}: the file changed while it was read")

    def channel_bytes(self, channel: str, direction: Direction = "g2h") -> bytes:
        return b"".join(self.iter_chunks(channel, direction))
