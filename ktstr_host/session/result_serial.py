"""The serial-derived facts of a run, accumulated event by event in bounded memory.

:class:`SerialFacts` follows one serial channel: upstream's capture window (serial.md
9.1: the extractors read its text at the end), the first kernel-panic latch and ``PANIC:``
line, the dump's start and end, and the channel's anomalies. :class:`LegacyFacts` reads a
ktstr 0.4.9 guest's COM2 sentinels line by line (serial.md 12).
"""

from __future__ import annotations

import json
from typing import ClassVar

from ktstr_proto.channels import COM2
from ktstr_proto.serial import (
    PANIC_PREFIX,
    PROBE_OUTPUT_END,
    PROBE_OUTPUT_START,
    SCHED_OUTPUT_END,
    SCHED_OUTPUT_START,
    TEST_RESULT_END,
    TEST_RESULT_START,
)

from ..decode.bounded_text import BoundedText, CaptureWindow
from ..decode.extractors import extract_panic_message
from ..decode.output_scan import parse_sched_output
from ..decode.serial import (
    CaptureTruncated,
    DumpEnd,
    DumpStart,
    DumpUnterminated,
    FatalSignal,
    KernelPanic,
    Line,
    LineOverflow,
    PanicHead,
    SerialEvent,
)
from .result import LifecycleEvent, RunResult
from .result_bulk import LIST_LIMIT

RESULT_BLOCK_LIMIT = 16 << 20
"""Bytes of a 0.4.9 JSON test result kept (a larger one is reported, not parsed)."""


class SerialFacts:
    """What one serial channel tells, kept as it arrives."""

    def __init__(self, channel: str, profile: str) -> None:
        self.channel = channel
        self.window = CaptureWindow()
        self.sink = RunResult(profile)
        """Anomalies and dump citations of this channel."""
        self.bytes = 0
        self.kernel_panic: tuple[str, int] | None = None
        self.panic_at: int | None = None
        self.fatal_signal: tuple[dict[str, str], int] | None = None
        self.dump_complete = False

    def data(self, data: bytes | bytearray | memoryview) -> None:
        self.bytes += len(data)
        self.window.append(data)

    def event(self, event: SerialEvent) -> None:
        ch, sink = self.channel, self.sink
        if isinstance(event, KernelPanic) and self.kernel_panic is None:
            self.kernel_panic = (event.message, event.offset)
        elif isinstance(event, PanicHead) and self.panic_at is None:
            self.panic_at = event.offset
        elif isinstance(event, FatalSignal) and ch == COM2 and self.fatal_signal is None:
            info = {"signal": str(event.signal), "addr": f"0x{event.addr:016x}"}
            self.fatal_signal = (info, event.offset)
        elif isinstance(event, DumpStart):
            sink.cite("sched_ext_dump", ch, event.offset)
        elif isinstance(event, DumpEnd):
            self.dump_complete = True
            sink.cite("sched_ext_dump", ch, event.offset)
        elif isinstance(event, DumpUnterminated):
            sink.anomaly(
                "dump-unterminated",
                ch,
                event.offset,
                f"sched_ext dump without its end marker ({event.reason})",
            )
        elif isinstance(event, CaptureTruncated):
            sink.anomaly(
                "capture-truncated",
                ch,
                event.offset,
                f"the host's 4 MiB capture window dropped {event.dropped} bytes; "
                f"it now starts at {event.window_start}",
            )
        elif isinstance(event, LineOverflow):
            sink.anomaly("line-overflow", ch, event.offset, f"line longer than {event.limit} bytes")

    def into(self, r: RunResult) -> None:
        """Write this channel's facts into ``r`` (the first channel's latch wins)."""
        if self.kernel_panic is not None and r.kernel_panic is None:
            r.kernel_panic = self.kernel_panic[0]
            r.cite("kernel_panic", self.channel, self.kernel_panic[1])
        if self.fatal_signal is not None and r.fatal_signal is None:
            r.fatal_signal = dict(self.fatal_signal[0])
            r.cite("fatal_signal", self.channel, self.fatal_signal[1])
        r.dump_complete = r.dump_complete or self.dump_complete
        r.merge(self.sink)


class LegacyFacts:
    """A 0.4.9 guest's COM2: sentinel lines, the JSON result and log blocks."""

    _BLOCKS: ClassVar[dict[str, tuple[str, str]]] = {
        TEST_RESULT_START: ("test", TEST_RESULT_END),
        SCHED_OUTPUT_START: ("sched", SCHED_OUTPUT_END),
        PROBE_OUTPUT_START: ("probe", PROBE_OUTPUT_END),
    }

    def __init__(self, profile: str) -> None:
        self.r = RunResult(profile)
        self.block: str | None = None
        self.end_marker = ""
        self.block_start = 0
        self.test_lines: list[str] = []
        self.test_size = 0
        self.test_block: tuple[int, list[str]] | None = None
        self.probe = BoundedText()
        self.probe_lines = 0
        self.probe_block: int | None = None
        self.sched_block: int | None = None
        self.crash_at: int | None = None

    def line(self, event: Line) -> None:
        offset, raw = event.offset, event.text.rstrip("\r")
        if self.crash_at is None and PANIC_PREFIX in raw:
            self.crash_at = offset
        text = raw.strip()
        if self.block is not None:
            if text == self.end_marker or text.endswith(self.end_marker):
                head = raw[: raw.rfind(self.end_marker)]
                if head.strip():
                    self._block_line(head)
                self._close_block()
            else:
                self._block_line(raw)
            return
        r = self.r
        if text in self._BLOCKS:
            self.block, self.end_marker = self._BLOCKS[text]
            self.block_start = offset
            self.test_lines, self.test_size = [], 0
            if self.block == "probe":
                self.probe, self.probe_lines = BoundedText(), 0
        elif text == "KTSTR_INIT_STARTED":
            self._phase("INIT_STARTED", "", offset)
        elif text == "KTSTR_PAYLOAD_STARTING":
            self._phase("PAYLOAD_STARTING", "", offset)
        elif text == "SCHEDULER_DIED":
            r.scheduler_died = True
            self._phase("SCHEDULER_DIED", "", offset, cite=False)
            r.cite("scheduler_died", COM2, offset)
        elif text.startswith("SCHEDULER_NOT_ATTACHED"):
            reason = text.partition(":")[2].strip() or "not attached"
            r.scheduler_not_attached = reason
            self._phase("SCHEDULER_NOT_ATTACHED", reason, offset, cite=False)
            r.cite("scheduler_not_attached", COM2, offset)
        elif text.startswith(("KTSTR_EXIT=", "STT_EXIT=")):
            code = _int(text.partition("=")[2])
            if code is None:
                r.anomaly("bad-sentinel", COM2, offset, f"unparsable exit line {text!r}")
            else:
                r.exit_code = code
                r.provenance["exit_code"] = []
                r.cite("exit_code", COM2, offset)
        elif text.startswith("KTSTR_EXEC_EXIT="):
            code = _int(text.partition("=")[2])
            if code is not None:
                r.exec_exit_code = code
                r.provenance["exec_exit_code"] = []
                r.cite("exec_exit_code", COM2, offset)

    def _phase(self, phase: str, reason: str, offset: int, *, cite: bool = True) -> None:
        """A sentinel as a lifecycle phase (the scheduler's own sentinels cite their
        field instead)."""
        if len(self.r.lifecycle) < LIST_LIMIT:
            self.r.lifecycle.append(LifecycleEvent(phase, reason, offset))
        if cite:
            self.r.cite("lifecycle", COM2, offset)

    def _block_line(self, text: str) -> None:
        if self.block == "test":
            self.test_size += len(text) + 1
            if self.test_size <= RESULT_BLOCK_LIMIT:
                self.test_lines.append(text)
        elif self.block == "probe":
            if self.probe_lines:
                self.probe.append(b"\n")
            self.probe_lines += 1
            self.probe.append(text.encode())

    def _close_block(self) -> None:
        if self.block == "test":
            self.test_block = (self.block_start, self.test_lines)
        elif self.block == "probe":
            self.probe_block = self.block_start
        elif self.block == "sched":
            self.sched_block = self.block_start
        self.block = None

    def into(self, r: RunResult, com2_text: str) -> None:
        """Write the 0.4.9 fields into ``r``; ``com2_text`` is the capture window."""
        r.merge(self.r)
        r.stdout = com2_text
        r.crash_message = extract_panic_message(com2_text, contains=True)
        if r.crash_message is not None and self.crash_at is not None:
            r.cite("crash_message", COM2, self.crash_at)
        if self.block is not None:
            r.anomaly(
                "unterminated-block",
                COM2,
                self.block_start,
                f"{self.block} block without its end marker",
            )
        r.has_sched_output = SCHED_OUTPUT_START in com2_text
        r.sched_log = parse_sched_output(com2_text)
        if self.sched_block is not None and r.sched_log is not None:
            r.cite("sched_log", COM2, self.sched_block)
        if self.probe_block is not None:
            r.probe_output = self.probe.text()
            r.cite("probe_output", COM2, self.probe_block)
        if self.test_block is not None:
            _legacy_test_result(r, *self.test_block, oversized=self.test_size > RESULT_BLOCK_LIMIT)


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _legacy_test_result(r: RunResult, offset: int, lines: list[str], *, oversized: bool) -> None:
    r.cite("verdict", COM2, offset)
    if oversized:
        r.test_result_error = f"test result larger than {RESULT_BLOCK_LIMIT} bytes"
        r.anomaly("payload-error", COM2, offset, r.test_result_error)
        return
    try:
        doc = json.loads("\n".join(lines))
    except json.JSONDecodeError as exc:
        r.test_result_error = f"test result is not JSON: {exc.msg} at line {exc.lineno}"
        r.anomaly("payload-error", COM2, offset, r.test_result_error)
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("passed"), bool):
        r.test_result_error = "test result JSON lacks a boolean 'passed'"
        r.anomaly("payload-error", COM2, offset, r.test_result_error)
        return
    r.test_result = doc
    if not doc["passed"]:
        r.verdict = "Fail"  # 0.4.9 decides on `passed` alone: `skipped` cannot rescue it
    else:
        r.verdict = "Skip" if doc.get("skipped") is True else "Pass"
