"""``report --full DIR``: each large field of a result, whole, in a file of its own.

The result keeps a bounded head and tail of its large texts; with a :class:`FullOutput`
the builder also streams each of them here as it arrives: ``stdout.txt``,
``stderr.txt``, ``dmesg.txt``, ``probe_output.txt``, ``sched_log.txt`` (the bytes between
the first start marker and the last end marker, untrimmed), ``wprof.bin``,
``profraw-OFFSET.bin``, and at the end ``sched_ext_dump.txt``. Files are written as
``NAME.part`` and renamed when the run is closed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from ..output_files import OutputExistsError, check_output

SCHED_LOG_FILE = "sched_log.txt"


class FullOutput:
    """A directory receiving whole fields; refuses a non-empty one unless ``force``."""

    def __init__(self, directory: str | os.PathLike[str], *, force: bool = False) -> None:
        self.dir = Path(directory)
        if self.dir.is_symlink() or (self.dir.exists() and not self.dir.is_dir()):
            check_output(self.dir, force)  # a file or a link: the usual refusal
        if self.dir.is_dir() and any(self.dir.iterdir()) and not force:
            raise OutputExistsError(f"{self.dir}: is not empty, refusing to write into it")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, BinaryIO] = {}

    def open(self, name: str) -> BinaryIO:
        """A new file for field ``name`` (written as ``name.part`` until closed)."""
        stream = (self.dir / f"{name}.part").open("wb")
        self._files[name] = stream
        return stream

    def write_text(self, name: str, text: str) -> None:
        with self.open(name) as out:
            out.write(text.encode())

    def close(self, sched_log_bytes: int | None = None) -> None:
        """Finish every file: the scheduler log is cut to its last end marker (gone when
        the run has none), then each ``.part`` takes its name."""
        for name, stream in self._files.items():
            stream.close()
            part = self.dir / f"{name}.part"
            if name == SCHED_LOG_FILE:
                if sched_log_bytes is None:
                    part.unlink()
                    continue
                os.truncate(part, sched_log_bytes)
            os.replace(part, self.dir / name)
        self._files.clear()
