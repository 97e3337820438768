"""A deterministic writer for "newc" cpio archives, the format the kernel unpacks as initramfs.

Every entry gets a fixed mtime (default 0), uid/gid 0 and an inode number taken from a counter,
so the same calls always produce the same bytes. Layout per entry: a 110-byte ASCII header
(``070701`` + 13 eight-digit hex fields), the NUL-terminated name padded to a multiple of 4
(counting the header), then the data padded to a multiple of 4. The archive ends with the
``TRAILER!!!`` entry.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

from ktstr_proto.errors import UsageError

MAGIC = b"070701"
HEADER_SIZE = 110
TRAILER = "TRAILER!!!"
_FIRST_INODE = 300000
_MAX_FIELD = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class CpioEntry:
    """One archive member. ``mode`` holds the file type bits as well as the permissions."""

    name: str
    mode: int
    data: bytes = b""
    nlink: int = 1
    rdevmajor: int = 0
    rdevminor: int = 0


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def encode_entry(entry: CpioEntry, *, ino: int, mtime: int = 0) -> bytes:
    """The bytes of one entry: header, padded name, padded data."""
    name = entry.name.encode("utf-8") + b"\0"
    fields = (
        ino,
        entry.mode,
        0,  # uid
        0,  # gid
        entry.nlink,
        mtime,
        len(entry.data),
        0,  # devmajor
        0,  # devminor
        entry.rdevmajor,
        entry.rdevminor,
        len(name),
        0,  # check (only used by the "crc" format 070702)
    )
    for value in fields:
        if not 0 <= value <= _MAX_FIELD:
            raise UsageError(f"cpio field out of range for {entry.name!r}: {value}")
    header = MAGIC + b"".join(b"%08X" % v for v in fields)
    return header + name + _pad4(HEADER_SIZE + len(name)) + entry.data + _pad4(len(entry.data))


def _normalize(path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UsageError(f"bad archive path {path!r}")
    return "/".join(parts)


class CpioWriter:
    """Collects entries and renders them as one newc archive.

    Paths are stored relative (``bin/sh``, not ``/bin/sh``). Missing parent directories are
    added automatically (mode 0755) unless ``parents=False``. Adding the same path twice is an
    error. ``mtime`` is written into every header.
    """

    def __init__(self, *, mtime: int = 0) -> None:
        self._entries: dict[str, CpioEntry] = {}
        self._mtime = mtime

    @property
    def names(self) -> list[str]:
        """The member names in archive order."""
        return list(self._entries)

    def _add(self, entry: CpioEntry, parents: bool) -> None:
        if entry.name in self._entries:
            raise UsageError(f"duplicate archive path {entry.name!r}")
        if parents:
            head, _, _ = entry.name.rpartition("/")
            if head and head not in self._entries:
                self.add_dir(head)
        self._entries[entry.name] = entry

    def add_dir(self, path: str, mode: int = 0o755, *, parents: bool = True) -> None:
        """Add a directory."""
        self._add(CpioEntry(_normalize(path), stat.S_IFDIR | (mode & 0o7777), nlink=2), parents)

    def add_file(self, path: str, data: bytes, mode: int = 0o644, *, parents: bool = True) -> None:
        """Add a regular file with the given contents and permission bits."""
        entry = CpioEntry(_normalize(path), stat.S_IFREG | (mode & 0o7777), bytes(data))
        self._add(entry, parents)

    def add_symlink(self, path: str, target: str, *, parents: bool = True) -> None:
        """Add a symbolic link; the target is stored as the entry's data."""
        if not target:
            raise UsageError("a symlink needs a non-empty target")
        entry = CpioEntry(_normalize(path), stat.S_IFLNK | 0o777, target.encode("utf-8"))
        self._add(entry, parents)

    def add_device(
        self,
        path: str,
        kind: str,
        major: int,
        minor: int,
        mode: int = 0o600,
        *,
        parents: bool = True,
    ) -> None:
        """Add a character (``kind="c"``) or block (``kind="b"``) device node."""
        type_bits = {"c": stat.S_IFCHR, "b": stat.S_IFBLK}.get(kind)
        if type_bits is None:
            raise UsageError(f"device kind must be 'c' or 'b', got {kind!r}")
        entry = CpioEntry(
            _normalize(path), type_bits | (mode & 0o7777), rdevmajor=major, rdevminor=minor
        )
        self._add(entry, parents)

    def to_bytes(self) -> bytes:
        """Render the archive, trailer included. Inode numbers follow insertion order."""
        chunks = [
            encode_entry(entry, ino=_FIRST_INODE + i, mtime=self._mtime)
            for i, entry in enumerate(self._entries.values())
        ]
        chunks.append(encode_entry(CpioEntry(TRAILER, 0), ino=0, mtime=0))
        return b"".join(chunks)
