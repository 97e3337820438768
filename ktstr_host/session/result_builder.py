"""Build a :class:`RunResult` from a run's channels, with upstream's rules.

:class:`ResultBuilder` consumes what the decoders of :class:`~ktstr_host.session.RunSession`
produce, event by event, in bounded memory, and gives the result at any moment. Bulk
(bulk.md 6.4-6.5): frames as the host's streaming assembler sees them (one feed per
recorded chunk), then the residual through the one-shot parser, as the coordinator does
at exit. Serial (serial.md 9-11): COM1/COM2 cut to the host's capture window and run
through upstream's extractors. Legacy ``ktstr-0.4`` runs are read from their COM2
sentinels (serial.md 12). The decision rules are in docs/run-result.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from ktstr_proto.channels import COM1, COM2, HVC0
from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.serial import INITRAMFS_FATAL, WakeByte
from ktstr_proto.transcript import DIRECTIONS, Chunk, Mark, Transcript

from ..decode.events import BulkEvent
from ..decode.extractors import (
    extract_bug_summary,
    extract_dump_exit_kind,
    extract_dump_trigger,
    extract_exit_from_dump_trace,
    extract_kernel_version,
    extract_sched_ext_dump,
)
from ..decode.output_scan import parse_sched_output
from ..decode.serial import Line, SerialEvent
from .full_output import FullOutput
from .result import RunResult
from .result_bulk import LIST_LIMIT, _Bulk
from .result_decide import decide, exit_code, host_side
from .result_serial import LegacyFacts, SerialFacts
from .run_input import RunInput

__all__ = ["ResultBuilder", "build_run_result", "parse_sched_output"]

INITRAMFS_FATAL_HEAD = INITRAMFS_FATAL.split("\u2014", 1)[0].rstrip()
MAX_WAKE_BYTES = 64
"""Host wake bytes listed in a result (the first ones)."""


class ResultBuilder:
    """The run result of one run, built from its decoded events as they arrive."""

    def __init__(self, profile: str | Profile | None = None, *, full: FullOutput | None = None):
        self.prof = get_profile(profile)
        self.full = full
        self.serial = {ch: SerialFacts(ch, self.prof.name) for ch in (COM1, COM2)}
        self.bulk = _Bulk(self.prof, full) if self.prof.transport == "bulk" else None
        self.legacy = LegacyFacts(self.prof.name) if self.prof.transport != "bulk" else None
        self.bulk_bytes = 0
        self.wake_bytes = bytearray()
        self.hvc0_h2g = 0
        self.soft_deadline_at: int | None = None
        self.marks: list[Mark] = []
        self.truncated: str | None = None

    # ---- what the decoders produce ------------------------------------------------------

    def bulk_data(self, n: int) -> None:
        self.bulk_bytes += n

    def bulk_events(self, events: Iterable[BulkEvent]) -> None:
        if self.bulk is not None:
            for event in events:
                self.bulk.event(event)

    def serial_data(self, channel: str, data: bytes | bytearray | memoryview) -> None:
        facts = self.serial.get(channel)
        if facts is not None:
            facts.data(data)

    def serial_events(self, channel: str, events: Iterable[SerialEvent]) -> None:
        facts = self.serial.get(channel)
        if facts is None:
            return
        legacy = self.legacy if channel == COM2 else None
        for event in events:
            if isinstance(event, Line):
                if legacy is not None:
                    legacy.line(event)
            else:
                facts.event(event)

    def host_data(self, channel: str, data: bytes | bytearray | memoryview) -> None:
        """Bytes the host wrote to the guest (hvc0 wake bytes)."""
        if channel != HVC0:
            return
        if len(self.wake_bytes) < MAX_WAKE_BYTES:
            self.wake_bytes += data[: MAX_WAKE_BYTES - len(self.wake_bytes)]
        if self.soft_deadline_at is None:
            at = bytes(data).find(bytes([WakeByte.SHUTDOWN]))
            if at >= 0:
                self.soft_deadline_at = self.hvc0_h2g + at
        self.hvc0_h2g += len(data)

    def mark(self, mark: Mark) -> None:
        if len(self.marks) < LIST_LIMIT:
            self.marks.append(mark)

    # ---- the result ---------------------------------------------------------------------

    def result(self) -> RunResult:
        """The result of what arrived so far (nothing here changes)."""
        r = RunResult(self.prof.name)
        for facts in self.serial.values():
            facts.into(r)
        com1_text = self.serial[COM1].window.text()
        com2_text = self.serial[COM2].window.text()
        if self.bulk is not None:
            self.bulk.into(r, com2_text, self.serial[COM2].panic_at)
        elif self.legacy is not None:
            self.legacy.into(r, com2_text)
        r.bulk_bytes = self.bulk_bytes
        r.com1_bytes, r.com2_bytes = self.serial[COM1].bytes, self.serial[COM2].bytes
        _console(r, com1_text, com2_text)
        host_side(r, self.marks, bytes(self.wake_bytes), self.soft_deadline_at)
        if self.truncated:
            r.anomaly("transcript-truncated", "transcript", None, self.truncated)
        exit_code(r)
        decide(r, com1_text, self.prof)
        return r

    def close_full(self, r: RunResult) -> None:
        """Finish the ``report --full`` files (the dump comes from the final result)."""
        if self.full is None:
            return
        if r.sched_ext_dump:
            self.full.write_text("sched_ext_dump.txt", r.sched_ext_dump)
        self.full.close(self.bulk.sched_log_bytes() if self.bulk is not None else None)


def _console(r: RunResult, com1_text: str, com2_text: str) -> None:
    at = com2_text.find(INITRAMFS_FATAL_HEAD)
    if at >= 0:
        r.initramfs_fatal = com2_text[at:].split("\n", 1)[0].rstrip("\r")
    r.sched_ext_dump = extract_sched_ext_dump(com1_text)
    r.dump_exit_reason = extract_exit_from_dump_trace(com1_text)
    r.dump_exit_kind = extract_dump_exit_kind(com1_text)
    r.dump_trigger = extract_dump_trigger(com1_text)
    if r.sched_ext_dump or r.sched_log:
        r.bug_summary = extract_bug_summary(r.sched_ext_dump or "", r.sched_log)
    r.kernel_version = extract_kernel_version(com1_text) or None


def build_run_result(run: RunInput | Transcript, profile: str | Profile | None = None) -> RunResult:
    """The run result of a recorded (or synthetic) run: a ``Transcript`` (fed in its
    order) or any other :class:`~ktstr_host.session.run_input.RunInput` (each channel streamed)."""
    from .run_session import RunSession

    session = RunSession(profile if profile is not None else run.header.profile)
    if isinstance(run, Transcript):
        for event in run.events:
            if isinstance(event, Chunk):
                session.feed(event.channel, event.data, event.t, event.direction)
            else:
                session.mark(event)
    else:
        for channel in run.header.channels:
            for direction in DIRECTIONS:
                for data in run.iter_chunks(channel, direction):
                    session.feed(channel, data, None, direction)
        for mark in run.marks:
            session.mark(mark)
    if run.truncated:
        session.transcript_truncated(run.truncated)
    session.close()
    return session.result()
