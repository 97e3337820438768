"""Output files of the CLI and the exporters: refuse to clobber, never follow a symlink.

Every command that writes a file goes through here. An existing path (or any symlink,
even a dangling one) is refused unless the caller forces it; whole files are written to
a temporary file in the same directory and renamed over the target only on success, so a
failure never touches the target, and a forced write replaces a symlink itself rather
than the file it points to. :func:`create_streaming` is the variant for recordings that
must be readable while (and after a crash during) they are written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ktstr_proto.errors import UsageError

__all__ = [
    "STDOUT",
    "OutputExistsError",
    "PathLike",
    "atomic_output",
    "check_absent",
    "check_output",
    "create_streaming",
    "output_stream",
]

STDOUT = "-"

PathLike = str | os.PathLike[str]
"""A file system path as the library's functions take it."""


class OutputExistsError(UsageError):
    """An output path exists (or is a symlink) and the caller did not force it."""


def check_output(path: str | os.PathLike[str], force: bool) -> None:
    """Refuse a directory and, unless ``force``, an existing file or any symlink
    (:class:`OutputExistsError`)."""
    p = Path(path)
    if p.is_symlink():
        if not force:
            raise OutputExistsError(f"{p}: is a symbolic link, refusing to write through it")
        return
    if p.is_dir():
        raise UsageError(f"{p}: is a directory")
    if p.exists() and not force:
        raise OutputExistsError(f"{p}: already exists, refusing to overwrite it")


def _check_parent(path: Path) -> None:
    if not path.parent.is_dir():
        raise UsageError(f"{path}: directory {path.parent} does not exist")


def check_absent(paths: list[Path], overwrite: bool) -> None:
    """:func:`check_output` for each of ``paths``."""
    for path in paths:
        check_output(path, overwrite)


def _temp_beside(path: Path) -> tuple[Path, int]:
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    return tmp, fd  # the mode is filtered by the umask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A file that appears at ``path`` only when the block succeeds (temp file + rename)."""
    target = Path(path)
    tmp, fd = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def output_stream(target: str, force: bool, *, binary: bool = True) -> Iterator[IO[bytes]]:
    """``-``: standard output (refused on a terminal when ``binary``); otherwise a checked
    :func:`atomic_output`."""
    if target == STDOUT:
        if binary and sys.stdout.isatty():
            raise UsageError("refusing to write binary output to a terminal; redirect it")
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    check_output(target, force)
    _check_parent(Path(target))
    with atomic_output(target) as out:
        yield out


def create_streaming(path: str | os.PathLike[str], force: bool) -> IO[bytes]:
    """Create ``path`` for a recording written in place, unbuffered, as it arrives.

    A new file is created exclusively (a symlink that appeared meanwhile is refused by
    the kernel). With ``force`` an existing path is replaced at once by an empty file
    (rename over it, never writing through a symlink).
    """
    target = Path(path)
    check_output(target, force)
    _check_parent(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        fd = os.open(target, flags, 0o666)
    except FileExistsError:
        if not force:
            raise OutputExistsError(f"{target}: already exists, refusing to overwrite it") from None
        tmp, fd = _temp_beside(target)
        os.replace(tmp, target)
    return os.fdopen(fd, "wb", buffering=0)
