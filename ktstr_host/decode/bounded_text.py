"""Bounded text for the large fields of a run result, and upstream's capture window.

:class:`BoundedText` keeps the first and the last bytes of a stream and counts what it
left out between them, so a result holds a fixed amount of a 10 GB stdout; with a spill
file it also writes every byte there (``report --full DIR``). :class:`CaptureWindow` is
the host's serial capture buffer (serial.md 9.1): past 4 MiB it drops its oldest bytes
down to 3 MiB, checked after every byte.
"""

from __future__ import annotations

from typing import BinaryIO

from ktstr_proto.errors import UsageError
from ktstr_proto.serial import CAPTURE_CAP, CAPTURE_TRIM, decode_lossy

TEXT_HEAD = 1 << 20
"""Bytes a large text field keeps from its start."""
TEXT_TAIL = 1 << 20
"""Bytes a large text field keeps from its end."""


def omission_note(omitted: int) -> str:
    """The line standing where a bounded field left bytes out."""
    return f"\n[... {omitted} bytes left out here; `ktstr-host report --full DIR` keeps them ...]\n"


class BoundedText:
    """The first ``head`` and last ``tail`` bytes of a stream, and how many between."""

    __slots__ = ("_head", "_head_limit", "_spill", "_tail", "_tail_limit", "omitted", "total")

    def __init__(
        self, head: int = TEXT_HEAD, tail: int = TEXT_TAIL, *, spill: BinaryIO | None = None
    ) -> None:
        if head < 0 or tail < 0:
            raise UsageError("head and tail must be >= 0")
        self._head = bytearray()
        self._tail = bytearray()
        self._head_limit, self._tail_limit = head, tail
        self._spill = spill
        self.omitted = 0
        self.total = 0

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes at the end."""
        n = len(data)
        if not n:
            return
        self.total += n
        if self._spill is not None:
            self._spill.write(data)
        room = self._head_limit - len(self._head)
        if room > 0 and not self._tail and not self.omitted:
            self._head += data[:room]
            data = data[room:]
            if not len(data):
                return
        self._tail += data
        excess = len(self._tail) - self._tail_limit
        if excess > self._tail_limit:  # trim in large steps: amortised O(1) per byte
            del self._tail[:excess]
            self.omitted += excess

    def extend(self, other: BoundedText) -> None:
        """Add ``other``'s content (its left-out bytes are counted, not kept; a spill
        file gets only the kept bytes)."""
        head, left_out, tail = other.parts()
        self.append(head)
        if left_out:
            self.omitted += len(self._tail) + left_out
            self.total += left_out
            self._tail.clear()
        self.append(tail)

    def drop_last(self, n: int) -> None:
        """Remove the last ``n`` bytes (they must still be kept, not left out)."""
        if self._spill is not None:
            raise UsageError("drop_last on a spilled text")
        if n > len(self._tail) + (0 if self.omitted else len(self._head)):
            raise UsageError("cannot drop bytes that were left out")
        self.total -= n
        from_tail = min(n, len(self._tail))
        if from_tail:
            del self._tail[len(self._tail) - from_tail :]
        if n > from_tail:
            del self._head[len(self._head) - (n - from_tail) :]

    def _trimmed_tail(self) -> bytes:
        excess = max(0, len(self._tail) - self._tail_limit)
        return bytes(self._tail[excess:])

    @property
    def left_out(self) -> int:
        """Bytes not kept (between the head and the tail)."""
        return self.omitted + max(0, len(self._tail) - self._tail_limit)

    def parts(self) -> tuple[bytes, int, bytes]:
        """``(head, bytes left out, tail)``."""
        return bytes(self._head), self.left_out, self._trimmed_tail()

    def __bool__(self) -> bool:
        return self.total > 0

    def text(self) -> str:
        """The kept text (lossy UTF-8), with a note where bytes were left out."""
        head, left_out, tail = self.parts()
        if not left_out:
            return decode_lossy(head + tail)
        return decode_lossy(head) + omission_note(left_out) + decode_lossy(tail)

    def copy(self) -> BoundedText:
        twin = BoundedText(self._head_limit, self._tail_limit)
        twin._head, twin._tail = bytearray(self._head), bytearray(self._tail)
        twin.omitted, twin.total = self.omitted, self.total
        return twin


class CaptureWindow:
    """Upstream's serial capture buffer: once it holds more than ``cap`` bytes, the
    oldest go so that ``trim`` remain (checked after every byte).

    The window's length depends only on how many bytes arrived, so the buffer keeps up
    to ``2 x cap`` bytes and drops the old ones in large steps (no copy per append)."""

    __slots__ = ("_buf", "_cap", "_total", "_trim")

    def __init__(self, cap: int = CAPTURE_CAP, trim: int = CAPTURE_TRIM) -> None:
        if not 0 < trim < cap:
            raise UsageError("need 0 < capture_trim < capture_limit")
        self._buf = bytearray()
        self._cap, self._trim = cap, trim
        self._total = 0

    def append(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data
        self._total += len(data)
        if len(self._buf) > 2 * self._cap:
            del self._buf[: len(self._buf) - self._length()]

    def _length(self) -> int:
        """Bytes in the window after ``_total`` bytes arrived."""
        if self._total <= self._cap:
            return self._total
        period = self._cap + 1 - self._trim
        return self._trim + (self._total - self._cap - 1) % period

    @property
    def start(self) -> int:
        """Stream offset of the window's first byte."""
        return self._total - self._length()

    @property
    def data(self) -> bytes:
        return bytes(self._buf[len(self._buf) - self._length() :])

    def text(self) -> str:
        return decode_lossy(self.data)
