"""Forward scan for the ``ktstr-0.44`` resync rule (bulk.md section 6.3).

``find(...)`` returns the first stream offset ``s >= start`` where a valid frame starts:
a whole header with pad 0, length <= cap and a known tag, its whole payload buffered,
and a matching CRC. Upstream rescans its buffer on every feed; this memo remembers what
it already classified, so any input costs linear time in the bytes fed:

* positions below ``scan_pos`` are classified for good (their bytes never change);
* a plausible header whose payload is still missing waits in a heap keyed by the end
  of its frame, packed into one int (``end << 48 | start``) to keep the index small;
* a complete candidate is CRC-checked only when it is the smallest one left, and at
  most once.

Plausible waiting headers are at least 16 bytes apart (a header 8 bytes after another
has length 0 and is complete at once), so the index holds at most one entry per 16
buffered bytes.
"""

from __future__ import annotations

import heapq
import re
import struct
from collections.abc import Iterable

from ktstr_proto.crc import Crc32
from ktstr_proto.frame import HEADER_SIZE

_unpack = struct.Struct("<IIII").unpack_from
_SHIFT = 48
_LOW = (1 << _SHIFT) - 1


class ForwardScanner:
    """Memoised ``find_next_valid_frame`` over an append-only stream."""

    def __init__(self, known_tags: Iterable[int], cap: int, crc: Crc32) -> None:
        tags = sorted(set(known_tags))
        alternatives = b"|".join(re.escape(t.to_bytes(4, "little")) for t in tags)
        self._tag_re = re.compile(b"(?=(?:" + alternatives + b"))") if tags else None
        self._cap = cap
        self._crc = crc
        self.reset()

    def reset(self) -> None:
        """Forget everything (the buffer was cleared or handed back)."""
        self._scan_pos = 0
        self._ready: list[int] = []  # complete candidates (starts), CRC not checked yet
        self._valid: set[int] = set()  # candidates whose CRC matched
        self._waiting: list[int] = []  # end << 48 | start, payload still missing

    def find(self, mv: memoryview, base: int, start: int, end: int) -> int | None:
        """First valid frame start at or after stream offset ``start``, or ``None``.

        ``mv[i]`` holds the stream byte at offset ``base + i``; ``end`` is the stream
        offset one past the last buffered byte.
        """
        self._scan_pos = max(self._scan_pos, start)
        waiting, ready = self._waiting, self._ready
        limit = (end + 1) << _SHIFT
        while waiting and waiting[0] < limit:
            heapq.heappush(ready, heapq.heappop(waiting) & _LOW)
        while ready:
            s = ready[0]
            if s >= start and (s in self._valid or self._crc_ok(mv, base, s)):
                self._valid.add(s)
                return s
            heapq.heappop(ready)
            self._valid.discard(s)
        return self._scan_fresh(mv, base, end)

    def _crc_ok(self, mv: memoryview, base: int, s: int) -> bool:
        i = s - base
        _, length, crc, _ = _unpack(mv, i)
        return bool(self._crc(mv[i + HEADER_SIZE : i + HEADER_SIZE + length]) == crc)

    def _scan_fresh(self, mv: memoryview, base: int, end: int) -> int | None:
        last = end - HEADER_SIZE  # last stream offset where a whole header fits
        pos = self._scan_pos
        if pos > last:
            return None
        if self._tag_re is None:
            self._scan_pos = last + 1
            return None
        cap, crc, waiting = self._cap, self._crc, self._waiting
        for m in self._tag_re.finditer(mv, pos - base, last - base + 4):
            i = m.start()
            _, length, want, pad = _unpack(mv, i)
            if pad != 0 or length > cap:
                continue
            s = base + i
            frame_end = s + HEADER_SIZE + length
            if frame_end > end:
                heapq.heappush(waiting, (frame_end << _SHIFT) | s)
                continue
            if crc(mv[i + HEADER_SIZE : i + HEADER_SIZE + length]) == want:
                self._scan_pos = s + 1
                heapq.heappush(self._ready, s)
                self._valid.add(s)
                return s
        self._scan_pos = last + 1
        return None
