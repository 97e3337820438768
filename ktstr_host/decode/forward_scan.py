"""Forward scan for the ``ktstr-0.44`` resync rule (bulk.md section 6.3).

``find(...)`` returns the first stream offset ``s >= start`` where a valid frame starts:
a whole header with pad 0, length <= cap and a known tag, its whole payload buffered,
and a matching CRC. Upstream rescans its buffer on every feed; this memo remembers what
it already classified, so any input costs linear time in the bytes fed:

* positions below ``scan_pos`` are classified for good (their bytes never change);
* a plausible header whose payload is still missing waits in a heap keyed by the end
  of its frame, packed into one int (``end << 48 | start``) to keep the index small;
  one announcing the same length as the header before it joins that length's run (an
  array of starts, 8 bytes each: their frames complete in start order);
* a complete candidate is CRC-checked only when it is the smallest one left, and at
  most once;
* candidates that announce the same length are CRC-checked with a sliding window
  (:class:`WindowCrc`): hostile runs of plausible headers announcing the cap cost a few
  bytes of CRC each, not a whole payload each.

Plausible waiting headers are at least 16 bytes apart (a header 8 bytes after another
has length 0 and is complete at once), so the index holds at most one entry per 16
buffered bytes.
"""

from __future__ import annotations

import heapq
import re
import struct
from array import array
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from ktstr_proto.crc import BACKENDS, Crc32, crc32_shifter
from ktstr_proto.frame import HEADER_SIZE

_unpack = struct.Struct("<IIII").unpack_from
_SHIFT = 48
_LOW = (1 << _SHIFT) - 1

WINDOW_MIN = 4096
"""Shorter windows are CRC-checked directly (cheaper than moving two cursors)."""
WINDOW_GROUPS = 8
"""How many distinct window lengths keep a sliding cursor."""


class WindowCrc:
    """CRC-32 of stream windows ``[a, a + n)``, exact, sliding for equal lengths.

    For each recent length ``n`` it keeps the CRC of ``[anchor, lo)``; the CRC of
    ``[anchor, lo + n)`` follows, and the window's CRC is their combination (see
    ``ktstr_proto.crc``). Windows of one length asked for in ascending order cost the
    bytes the cursors move over, not ``n`` each. Any other CRC function than a known
    CRC-32 backend is called directly on each window.
    """

    def __init__(self, crc: Crc32) -> None:
        self._crc = crc
        self._sliding = any(crc is b for b in BACKENDS.values())
        # n -> [shift, lo, crc(anchor..lo), crc(anchor..lo+n)]
        self._groups: dict[int, list[object]] = {}

    def reset(self) -> None:
        self._groups.clear()

    def __call__(self, mv: memoryview, base: int, a: int, n: int) -> int:
        """CRC of the stream bytes ``[a, a + n)``; ``mv[i]`` is stream byte ``base + i``."""
        i = a - base
        if not self._sliding or n < WINDOW_MIN:
            return int(self._crc(mv[i : i + n]))
        crc: _Crc32Continue = self._crc  # type: ignore[assignment]
        g = self._groups.get(n)
        if g is None:
            if len(self._groups) >= WINDOW_GROUPS:
                del self._groups[next(iter(self._groups))]
            g = self._groups[n] = [crc32_shifter(n), a, 0, int(crc(mv[i : i + n]))]
        else:
            lo = g[1]
            assert isinstance(lo, int)
            if lo > a or lo < base or 2 * (a - lo) >= n:
                g[1:] = [a, 0, int(crc(mv[i : i + n]))]  # re-anchor at a: one window
            elif lo < a:
                j = lo - base
                g[1:] = [a, crc(mv[j:i], g[2]), crc(mv[j + n : i + n], g[3])]  # type: ignore[arg-type]
        shift, _, lo_crc, hi_crc = g
        return hi_crc ^ shift(lo_crc)  # type: ignore[operator, no-any-return]


class _Crc32Continue(Protocol):
    def __call__(self, data: memoryview, value: int = 0, /) -> int: ...


class ForwardScanner:
    """Memoised ``find_next_valid_frame`` over an append-only stream."""

    def __init__(self, known_tags: Iterable[int], cap: int, crc: Crc32) -> None:
        tags = sorted({t.to_bytes(4, "little") for t in known_tags})
        # A plain alternation (no lookahead) runs several times faster; the occurrences
        # it skips overlap a match, so they are checked after it (see _tag_positions).
        self._tag_re = re.compile(b"|".join(map(re.escape, tags))) if tags else None
        self._tags = frozenset(tags)
        self._overlaps = {
            t: tuple(d for d in (1, 2, 3) if any(u.startswith(t[d:]) for u in tags)) for t in tags
        }
        self._cap = cap
        self._crc = crc
        self._window = WindowCrc(crc)
        self.reset()

    def reset(self) -> None:
        """Forget everything (the buffer was cleared or handed back)."""
        self._scan_pos = 0
        self._ready: list[int] = []  # complete candidates (starts), CRC not checked yet
        self._valid: set[int] = set()  # candidates whose CRC matched
        self._waiting: list[int] = []  # end << 48 | start, payload still missing
        # Waiting candidates announcing the same length as the one before them: starts
        # (ascending, so their ends are too) per length, from index `head` on, and one
        # (end of head, length) heap entry per length: 8 bytes per candidate.
        self._runs: dict[int, list[Any]] = {}  # length -> [array of starts, head]
        self._run_heads: list[tuple[int, int]] = []
        self._last_len = -1
        self._window.reset()

    @property
    def waiting(self) -> int:
        """How many plausible headers wait for their payload."""
        return len(self._waiting) + sum(int(len(r[0]) - r[1]) for r in self._runs.values())

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
        heads = self._run_heads
        while heads and heads[0][0] <= end:
            _, length = heapq.heappop(heads)
            self._complete_run(length, end)
        while ready:
            s = ready[0]
            if s >= start and (s in self._valid or self._crc_ok(mv, base, s)):
                self._valid.add(s)
                return s
            heapq.heappop(ready)
            self._valid.discard(s)
        return self._scan_fresh(mv, base, end)

    def _complete_run(self, length: int, end: int) -> None:
        """Move the candidates of one run whose frames are now whole to ``ready``."""
        run = self._runs[length]
        starts, head = run
        last = end - HEADER_SIZE - length  # last start whose frame is whole
        ready = self._ready
        n = len(starts)
        while head < n and starts[head] <= last:
            heapq.heappush(ready, starts[head])
            head += 1
        if head == n:
            del self._runs[length]
            return
        if head > 4096 and 2 * head > n:
            del starts[:head]
            head = 0
        run[1] = head
        heapq.heappush(self._run_heads, (starts[head] + HEADER_SIZE + length, length))

    def _wait(self, s: int, length: int) -> None:
        """Index a plausible header at ``s`` whose payload is still missing."""
        if length != self._last_len:
            self._last_len = length
            heapq.heappush(self._waiting, ((s + HEADER_SIZE + length) << _SHIFT) | s)
            return
        run = self._runs.get(length)
        if run is None:
            run = self._runs[length] = [array("q"), 0]
            heapq.heappush(self._run_heads, (s + HEADER_SIZE + length, length))
        run[0].append(s)

    def _crc_ok(self, mv: memoryview, base: int, s: int) -> bool:
        i = s - base
        _, length, crc, _ = _unpack(mv, i)
        return bool(self._window(mv, base, s + HEADER_SIZE, length) == crc)

    def _scan_fresh(self, mv: memoryview, base: int, end: int) -> int | None:
        last = end - HEADER_SIZE  # last stream offset where a whole header fits
        pos = self._scan_pos
        if pos > last:
            return None
        if self._tag_re is None:
            self._scan_pos = last + 1
            return None
        cap, window, wait = self._cap, self._window, self._wait
        push, unpack = heapq.heappush, _unpack
        body = base + HEADER_SIZE  # stream offset of the payload of a header at mv[0]
        room = end - body  # a header at mv[i] is complete when i + length <= room
        run_len, run_add = -1, None  # the run the next same-length header joins
        for i in self._tag_positions(mv, pos - base, last - base + 4):
            _, length, want, pad = unpack(mv, i)
            if pad or length > cap:
                continue
            if i + length > room:
                if length == run_len and run_add is not None:
                    run_add(base + i)
                    continue
                wait(base + i, length)
                run_len = length
                run = self._runs.get(length)
                run_add = run[0].append if run is not None else None
                continue
            if window(mv, base, body + i, length) == want:
                s = base + i
                self._scan_pos = s + 1
                push(self._ready, s)
                self._valid.add(s)
                return s
        self._scan_pos = last + 1
        return None

    def _tag_positions(self, mv: memoryview, a: int, b: int) -> Iterator[int]:
        """Every ``i`` (ascending) with a known tag in ``mv[i : i + 4]`` within ``[a, b)``.
        An occurrence the non-overlapping search skips starts 1-3 bytes after a match."""
        assert self._tag_re is not None
        tags, overlaps = self._tags, self._overlaps
        for m in self._tag_re.finditer(mv, a, b):
            j = m.start()
            yield j
            for d in overlaps[m[0]]:
                i = j + d
                if i + 4 <= b and bytes(mv[i : i + 4]) in tags:
                    yield i
