"""Opening input files for CLI commands, with one-line errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

from ktstr_proto.errors import UsageError


def open_input(path: str) -> BinaryIO:
    """Open ``path`` for binary reading; ``-`` is standard input."""
    if path == "-":
        return sys.stdin.buffer
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None


def read_chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """Read ``stream`` in chunks of at most ``size`` bytes."""
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk
