"""Shared pieces of the transcript exporters: lanes, safe names, atomic output files."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import DIRECTIONS, Direction, Header

__all__ = ["Lane", "OutputExistsError", "atomic_output", "check_absent", "lanes"]

Lane = tuple[str, Direction]
"""One channel in one direction: ``("bulk", "g2h")``."""

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class OutputExistsError(UsageError):
    """An output file exists and the caller did not ask to overwrite it."""


def lanes(header: Header) -> list[Lane]:
    """Every (channel, direction) the channel table allows, in table order."""
    return [(ch, d) for ch, spec in header.channels.items() for d in DIRECTIONS if spec.allows(d)]


def safe_name(channel: str) -> str:
    """``channel`` when it is usable as a file name component; UsageError otherwise."""
    if not _SAFE_NAME.fullmatch(channel):
        raise UsageError(f"channel {channel!r} cannot be used in a file name")
    return channel


def check_absent(paths: list[Path], overwrite: bool) -> None:
    """Refuse (OutputExistsError) when one of ``paths`` exists and ``overwrite`` is false."""
    for path in paths:
        if path.is_dir():
            raise UsageError(f"{path}: is a directory")
        if not overwrite and path.exists():
            raise OutputExistsError(f"{path}: already exists, refusing to overwrite it")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A file that appears at ``path`` only when the block succeeds (temp file + rename)."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
