"""Streaming forms of the host's scans over a run's output (bounded memory, any split).

Upstream builds ``output`` (CRC-good SOUT and SERR in arrival order, then the COM2
capture) whole and runs ``extract_panic_message`` and ``parse_sched_output`` over it.
These scanners give the same answers from the stream: :class:`FirstPanicLine` keeps only
the line in progress, :class:`SchedOutputScan` the region between the first start marker
and the last end marker as :class:`~ktstr_host.decode.bounded_text.BoundedText`.
"""

from __future__ import annotations

from typing import BinaryIO

from ktstr_proto.serial import (
    PANIC_PREFIX,
    SCHED_OUTPUT_END,
    SCHED_OUTPUT_START,
    decode_lossy,
    rust_trim,
)

from .bounded_text import BoundedText, omission_note
from .extractors import extract_panic_message

LINE_LIMIT = 1 << 20
"""Bytes of one line kept while it is in progress (a longer line keeps its start)."""
_PANIC = PANIC_PREFIX.encode()


def parse_sched_output(text: str) -> str | None:
    """Upstream's ``parse_sched_output``: the text from the first START marker to the
    last END marker, trimmed; None when a marker is missing or nothing is between."""
    start = text.find(SCHED_OUTPUT_START)
    if start < 0:
        return None
    start += len(SCHED_OUTPUT_START)
    end = text.rfind(SCHED_OUTPUT_END)
    if end < start:
        return None
    body = rust_trim(text[start:end])
    return body or None


class FirstPanicLine:
    """``extract_panic_message`` over a stream: the first line whose trimmed text starts
    with ``PANIC:``, and the offset of the part (frame) its line starts in."""

    __slots__ = ("_carry", "_carry_at", "found")

    def __init__(self) -> None:
        self._carry = b""
        self._carry_at = 0
        self.found: tuple[str, int] | None = None

    def feed(self, at: int, data: bytes) -> None:
        """Add ``data``, which starts in the part at offset ``at``."""
        if self.found is not None or not data:
            return
        buf = self._carry + data
        first_in_data = len(self._carry)
        start = 0
        if _PANIC in buf:
            while True:
                end = buf.find(b"\n", start)
                if end < 0:
                    break
                line_at = self._carry_at if start < first_in_data else at
                if self._check(buf[start:end], line_at):
                    return
                start = end + 1
        else:
            nl = buf.rfind(b"\n")
            start = nl + 1 if nl >= 0 else 0
        if start >= first_in_data:
            self._carry_at = at
        # the line's start decides; a longer line keeps its first LINE_LIMIT bytes
        self._carry = buf[start : start + LINE_LIMIT]

    def _check(self, line: bytes, at: int) -> bool:
        if _PANIC not in line:
            return False
        message = extract_panic_message(decode_lossy(line))
        if message is None:
            return False
        self.found = (message, at)
        return True

    def finish_with(self, rest: str) -> tuple[str, int | None] | None:
        """The answer once ``rest`` (the COM2 capture) follows the stream: ``(message,
        offset)`` with the stream part's offset, or ``None`` as offset when the line is
        in ``rest``. Does not change the scanner."""
        if self.found is not None:
            return self.found
        carry = decode_lossy(self._carry)
        first, sep, _ = rest.partition("\n")
        if carry:
            joined = carry + first
            message = extract_panic_message(joined)
            if message is not None and rust_trim(joined).startswith(PANIC_PREFIX):
                return message, self._carry_at
            if not sep:
                return None
            message = extract_panic_message(rest[len(first) + 1 :])
        else:
            message = extract_panic_message(rest)
        return (message, None) if message is not None else None


class SchedOutputScan:
    """``parse_sched_output`` over a stream: from the first start marker to the last end
    marker, trimmed; ``None`` when a marker is missing or nothing is between."""

    __slots__ = ("_committed", "_ended", "_pending", "_scan", "_spill", "_started", "seen_start")

    def __init__(self, spill: BinaryIO | None = None) -> None:
        self.seen_start = False
        self._started = False
        self._scan = b""  # unsearched bytes kept for a marker cut across feeds
        self._committed = BoundedText()
        self._pending = BoundedText()
        self._ended = False
        self._spill = spill
        """Gets every byte after the first start marker; the caller cuts it to
        :attr:`committed_bytes` at the end."""

    @property
    def committed_bytes(self) -> int:
        """Bytes from the first start marker's end to the last end marker's start."""
        return self._committed.total

    @property
    def ended(self) -> bool:
        """Whether an end marker followed the first start marker."""
        return self._ended

    @property
    def left_out(self) -> int:
        """Bytes of the log not kept in memory."""
        return self._committed.left_out

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if not self._started:
            buf = self._scan + data
            at = buf.find(SCHED_OUTPUT_START.encode())
            if at < 0:
                self._scan = buf[-(len(SCHED_OUTPUT_START) - 1) :]
                return
            self.seen_start = self._started = True
            self._scan = b""
            data = buf[at + len(SCHED_OUTPUT_START) :]
        self._content(data)

    def _content(self, data: bytes) -> None:
        """``data`` continues the stream after the first start marker."""
        end_marker = SCHED_OUTPUT_END.encode()
        if self._spill is not None:
            self._spill.write(data)
        window = self._scan + data
        last = window.rfind(end_marker)
        if last < 0:
            self._pending.append(data)
        else:
            # the log so far ends where this END starts; what follows it is pending
            cut = last - len(self._scan)
            if cut >= 0:
                self._pending.append(data[:cut])
            else:  # the END began in the previous feed's bytes, already pending
                self._pending.drop_last(-cut)
            self._committed.extend(self._pending)
            self._pending = BoundedText()
            self._pending.append(window[last:])
            self._ended = True
        self._scan = window[-(len(end_marker) - 1) :]

    def result(self) -> str | None:
        if not self._ended:
            return None
        head, left_out, tail = self._committed.parts()
        if not left_out:
            text = rust_trim(decode_lossy(head + tail))
        else:
            text = rust_trim(decode_lossy(head)) + omission_note(left_out)
            text += rust_trim(decode_lossy(tail))
        return text or None

    def copy(self) -> SchedOutputScan:
        twin = SchedOutputScan()
        twin.seen_start, twin._started, twin._scan = self.seen_start, self._started, self._scan
        twin._committed, twin._pending = self._committed.copy(), self._pending.copy()
        twin._ended = self._ended
        return twin
