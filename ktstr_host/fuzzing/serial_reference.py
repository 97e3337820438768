"""A straightforward serial decoder: the oracle for ``ktstr_host.decode.serial.SerialDecoder``.

This is the decoder as first written, before the bytes-level fast paths: it splits every
line in Python, classifies every line and sorts the events by (byte, rank, sequence).
The property tests and the ``serial`` fuzz target check that the fast decoder returns
exactly its events for any input, options and split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing_extensions import Buffer

from ktstr_proto.errors import UsageError
from ktstr_proto.serial import (
    CAPTURE_CAP,
    CAPTURE_TRIM,
    DEBUG_DUMP_ANCHOR,
    DUMP_END_MARKERS,
    EXIT_ANCHOR,
    KERNEL_PANIC_FALLBACK,
    KERNEL_PANIC_MARKERS,
    PANIC_LATCH_TAIL,
    PANIC_PREFIX,
    SCHED_EXT_DUMP_MARKER,
    SerialChannel,
    check_channel,
    decode_lossy,
    parse_fatal_signal,
    rust_trim,
    rust_trim_start,
)

from ..decode.extractors import parse_trace_cpu
from ..decode.serial import (
    DEFAULT_MAX_LINE,
    BacktraceLine,
    CaptureTruncated,
    DumpEnd,
    DumpLine,
    DumpStart,
    DumpUnterminated,
    FatalSignal,
    KernelPanic,
    Line,
    LineOverflow,
    PanicHead,
    PanicMessageLine,
    SerialEvent,
)

_CR = 0x0D
_IDLE, _MESSAGE, _FRAMES = 0, 1, 2
_NO_OVERFLOW, _OVERFLOW_IF_MORE, _OVERFLOWED = 0, 1, 2
_RANK_LINE, _RANK_PANIC, _RANK_TRIM = 1, 2, 3
_FRAME_RE = re.compile(r"\s*(\d+): (.*)\Z", re.S)
_LOCATION_RE = re.compile(r"\s+at (.*)\Z", re.S)
_INLINE_RE = re.compile(r" {6}(\S.*)\Z", re.S)
_PLACEHOLDERS = frozenset({"disabled backtrace", "unsupported backtrace"})
_EMPTY_LINES = re.compile(rb"(?:\r?\n)+")
_MARKER_BYTES = tuple(m.encode("ascii") for m in KERNEL_PANIC_MARKERS)

_Keyed = tuple[int, int, int, SerialEvent]


@dataclass(slots=True)
class _OpenDump:
    index: int
    start: int
    lines: int = 0


class ReferenceSerialDecoder:
    """The serial decoder as first written (one Python step per line, events sorted by
    key), kept as the model the optimised :class:`~ktstr_host.decode.serial.SerialDecoder` must
    match event for event.

    ``capture_limit``/``capture_trim`` model upstream's host buffer (``None`` turns the
    model off). ``panic_latch`` defaults to on for COM1 only (upstream latches the kernel
    console); ``dumps`` likewise. ``max_line`` bounds the bytes kept per line, so memory
    stays bounded by it plus the largest feed. With ``lines=False`` the decoder does not
    emit :class:`Line` events (only what lines mean) and skips empty lines without
    building an object for them: a flood of blank lines costs no memory per line.
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
        self._seq = 0

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
        if not blob:
            return []
        out: list[_Keyed] = []
        base = self._off
        self._scan_lines(blob, base, out)
        if self._latch_on:
            self._scan_latch(blob, base, out)
        if self._cap is not None:
            self._scan_trims(base + len(blob), out)
        self._off += len(blob)
        out.sort(key=lambda k: k[:3])
        return [k[3] for k in out]

    def close(self) -> list[SerialEvent]:
        """End of stream: the unterminated last line, and any dump left open."""
        if self._closed:
            return []
        self._closed = True
        out: list[_Keyed] = []
        if self._plen:
            self._finish_line(None, out)
        if self._dump is not None:
            d = self._dump
            self._dump = None
            self._emit(
                out,
                self._off,
                _RANK_LINE,
                DumpUnterminated(self._off, d.index, d.start, d.lines, "end-of-stream"),
            )
        return [k[3] for k in out]

    # ---- line splitting ---------------------------------------------------------------

    def _emit(self, out: list[_Keyed], at: int, rank: int, event: SerialEvent) -> None:
        self._seq += 1
        out.append((at, rank, self._seq, event))

    def _scan_lines(self, blob: bytes, base: int, out: list[_Keyed]) -> None:
        pos, n = 0, len(blob)
        skip = None if self._lines_on else _EMPTY_LINES.match
        while pos < n:
            if skip is not None and not self._plen:
                m = skip(blob, pos)
                if m is not None:  # a run of empty lines: it only ends a panic block
                    self._panic = _IDLE
                    pos = m.end()
                    self._start = base + pos
                    continue
            lf = blob.find(b"\n", pos)
            stop = n if lf < 0 else lf
            if stop > pos:
                self._append(blob, pos, stop, base, out)
            if lf < 0:
                return
            self._finish_line(base + lf, out)
            pos = lf + 1

    def _append(self, blob: bytes, a: int, b: int, base: int, out: list[_Keyed]) -> None:
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
                self._emit(out, base + at, _RANK_LINE, LineOverflow(self._start, base + at, limit))
        self._last_cr = blob[b - 1] == _CR

    def _finish_line(self, lf: int | None, out: list[_Keyed]) -> None:
        terminated = lf is not None
        crlf = terminated and self._last_cr
        content = self._plen - (1 if crlf else 0)
        if not content and not self._lines_on and lf is not None:
            # An empty line means nothing but the end of a panic block.
            self._panic = _IDLE
            self._start = lf + 1
            self._buf = bytearray()
            self._plen = 0
            self._last_cr = False
            self._overflow = _NO_OVERFLOW
            return
        raw = bytes(self._buf[: min(content, self._max_line)])
        end = lf + 1 if lf is not None else self._off
        line = Line(
            self._start, end, raw, decode_lossy(raw), terminated, crlf, content > self._max_line
        )
        at = lf if lf is not None else self._off
        if self._lines_on:
            self._emit(out, at, _RANK_LINE, line)
        for event in self._classify(line):
            self._emit(out, at, _RANK_LINE, event)
        self._start = end
        self._buf = bytearray()
        self._plen = 0
        self._last_cr = False
        self._overflow = _NO_OVERFLOW

    # ---- what a line means ------------------------------------------------------------

    def _classify(self, line: Line) -> list[SerialEvent]:
        text = line.text
        events: list[SerialEvent] = []
        if self._dumps_on:
            if SCHED_EXT_DUMP_MARKER in text:
                self._panic = _IDLE
                self._dump_line(line, events)
                return events
            if self._dump is not None:
                self._maybe_end_dump(line, events)
        trimmed = rust_trim(text)
        if trimmed.startswith(PANIC_PREFIX):
            events.append(PanicHead(line.offset, rust_trim_start(trimmed[len(PANIC_PREFIX) :])))
            fault = parse_fatal_signal(trimmed)
            if fault is not None:
                events.append(FatalSignal(line.offset, fault[0], fault[1]))
                self._panic = _IDLE
            else:
                self._panic = _MESSAGE
        elif self._panic != _IDLE:
            self._panic_block_line(line, trimmed, events)
        return events

    def _panic_block_line(self, line: Line, trimmed: str, events: list[SerialEvent]) -> None:
        text = line.text
        if not trimmed:
            self._panic = _IDLE
            return
        if trimmed in _PLACEHOLDERS:
            events.append(BacktraceLine(line.offset, text, "placeholder", trimmed))
            self._panic = _IDLE
            return
        m = _FRAME_RE.match(text)
        if m is not None:
            events.append(BacktraceLine(line.offset, text, "frame", m.group(2), int(m.group(1))))
            self._panic = _FRAMES
            return
        if self._panic == _MESSAGE:
            events.append(PanicMessageLine(line.offset, text))
            return
        m = _LOCATION_RE.match(text)
        if m is not None:
            events.append(BacktraceLine(line.offset, text, "location", m.group(1)))
            return
        m = _INLINE_RE.match(text)
        if m is not None:
            events.append(BacktraceLine(line.offset, text, "inline", m.group(1)))
            return
        self._panic = _IDLE

    def _dump_line(self, line: Line, events: list[SerialEvent]) -> None:
        text = line.text
        body = text[text.index(SCHED_EXT_DUMP_MARKER) + len(SCHED_EXT_DUMP_MARKER) :]
        body = body.removeprefix(" ")
        dump = self._dump
        if (
            dump is not None
            and dump.lines
            and (EXIT_ANCHOR in body or body.startswith(DEBUG_DUMP_ANCHOR))
        ):
            events.append(
                DumpUnterminated(line.offset, dump.index, dump.start, dump.lines, "superseded")
            )
            dump = None
        if dump is None:
            dump = self._dump = _OpenDump(self._dump_count, line.offset)
            self._dump_count += 1
            events.append(DumpStart(line.offset, dump.index))
        dump.lines += 1
        events.append(DumpLine(line.offset, dump.index, parse_trace_cpu(text), body))
        self._maybe_end_dump(line, events)

    def _maybe_end_dump(self, line: Line, events: list[SerialEvent]) -> None:
        dump = self._dump
        assert dump is not None
        for marker in DUMP_END_MARKERS:
            if marker in line.text:
                events.append(DumpEnd(line.offset, dump.index, marker, dump.start, dump.lines))
                self._dump = None
                return

    # ---- host models: panic latch and capture window ----------------------------------

    def _scan_latch(self, blob: bytes, base: int, out: list[_Keyed]) -> None:
        """Upstream checks the last 256 captured bytes after every byte; a marker line
        latches when its LF arrives within 256 bytes of the marker's start."""
        keep = PANIC_LATCH_TAIL - 1
        if self._latched is None:
            buf = self._tail + blob
            hit = self._first_latch_lf(buf, len(self._tail))
            if hit is not None:
                self._latch(buf, hit, base - len(self._tail), out)
        if len(blob) >= keep:
            self._tail = blob[-keep:]
        else:
            self._tail = (self._tail + blob)[-keep:]

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

    def _latch(self, buf: bytes, p: int, buf_base: int, out: list[_Keyed]) -> None:
        w = max(0, p - (PANIC_LATCH_TAIL - 1))
        seg_start = w
        for seg in buf[w : p + 1].split(b"\n"):
            if any(m in seg for m in _MARKER_BYTES):
                break
            seg_start += len(seg) + 1
        seg = buf[seg_start : buf.index(b"\n", seg_start)]
        message = rust_trim(decode_lossy(seg)) or KERNEL_PANIC_FALLBACK
        self._latched = KernelPanic(buf_base + seg_start, buf_base + p + 1, message)
        self._emit(out, buf_base + p, _RANK_PANIC, self._latched)

    def _scan_trims(self, end: int, out: list[_Keyed]) -> None:
        assert self._cap is not None
        at = self._window + self._cap  # the byte whose arrival overflows the buffer
        while at < end:
            start = at + 1 - self._trim
            self._emit(out, at, _RANK_TRIM, CaptureTruncated(at, start - self._window, start))
            self._window = start
            at = start + self._cap
