"""Export a transcript as raw byte streams: one file per channel and direction.

``bulk.g2h.bin`` holds exactly ``Transcript.channel_bytes("bulk", "g2h")``. Every lane the
channel table allows gets a file (empty when it carried nothing). Files are written into
a temporary directory inside the output directory and moved into place only when the
whole transcript was read without error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Header

from ..transcripts.io import PathLike, TranscriptReader
from .common import Lane, check_absent, lanes, safe_name

__all__ = ["export_raw", "raw_paths"]

MAX_OPEN = 64  # lanes written at once; more are closed and reopened for appending


def raw_paths(header: Header, out_dir: PathLike) -> dict[Lane, Path]:
    """The output file of every lane: ``out_dir/<channel>.<direction>.bin``."""
    return {(ch, d): Path(out_dir) / f"{safe_name(ch)}.{d}.bin" for ch, d in lanes(header)}


def export_raw(
    transcript_path: PathLike | IO[bytes], out_dir: PathLike, *, overwrite: bool = False
) -> list[Path]:
    """Write every lane's concatenated bytes under ``out_dir`` (created if missing).

    Returns the paths in channel-table order. Existing files are refused
    (:class:`~ktstr_host.export.common.OutputExistsError`) unless ``overwrite``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: is not a directory")
    with TranscriptReader(transcript_path) as reader:
        targets = raw_paths(reader.header, out)
        check_absent(list(targets.values()), overwrite)
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=".ktstr-export-"))
        try:
            _write_lanes(reader, {lane: tmp / p.name for lane, p in targets.items()})
            for path in targets.values():
                os.replace(tmp / path.name, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return list(targets.values())


def _write_lanes(reader: TranscriptReader, parts: dict[Lane, Path]) -> None:
    for part in parts.values():
        part.touch()
    files: dict[Lane, IO[bytes]] = {}
    try:
        for event in reader:
            if not isinstance(event, Chunk) or not event.data:
                continue
            lane = (event.channel, event.direction)
            f = files.pop(lane, None)  # re-insert: dict order is least recently used first
            if f is None:
                if len(files) >= MAX_OPEN:
                    files.pop(next(iter(files))).close()
                f = open(parts[lane], "ab")  # noqa: SIM115 - closed below
            files[lane] = f
            f.write(event.data)
    finally:
        for f in files.values():
            f.close()
