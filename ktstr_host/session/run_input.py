"""Runs that are not transcripts: raw per-channel capture files, read in blocks.

:func:`ktstr_host.session.result_builder.build_run_result` takes a
:class:`~ktstr_proto.transcript.Transcript` or any :class:`RunInput` (a header, marks and
each channel's chunks); :class:`CaptureFiles` reads raw captures 64 KiB at a time, so a
huge or hostile capture (say 1 GiB of zeros) costs memory for one block at a time.
Transcript files are streamed line by line into a :class:`~ktstr_host.session.RunSession`
by ``ktstr-host report``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Direction, Header, Mark

from ..output_files import PathLike

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
