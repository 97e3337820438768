"""Sans-IO decoding of a COM1 or COM2 byte stream: bytes in, typed events out.

:class:`SerialDecoder` splits the stream into lines the way the host does (LF ends a
line, one CR before it is dropped, text is lossy UTF-8) and reports what the lines mean:
guest panics and their backtraces, native faults, sched_ext dumps, the kernel-panic latch
and the host's capture window. Any split of the same bytes into feeds yields the same
events, and nothing a guest sends makes it raise.

Ordering: events come in stream order of the byte that completes them. At one byte, a
line's own events come first (``LineOverflow`` before its ``Line``; ``Line`` before what
the line means), then ``KernelPanic``, then ``CaptureTruncated`` (upstream latches the
panic before trimming the buffer).

Speed. Whole lines are found with ``bytes.find`` over each feed (a marker that starts
with an upper-case letter or ``~`` by ``memchr`` on that byte first, see
:func:`_find_marker`), and only the lines that can mean something (a marker, overlong,
inside a panic block) get a Python step: with ``lines=False`` ordinary console lines
cost nothing per line, and with ``lines=True`` their :class:`Line` events are built in
bulk from one ``split`` and one decode. The events are exactly those of the
straightforward decoder this one replaced, kept as
:mod:`ktstr_host.fuzzing.serial_reference` and checked against it by property tests.

Panic blocks (serial.md sections 3 and 13.4). A line whose Rust-trimmed text starts with
``PANIC:`` gives a :class:`PanicHead` (plus :class:`FatalSignal` for the native-fault form,
which has no block after it). After a Rust panic head, lines before the first backtrace
frame are :class:`PanicMessageLine` (a panic message may span lines). A line matching
``^\\s*N: `` is a frame; once a frame was seen, ``\\s+at LOCATION`` and 6-space-indented
inlined symbols are frames too; ``disabled backtrace`` / ``unsupported backtrace`` are
a whole backtrace. All of these are :class:`BacktraceLine`. The block ends at a blank
line, at any other line after a frame, at a dump line and at the next ``PANIC:`` line.

Dumps (section 6). A line containing ``sched_ext_dump:`` is a :class:`DumpLine`; the
first one opens a dump (:class:`DumpStart`). A line containing an end marker
(``SCX_EV_SUB_BYPASS_DISPATCH`` or ``~~~~ TRUNCATED ~~~~``) while a dump is open closes
it (:class:`DumpEnd`), with or without the dump prefix (trace bytes can be spliced into
other output). A new dump header (``triggered exit kind`` / ``Debug dump triggered by``)
in an open dump reports the open one as :class:`DumpUnterminated` and opens a new one;
``close()`` reports a dump still open the same way. Kernels before 6.15 print no end line
(:func:`ktstr_proto.serial.dump_has_end_line`): on them the next dump's header or the end
of the stream is the dump's end (:class:`DumpEnd` with the pseudo marker ``next-dump`` or
``end-of-stream``). The decoder knows the kernel from ``kernel_release`` or else from the
first ``Linux version`` line of its own stream (a verbose boot).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate, repeat
from typing import Literal

from typing_extensions import Buffer

from ktstr_proto.errors import UsageError
from ktstr_proto.serial import (
    CAPTURE_CAP,
    CAPTURE_TRIM,
    DEBUG_DUMP_ANCHOR,
    DUMP_END_MARKERS,
    DUMP_END_OF_STREAM,
    DUMP_NEXT_DUMP,
    EXIT_ANCHOR,
    KERNEL_PANIC_FALLBACK,
    KERNEL_PANIC_MARKERS,
    KERNEL_VERSION_NEEDLE,
    PANIC_LATCH_TAIL,
    PANIC_PREFIX,
    SCHED_EXT_DUMP_MARKER,
    FaultSignal,
    SerialChannel,
    check_channel,
    decode_lossy,
    dump_has_end_line,
    parse_fatal_signal,
    rust_split_whitespace,
    rust_trim,
    rust_trim_start,
)

from .bounded_text import CaptureWindow
from .extractors import parse_trace_cpu
from .gc_pause import PAUSE_THRESHOLD, gc_paused

DEFAULT_MAX_LINE = 64 * 1024
"""Bytes of one line the decoder keeps; the rest of an overlong line is counted only."""

# ---- events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One line. ``offset``/``end`` delimit it in the stream (``end`` after the LF).
    ``raw`` is the content without LF and without the one CR dropped before it
    (``crlf``); at most ``max_line`` bytes (``truncated`` says more were dropped).
    ``text`` is ``raw`` as lossy UTF-8. Only the last line at ``close()`` may be
    unterminated, and then keeps a trailing CR, like Rust's ``lines()``."""

    offset: int
    end: int
    raw: bytes
    text: str
    terminated: bool = True
    crlf: bool = False
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class LineOverflow:
    """The line starting at ``offset`` outgrew ``limit`` bytes; from stream offset
    ``at`` on, its bytes are counted but not kept."""

    offset: int
    at: int
    limit: int


@dataclass(frozen=True, slots=True)
class PanicHead:
    """A ``PANIC:`` line; ``message`` is what the host's ``crash_message`` would be."""

    offset: int
    message: str


@dataclass(frozen=True, slots=True)
class FatalSignal:
    """The head was the fatal-signal handler's line: signal and faulting address."""

    offset: int
    signal: FaultSignal
    addr: int


@dataclass(frozen=True, slots=True)
class PanicMessageLine:
    """A continuation line of a Rust panic message (between head and backtrace)."""

    offset: int
    text: str


BacktraceKind = Literal["frame", "location", "inline", "placeholder"]


@dataclass(frozen=True, slots=True)
class BacktraceLine:
    """A line of a Rust backtrace after a panic head. ``frame`` is the index on frame
    lines; ``detail`` is the symbol, the location, or the placeholder text."""

    offset: int
    text: str
    kind: BacktraceKind
    detail: str
    frame: int | None = None


@dataclass(frozen=True, slots=True)
class DumpStart:
    """The first ``sched_ext_dump:`` line of dump number ``index`` (0-based)."""

    offset: int
    index: int


@dataclass(frozen=True, slots=True)
class DumpLine:
    """A ``sched_ext_dump:`` line: the ``[NNN]`` CPU tag (None without trace framing)
    and the body after ``sched_ext_dump: `` (one separating space dropped)."""

    offset: int
    index: int
    cpu_tag: str | None
    body: str

    @property
    def cpu(self) -> int | None:
        return None if self.cpu_tag is None else int(self.cpu_tag[1:-1])


@dataclass(frozen=True, slots=True)
class DumpEnd:
    """The line at ``offset`` carried ``marker``; the dump began at ``start`` and had
    ``lines`` dump lines. On a kernel without a dump end line, ``marker`` is
    ``next-dump`` (``offset``: the next header) or ``end-of-stream``."""

    offset: int
    index: int
    marker: str
    start: int
    lines: int


@dataclass(frozen=True, slots=True)
class DumpUnterminated:
    """Dump ``index`` (from ``start``, ``lines`` dump lines) never showed an end marker:
    a new dump began at ``offset`` (``superseded``) or the stream ended there."""

    offset: int
    index: int
    start: int
    lines: int
    reason: Literal["superseded", "end-of-stream"]


@dataclass(frozen=True, slots=True)
class KernelPanic:
    """The host's kernel-panic latch fired (once per decoder) when the LF at ``end - 1``
    arrived: ``message`` is the trimmed marker line as seen in the last 256 bytes (it may
    start mid-line), starting at ``offset``."""

    offset: int
    end: int
    message: str


@dataclass(frozen=True, slots=True)
class CaptureTruncated:
    """Upstream's capture buffer overflowed at byte ``offset`` and dropped ``dropped``
    bytes: it now starts at stream offset ``window_start``."""

    offset: int
    dropped: int
    window_start: int


SerialEvent = (
    Line
    | LineOverflow
    | PanicHead
    | FatalSignal
    | PanicMessageLine
    | BacktraceLine
    | DumpStart
    | DumpLine
    | DumpEnd
    | DumpUnterminated
    | KernelPanic
    | CaptureTruncated
)

# ---- decoder --------------------------------------------------------------------------

_CR = 0x0D
_IDLE, _MESSAGE, _FRAMES = 0, 1, 2
_NO_OVERFLOW, _OVERFLOW_IF_MORE, _OVERFLOWED = 0, 1, 2
_RANK_PANIC, _RANK_TRIM = 2, 3
_FRAME_RE = re.compile(r"\s*(\d+): (.*)\Z", re.S)
_LOCATION_RE = re.compile(r"\s+at (.*)\Z", re.S)
_INLINE_RE = re.compile(r" {6}(\S.*)\Z", re.S)
_PLACEHOLDERS = frozenset({"disabled backtrace", "unsupported backtrace"})
_MARKER_BYTES = tuple(m.encode("ascii") for m in KERNEL_PANIC_MARKERS)
_MARKER_REACH = max(map(len, _MARKER_BYTES)) - 1
_SAMPLED_LONG_LINES = 4096
"""From this ``max_line`` on, overlong lines are found by probing every ``max_line + 1``
bytes; below it, by a regex (probing would cost a Python step every few bytes)."""

# A host-side event (kernel-panic latch, capture trim): (stream byte, rank, event).
_Extra = tuple[int, int, SerialEvent]

_new_object = object.__new__
_SET_LINE_FIELDS = tuple(
    getattr(Line, name).__set__
    for name in ("offset", "end", "raw", "text", "terminated", "crlf", "truncated")
)


def _short_line(offset: int, end: int, raw: bytes, text: str, crlf: bool) -> Line:
    """A terminated, untruncated :class:`Line`, built without the frozen dataclass's
    ``__init__`` (which sets each field through ``object.__setattr__``: twice the cost)."""
    line: Line = _new_object(Line)
    s_off, s_end, s_raw, s_text, s_term, s_crlf, s_trunc = _SET_LINE_FIELDS
    s_off(line, offset)
    s_end(line, end)
    s_raw(line, raw)
    s_text(line, text)
    s_term(line, True)
    s_crlf(line, crlf)
    s_trunc(line, False)
    return line


_SET_DUMP_LINE_FIELDS = tuple(
    getattr(DumpLine, name).__set__ for name in ("offset", "index", "cpu_tag", "body")
)


def _dump_line_event(offset: int, index: int, cpu_tag: str | None, body: str) -> DumpLine:
    """A :class:`DumpLine`, built like :func:`_short_line`."""
    line: DumpLine = _new_object(DumpLine)
    s_off, s_index, s_cpu, s_body = _SET_DUMP_LINE_FIELDS
    s_off(line, offset)
    s_index(line, index)
    s_cpu(line, cpu_tag)
    s_body(line, body)
    return line


_FIRST_BYTE_TRIES = 8
"""Occurrences of a marker's first byte that :func:`_find_marker` checks one by one
before it leaves the rest of the search to ``bytes.find``."""


def _find_marker(blob: bytes, needle: bytes, pos: int, end: int) -> int:
    """``blob.find(needle, pos, end)``, faster on console text for a needle whose first
    byte is rare there (an upper-case letter, ``~``): that byte is found with ``memchr``
    (several times faster than ``find``'s scan), and after a few false starts the search
    falls back to ``find``, so dense text costs a few steps more, never a step per byte."""
    first = needle[0]
    if not (0x41 <= first <= 0x5A or first == 0x7E):
        return blob.find(needle, pos, end)
    lead = needle[:1]
    at = blob.find(lead, pos, end)
    for _ in range(_FIRST_BYTE_TRIES):
        if at < 0 or blob.startswith(needle, at, end):
            return at
        at = blob.find(lead, at + 1, end)
    return at if at < 0 else blob.find(needle, at, end)


def _next_mark(
    blob: bytes,
    needles: tuple[bytes, ...],
    marks: list[int],
    pos: int,
    end: int,
) -> int:
    """First occurrence at or after ``pos`` of any of ``needles`` (``end`` if none).
    ``marks[i]`` caches the next occurrence of ``needles[i]`` (stale when < ``pos``), so
    each needle is searched for again only once the scan has passed it."""
    hit = min(marks)
    if hit >= pos:
        return hit
    for i, seen in enumerate(marks):
        if seen < pos:
            found = _find_marker(blob, needles[i], pos, end)
            marks[i] = end if found < 0 else found
    return min(marks)


@dataclass(slots=True)
class _OpenDump:
    index: int
    start: int
    lines: int = 0


class SerialDecoder:
    """Streaming decoder for one serial channel.

    ``capture_limit``/``capture_trim`` model upstream's host buffer (``None`` turns the
    model off). ``panic_latch`` defaults to on for COM1 only (upstream latches the kernel
    console); ``dumps`` likewise. ``max_line`` bounds the bytes kept per line, so memory
    stays bounded by it plus the largest feed. With ``lines=False`` the decoder does not
    emit :class:`Line` events (only what lines mean): lines that cannot mean anything
    (no marker, not overlong, outside a panic block) are skipped by bytes-level searches
    without any Python object or step per line. ``kernel_release`` decides how a dump ends
    (see the module docstring); without it the stream's ``Linux version`` line does.
    """

    def __init__(
        self,
        channel: SerialChannel,
        *,
        capture_limit: int | None = CAPTURE_CAP,
        capture_trim: int = CAPTURE_TRIM,
        max_line: int = DEFAULT_MAX_LINE,
        panic_latch: bool | None = None,
        dumps: bool | None = None,
        lines: bool = True,
        kernel_release: str | None = None,
    ) -> None:
        self.channel = check_channel(channel)
        if capture_limit is not None and not PANIC_LATCH_TAIL <= capture_trim < capture_limit:
            raise UsageError(
                f"need {PANIC_LATCH_TAIL} <= capture_trim < capture_limit, "
                f"got {capture_trim} and {capture_limit}"
            )
        if max_line < 1:
            raise UsageError("max_line must be >= 1")
        self._cap = capture_limit
        self._trim = capture_trim
        self._max_line = max_line
        self._latch_on = channel == "com1" if panic_latch is None else panic_latch
        self._dumps_on = channel == "com1" if dumps is None else dumps
        self._lines_on = lines
        self._release = kernel_release
        self._release_known = kernel_release is not None
        # Lines holding none of these (and not overlong) mean nothing outside a panic
        # block; the dump end markers (last) matter only while a dump is open. The
        # kernel's banner decides how dumps end when the release is not given.
        opening: tuple[str, ...] = (SCHED_EXT_DUMP_MARKER,)
        if not self._release_known:
            opening += (KERNEL_VERSION_NEEDLE,)
        markers = (PANIC_PREFIX, *opening, *DUMP_END_MARKERS) if self._dumps_on else (PANIC_PREFIX,)
        self._markers = tuple(m.encode("ascii") for m in markers)
        self._while_idle = len(self._markers) - len(DUMP_END_MARKERS) if self._dumps_on else 1
        self._long_re = (
            re.compile(rb"\n[^\n]{%d}" % (max_line + 1)) if max_line < _SAMPLED_LONG_LINES else None
        )
        self._off = 0
        self._closed = False
        # current partial line
        self._start = 0
        self._buf = bytearray()
        self._plen = 0
        self._last_cr = False
        self._overflow = _NO_OVERFLOW
        # models and classification state
        self._window = 0
        self._tail = b""
        self._latched: KernelPanic | None = None
        self._panic = _IDLE
        self._dump: _OpenDump | None = None
        self._dump_count = 0

    # ---- public API -------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Stream offset of the next byte to be fed."""
        return self._off

    @property
    def pending(self) -> int:
        """Bytes of the unfinished line held in memory (at most ``max_line``)."""
        return len(self._buf)

    @property
    def window_start(self) -> int:
        """Where upstream's capture buffer starts now (0 until it first overflows)."""
        return self._window

    @property
    def kernel_release(self) -> str | None:
        """The release the decoder goes by: given, or read from the stream."""
        return self._release

    @property
    def kernel_panic(self) -> KernelPanic | None:
        """The latched kernel panic, if the latch fired."""
        return self._latched

    def feed(self, data: Buffer) -> list[SerialEvent]:
        """Append ``data`` to the stream; return the events it completes."""
        if self._closed:
            raise UsageError("feed() after close()")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise UsageError(f"feed() takes bytes-like data, got {type(data).__name__}")
        blob = bytes(data)
        n = len(blob)
        if not n:
            return []
        base = self._off
        # The host models depend on the bytes alone: find their events first, then cut
        # the line scan at each of them so that every event comes out in stream order.
        extras: list[_Extra] = []
        if self._latch_on:
            self._scan_latch(blob, base, extras)
        if self._cap is not None and base + n > self._window + self._cap:
            self._scan_trims(base + n, extras)
        out: list[SerialEvent] = []
        if n >= PAUSE_THRESHOLD:
            with gc_paused():
                self._feed_lines(blob, base, extras, out)
        else:
            self._feed_lines(blob, base, extras, out)
        self._off += n
        return out

    def close(self) -> list[SerialEvent]:
        """End of stream: the unterminated last line, and any dump left open."""
        if self._closed:
            return []
        self._closed = True
        out: list[SerialEvent] = []
        if self._plen:
            self._finish_line(None, out)
        if self._dump is not None:
            d = self._dump
            self._dump = None
            out.append(self._dump_left_open(d, self._off, True))
        return out

    # ---- line splitting ---------------------------------------------------------------

    def _feed_lines(
        self, blob: bytes, base: int, extras: list[_Extra], out: list[SerialEvent]
    ) -> None:
        if not extras:
            self._scan_lines(blob, 0, len(blob), base, out)
            return
        pos = 0
        if len(extras) > 1:
            extras.sort(key=lambda extra: extra[:2])
        for at, _rank, event in extras:
            cut = at - base + 1  # line events completed by byte ``at`` come first
            self._scan_lines(blob, pos, cut, base, out)
            pos = max(pos, cut)
            out.append(event)
        self._scan_lines(blob, pos, len(blob), base, out)

    def _scan_lines(self, blob: bytes, lo: int, hi: int, base: int, out: list[SerialEvent]) -> None:
        """Consume ``blob[lo:hi]``: finish the pending line, the whole lines, keep the rest."""
        if lo >= hi:
            return
        lf = blob.find(b"\n", lo, hi)
        if lf < 0:
            self._append(blob, lo, hi, base, out)
            return
        if self._plen:
            if lf > lo:
                self._append(blob, lo, lf, base, out)
            self._finish_line(base + lf, out)
            lo = lf + 1
        last = blob.rfind(b"\n", lo, hi)
        if last >= 0:
            self._whole_lines(blob, lo, last + 1, base, out)
            lo = last + 1
        if lo < hi:
            self._append(blob, lo, hi, base, out)

    def _whole_lines(self, blob: bytes, a: int, b: int, base: int, out: list[SerialEvent]) -> None:
        """``blob[a:b]`` is whole lines (``a`` starts one, ``b - 1`` is an LF). Only lines
        that can mean something go through :meth:`_one_line`; the others become plain
        :class:`Line` events in bulk, or nothing when lines are off."""
        idle = self._while_idle
        openers, closers = self._markers[:idle], self._markers[idle:]
        marks = [-1] * idle  # next occurrence of each opener (stale when < pos)
        ends = [-1] * len(closers)  # the same for the end markers (while a dump is open)
        find = blob.find
        long_at = self._next_long(blob, a, b)
        lines_on = self._lines_on
        pos = a
        while pos < b:
            if self._panic != _IDLE:  # inside a panic block every line counts
                lf = find(b"\n", pos, b)
                self._one_line(blob, pos, lf, base, out)
                pos = lf + 1
                continue
            hit = _next_mark(blob, openers, marks, pos, b)
            if self._dump is not None:
                end = _next_mark(blob, closers, ends, pos, b)
                hit = min(hit, end)
            if long_at < pos:
                long_at = self._next_long(blob, pos, b)
            hit = min(hit, long_at)
            if hit >= b:
                if lines_on:
                    self._plain_lines(blob, pos, b, base, out)
                break
            start = blob.rfind(b"\n", pos, hit) + 1 or pos
            if lines_on and start > pos:
                self._plain_lines(blob, pos, start, base, out)
            lf = blob.find(b"\n", hit, b)
            self._one_line(blob, start, lf, base, out)
            pos = lf + 1
        self._start = base + b

    def _next_long(self, blob: bytes, pos: int, b: int) -> int:
        """Start of the first line in ``blob[pos:b]`` (whole lines) with more than
        ``max_line`` bytes before its LF (a CR there included), else ``b``."""
        limit = self._max_line
        if b - pos < limit + 2:
            return b
        first = blob.find(b"\n", pos, b)
        if first - pos > limit:
            return pos
        if self._long_re is not None:
            m = self._long_re.search(blob, first, b)
            return b if m is None else m.start() + 1
        # A run of more than `limit` non-LF bytes covers one of these probes.
        for probe in range(first + limit + 1, b, limit + 1):
            if blob[probe] == 0x0A:
                continue
            start = blob.rfind(b"\n", first, probe) + 1
            if blob.find(b"\n", probe, b) - start > limit:
                return start
        return b

    def _plain_lines(self, blob: bytes, a: int, b: int, base: int, out: list[SerialEvent]) -> None:
        """Line events for ``blob[a:b]``: whole lines, none overlong or meaningful."""
        seg = blob[a:b]
        text = seg.decode("utf-8", "replace")  # LF never joins an invalid sequence
        count = seg.count(b"\n")
        crlfs = seg.count(b"\r\n")
        if crlfs == count or not crlfs:
            sep, tail = (b"\r\n", 2) if crlfs else (b"\n", 1)
            raws = seg.split(sep)
            texts = text.split(sep.decode("ascii"))
            sizes: Iterable[int] = map(tail.__add__, map(len, raws))
            flags: Iterable[bool] = repeat(bool(crlfs))
        else:
            raws = seg.split(b"\n")
            texts = text.split("\n")
            sizes = [len(r) + 1 for r in raws]
            crlf = [r.endswith(b"\r") for r in raws]
            raws = [r[:-1] if c else r for r, c in zip(raws, crlf, strict=True)]
            texts = [t[:-1] if c else t for t, c in zip(texts, crlf, strict=True)]
            flags = crlf
        del raws[-1], texts[-1]  # the empty piece after the last LF
        bounds = list(accumulate(sizes, initial=base + a))
        ends = iter(bounds)
        next(ends)
        out.extend(map(_short_line, bounds, ends, raws, texts, flags))

    def _one_line(self, blob: bytes, a: int, lf: int, base: int, out: list[SerialEvent]) -> None:
        """The whole line ``blob[a:lf]`` (the pending line is empty), classified."""
        end = base + lf + 1
        if lf - a > self._max_line:  # overlong: through the partial-line path
            self._start = base + a
            self._append(blob, a, lf, base, out)
            self._finish_line(base + lf, out)
            return
        crlf = lf > a and blob[lf - 1] == _CR
        raw = blob[a : lf - 1] if crlf else blob[a:lf]
        if raw or self._lines_on:
            text = raw.decode("utf-8", "replace")
            if self._lines_on:
                out.append(_short_line(base + a, end, raw, text, crlf))
            self._classify(base + a, text, out)
        else:  # an empty line means nothing but the end of a panic block
            self._panic = _IDLE
        self._start = end

    def _append(self, blob: bytes, a: int, b: int, base: int, out: list[SerialEvent]) -> None:
        """Add content bytes ``blob[a:b]`` (no LF) to the current line."""
        limit = self._max_line
        room = limit - len(self._buf)
        if room > 0:
            self._buf += blob[a : a + room] if b - a > room else blob[a:b]
        before = self._plen
        self._plen += b - a
        if self._overflow != _OVERFLOWED and self._plen > limit:
            # The byte at content index `limit` overflows the line unless it is a CR
            # that an LF then drops; if it is, the next content byte decides.
            if self._overflow == _OVERFLOW_IF_MORE:
                at: int | None = a
            else:
                k = a + (limit - before)
                at = k if blob[k] != _CR else (k + 1 if k + 1 < b else None)
                if at is None:
                    self._overflow = _OVERFLOW_IF_MORE
            if at is not None:
                self._overflow = _OVERFLOWED
                out.append(LineOverflow(self._start, base + at, limit))
        self._last_cr = blob[b - 1] == _CR

    def _finish_line(self, lf: int | None, out: list[SerialEvent]) -> None:
        terminated = lf is not None
        crlf = terminated and self._last_cr
        content = self._plen - (1 if crlf else 0)
        end = lf + 1 if lf is not None else self._off
        raw = bytes(self._buf[: min(content, self._max_line)])
        if self._lines_on:
            text = decode_lossy(raw)
            out.append(
                Line(self._start, end, raw, text, terminated, crlf, content > self._max_line)
            )
            self._classify(self._start, text, out)
        elif self._panic != _IDLE or any(map(raw.__contains__, self._markers)):
            self._classify(self._start, decode_lossy(raw), out)
        self._start = end
        self._buf = bytearray()
        self._plen = 0
        self._last_cr = False
        self._overflow = _NO_OVERFLOW

    # ---- what a line means ------------------------------------------------------------

    def _classify(self, offset: int, text: str, events: list[SerialEvent]) -> None:
        """Events of the line starting at ``offset`` with (lossy) text ``text``."""
        if not self._release_known and KERNEL_VERSION_NEEDLE in text:
            self._release_known = True
            tokens = rust_split_whitespace(text.split(KERNEL_VERSION_NEEDLE)[1])
            self._release = tokens[0] if tokens else None
        if self._dumps_on:
            if SCHED_EXT_DUMP_MARKER in text:
                self._panic = _IDLE
                self._dump_line(offset, text, events)
                return
            if self._dump is not None:
                self._maybe_end_dump(offset, text, events)
        trimmed = rust_trim(text)
        if trimmed.startswith(PANIC_PREFIX):
            events.append(PanicHead(offset, rust_trim_start(trimmed[len(PANIC_PREFIX) :])))
            fault = parse_fatal_signal(trimmed)
            if fault is not None:
                events.append(FatalSignal(offset, fault[0], fault[1]))
                self._panic = _IDLE
            else:
                self._panic = _MESSAGE
        elif self._panic != _IDLE:
            self._panic_block_line(offset, text, trimmed, events)

    def _panic_block_line(
        self, offset: int, text: str, trimmed: str, events: list[SerialEvent]
    ) -> None:
        if not trimmed:
            self._panic = _IDLE
            return
        if trimmed in _PLACEHOLDERS:
            events.append(BacktraceLine(offset, text, "placeholder", trimmed))
            self._panic = _IDLE
            return
        m = _FRAME_RE.match(text)
        if m is not None:
            events.append(BacktraceLine(offset, text, "frame", m.group(2), int(m.group(1))))
            self._panic = _FRAMES
            return
        if self._panic == _MESSAGE:
            events.append(PanicMessageLine(offset, text))
            return
        m = _LOCATION_RE.match(text)
        if m is not None:
            events.append(BacktraceLine(offset, text, "location", m.group(1)))
            return
        m = _INLINE_RE.match(text)
        if m is not None:
            events.append(BacktraceLine(offset, text, "inline", m.group(1)))
            return
        self._panic = _IDLE

    def _dump_line(self, offset: int, text: str, events: list[SerialEvent]) -> None:
        body = text[text.index(SCHED_EXT_DUMP_MARKER) + len(SCHED_EXT_DUMP_MARKER) :]
        body = body.removeprefix(" ")
        dump = self._dump
        if (
            dump is not None
            and dump.lines
            and (EXIT_ANCHOR in body or body.startswith(DEBUG_DUMP_ANCHOR))
        ):
            events.append(self._dump_left_open(dump, offset, False))
            dump = None
        if dump is None:
            dump = self._dump = _OpenDump(self._dump_count, offset)
            self._dump_count += 1
            events.append(DumpStart(offset, dump.index))
        dump.lines += 1
        events.append(_dump_line_event(offset, dump.index, parse_trace_cpu(text), body))
        self._maybe_end_dump(offset, text, events)

    def _dump_left_open(
        self, dump: _OpenDump, at: int, end_of_stream: bool
    ) -> DumpEnd | DumpUnterminated:
        """A dump that no end marker closed, at the next header or the stream's end."""
        if not dump_has_end_line(self._release):
            marker = DUMP_END_OF_STREAM if end_of_stream else DUMP_NEXT_DUMP
            return DumpEnd(at, dump.index, marker, dump.start, dump.lines)
        reason: Literal["superseded", "end-of-stream"] = (
            "end-of-stream" if end_of_stream else "superseded"
        )
        return DumpUnterminated(at, dump.index, dump.start, dump.lines, reason)

    def _maybe_end_dump(self, offset: int, text: str, events: list[SerialEvent]) -> None:
        dump = self._dump
        assert dump is not None
        for marker in DUMP_END_MARKERS:
            if marker in text:
                events.append(DumpEnd(offset, dump.index, marker, dump.start, dump.lines))
                self._dump = None
                return

    # ---- host models: panic latch and capture window ----------------------------------

    def _scan_latch(self, blob: bytes, base: int, out: list[_Extra]) -> None:
        """Upstream checks the last 256 captured bytes after every byte; a marker line
        latches when its LF arrives within 256 bytes of the marker's start."""
        keep = PANIC_LATCH_TAIL - 1
        if self._latched is None and self._may_latch(blob):
            buf = self._tail + blob
            hit = self._first_latch_lf(buf, len(self._tail))
            if hit is not None:
                self._latch(buf, hit, base - len(self._tail), out)
        if len(blob) >= keep:
            self._tail = blob[-keep:]
        else:
            self._tail = (self._tail + blob)[-keep:]

    def _may_latch(self, blob: bytes) -> bool:
        """A marker in ``blob``, in the tail or across the seam (cheaper than looking in
        the tail and blob joined, which copies the feed)."""
        seam = self._tail + blob[:_MARKER_REACH]
        end = len(blob)
        for marker in _MARKER_BYTES:
            if marker in seam or _find_marker(blob, marker, 0, end) >= 0:
                return True
        return False

    @staticmethod
    def _first_latch_lf(buf: bytes, fresh: int) -> int | None:
        """Index in ``buf`` of the first new LF (at or after ``fresh``) whose 256-byte
        window holds a whole marker. Linear: occurrences too far before an LF are
        skipped by restarting the search 255 bytes before it."""
        reach = PANIC_LATCH_TAIL - 1
        best: int | None = None
        for marker in _MARKER_BYTES:
            s = buf.find(marker)
            while s >= 0 and (best is None or s < best):
                p = buf.find(b"\n", s + len(marker))
                if p < 0:
                    break
                if p - s > reach:
                    s = buf.find(marker, max(s + 1, p - reach))
                    continue
                if p >= fresh:
                    best = p if best is None else min(best, p)
                    break
                s = buf.find(marker, p + 1)  # that LF was checked by an earlier feed
        return best

    def _latch(self, buf: bytes, p: int, buf_base: int, out: list[_Extra]) -> None:
        w = max(0, p - (PANIC_LATCH_TAIL - 1))
        seg_start = w
        for seg in buf[w : p + 1].split(b"\n"):
            if any(m in seg for m in _MARKER_BYTES):
                break
            seg_start += len(seg) + 1
        seg = buf[seg_start : buf.index(b"\n", seg_start)]
        message = rust_trim(decode_lossy(seg)) or KERNEL_PANIC_FALLBACK
        self._latched = KernelPanic(buf_base + seg_start, buf_base + p + 1, message)
        out.append((buf_base + p, _RANK_PANIC, self._latched))

    def _scan_trims(self, end: int, out: list[_Extra]) -> None:
        assert self._cap is not None
        at = self._window + self._cap  # the byte whose arrival overflows the buffer
        while at < end:
            start = at + 1 - self._trim
            out.append((at, _RANK_TRIM, CaptureTruncated(at, start - self._window, start)))
            self._window = start
            at = start + self._cap


def decode_serial(data: Buffer, decoder: SerialChannel | SerialDecoder) -> list[SerialEvent]:
    """One-shot: feed all of ``data`` to ``decoder`` (or a default decoder for a channel
    name) and close it."""
    dec = decoder if isinstance(decoder, SerialDecoder) else SerialDecoder(decoder)
    return dec.feed(data) + dec.close()


def capture_window(
    data: bytes, *, capture_limit: int = CAPTURE_CAP, capture_trim: int = CAPTURE_TRIM
) -> tuple[int, bytes]:
    """What upstream's capture buffer holds after receiving ``data``: ``(start offset,
    bytes)`` (:class:`~ktstr_host.decode.bounded_text.CaptureWindow` fed all at once). Decode
    with lossy UTF-8 to get ``VmResult.stderr``/``output``."""
    window = CaptureWindow(capture_limit, capture_trim)
    window.append(data)
    return window.start, window.data
