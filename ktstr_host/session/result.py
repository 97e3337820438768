"""The run result: one auditable verdict for a whole ktstr run.

:class:`RunResult` holds what upstream's host derives from a run (exit code, verdict,
scheduler exit, lifecycle stage, logs, crash message, sched_ext dump, kernel panic,
diagnostics) plus every anomaly seen, and, per field, where it came from
(:class:`Source`: the channel and the stream offsets of the frames or lines). It
serialises to JSON (:meth:`RunResult.to_json`) and renders a human report
(:meth:`RunResult.render`). ``ktstr_host.session.result_builder`` builds it; the rules are in
``docs/run-result.md``.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from ktstr_proto.channels import BULK, COM1, COM2
from ktstr_proto.schemas import AssertResult, to_jsonable
from ktstr_proto.serial import exit_kind_name


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def exit_status(self) -> int:
        """The CLI's exit status: 0 unless the run failed."""
        return 1 if self is Status.FAIL else 0


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value came from: stream offsets of frames (bulk) or lines (serial)."""

    channel: str
    offsets: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "offsets": list(self.offsets)}


ANOMALY_SAMPLES = 8
"""Anomalies of one kind on one channel kept one by one; later ones are aggregated."""


@dataclass(slots=True)
class Anomaly:
    """Something off in the run's traffic (never fatal to building the result).

    An aggregate (``count`` > 1) stands for ``count`` further anomalies of its kind and
    channel beyond the first :data:`ANOMALY_SAMPLES`: ``offset`` is the first of them,
    ``last_offset`` the last, ``detail`` the first one's detail.
    """

    kind: str
    channel: str
    offset: int | None
    detail: str
    count: int = 1
    last_offset: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "channel": self.channel,
            "offset": self.offset,
            "detail": self.detail,
        }
        if self.count > 1:
            out["count"] = self.count
            out["last_offset"] = self.last_offset
        return out

    def describe(self) -> str:
        """One line for the human report."""
        where = f" @ {self.offset}" if self.offset is not None else ""
        if self.count > 1:
            where += f"..{self.last_offset}"
        text = f"{self.kind} [{self.channel}{where}]: {self.detail}"
        if self.count > 1:
            text += f" (and {self.count - 1} more like it)"
        return text


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    phase: str
    reason: str
    offset: int


@dataclass(frozen=True, slots=True)
class Blob:
    """A binary artefact (wprof trace, profraw): its size and SHA-256, and its bytes when
    they are small enough to keep (``None`` otherwise; ``report --full`` writes them)."""

    data: bytes | None
    size: int
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> Blob:
        return cls(data, len(data), hashlib.sha256(data).hexdigest())

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256}


@dataclass
class RunResult:
    """Everything a run said, decided the way upstream's host decides it."""

    profile: str
    status: Status = Status.FAIL
    reasons: list[str] = field(default_factory=list)
    decided_by: str = ""
    """Which of upstream's rules decided, and on what (e.g. ``verdict Pass from TEST @
    bulk 1234``)."""
    context: list[str] = field(default_factory=list)
    """Facts that did not decide the run (exit code, crash, timeout, ... beside a decoded
    result), as upstream leaves them out of the verdict."""
    exit_code: int | None = None
    exit_code_source: str = ""
    host_killed: str | None = None
    vm_exit_recorded: bool = False
    has_sched_output: bool = False
    """A scheduler-log start marker appeared in the output or the scheduler log frames."""
    omitted: dict[str, int] = field(default_factory=dict)
    """Bytes each large text field left out between its head and tail."""
    exec_exit_code: int | None = None
    verdict: str | None = None
    test_result: AssertResult | dict[str, Any] | None = None
    test_result_error: str | None = None
    stage: str | None = None
    lifecycle: list[LifecycleEvent] = field(default_factory=list)
    scheduler_died: bool = False
    scheduler_exit_code: int | None = None
    scheduler_not_attached: str | None = None
    scenario: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    sched_log: str | None = None
    dmesg: str | None = None
    probe_output: str | None = None
    payload_metrics: list[Any] = field(default_factory=list)
    raw_payload_outputs: list[Any] = field(default_factory=list)
    wprof: Blob | None = None
    profraw: list[Blob] = field(default_factory=list)
    boot_complete: bool = False
    kern_addrs: dict[str, Any] | None = None
    rpc_requests: list[dict[str, Any]] = field(default_factory=list)
    crash_message: str | None = None
    initramfs_fatal: str | None = None
    fatal_signal: dict[str, Any] | None = None
    sched_ext_dump: str | None = None
    dump_complete: bool = False
    dump_exit_reason: str | None = None
    dump_exit_kind: int | None = None
    """``N`` of the dump's ``triggered exit kind N:`` header."""
    dump_trigger: str | None = None
    """What asked for a debug dump that is no exit (``SysRq-D``)."""
    bug_summary: str | None = None
    kernel_panic: str | None = None
    kernel_version: str | None = None
    diagnostics: str = ""
    timed_out: bool = False
    wake_bytes: list[int] = field(default_factory=list)
    com1_bytes: int = 0
    com2_bytes: int = 0
    bulk_bytes: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)
    provenance: dict[str, list[Source]] = field(default_factory=dict)
    _anomaly_counts: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    _aggregates: dict[tuple[str, str], Anomaly] = field(default_factory=dict, repr=False)

    def cite(self, name: str, channel: str, *offsets: int) -> None:
        """Record that field ``name`` came from ``offsets`` of ``channel``."""
        self.provenance.setdefault(name, []).append(Source(channel, tuple(offsets)))

    def anomaly(self, kind: str, channel: str, offset: int | None, detail: str) -> None:
        """Record an anomaly; past :data:`ANOMALY_SAMPLES` of one kind and channel, the
        rest are counted in one aggregate entry (memory stays bounded on hostile runs)."""
        key = (kind, channel)
        seen = self._anomaly_counts.get(key, 0)
        self._anomaly_counts[key] = seen + 1
        if seen < ANOMALY_SAMPLES:
            self.anomalies.append(Anomaly(kind, channel, offset, detail))
            return
        agg = self._aggregates.get(key)
        if agg is None:
            agg = self._aggregates[key] = Anomaly(kind, channel, offset, detail, 0, offset)
            self.anomalies.append(agg)
        agg.count += 1
        agg.last_offset = offset

    def merge(self, other: RunResult) -> None:
        """Take ``other``'s fields that differ from their defaults (copies), its
        anomalies (with their counts) and its citations."""
        blank = RunResult(other.profile)
        for f in fields(RunResult):
            if f.name in ("profile", "anomalies", "provenance") or f.name.startswith("_"):
                continue
            value = getattr(other, f.name)
            if value != getattr(blank, f.name):
                setattr(self, f.name, copy.deepcopy(value))
        for a in other.anomalies:
            mine = replace(a)
            self.anomalies.append(mine)
            if other._aggregates.get((a.kind, a.channel)) is a:
                self._aggregates[a.kind, a.channel] = mine
        for key, n in other._anomaly_counts.items():
            self._anomaly_counts[key] = self._anomaly_counts.get(key, 0) + n
        for name, sources in other.provenance.items():
            self.provenance.setdefault(name, []).extend(sources)

    @property
    def anomaly_count(self) -> int:
        """How many anomalies were recorded, aggregated ones included."""
        return sum(a.count for a in self.anomalies)

    # ---- JSON ------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON dict (stable key order) with every field and its provenance."""
        tr: Any
        if isinstance(self.test_result, AssertResult):
            tr = to_jsonable(self.test_result)
        else:
            tr = self.test_result
        return {
            "profile": self.profile,
            "status": self.status.value,
            "reasons": list(self.reasons),
            "decided_by": self.decided_by,
            "context": list(self.context),
            "exit_code": self.exit_code,
            "exit_code_source": self.exit_code_source,
            "host_killed": self.host_killed,
            "exec_exit_code": self.exec_exit_code,
            "verdict": self.verdict,
            "test_result": tr,
            "test_result_error": self.test_result_error,
            "stage": self.stage,
            "lifecycle": [
                {"phase": e.phase, "reason": e.reason, "offset": e.offset} for e in self.lifecycle
            ],
            "scheduler_died": self.scheduler_died,
            "scheduler_exit_code": self.scheduler_exit_code,
            "scheduler_not_attached": self.scheduler_not_attached,
            "scenario": self.scenario,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "sched_log": self.sched_log,
            "dmesg": self.dmesg,
            "probe_output": self.probe_output,
            "payload_metrics": [to_jsonable(m) for m in self.payload_metrics],
            "raw_payload_outputs": [to_jsonable(r) for r in self.raw_payload_outputs],
            "wprof": self.wprof.to_json() if self.wprof else None,
            "profraw": [b.to_json() for b in self.profraw],
            "boot_complete": self.boot_complete,
            "kern_addrs": self.kern_addrs,
            "rpc_requests": self.rpc_requests,
            "crash_message": self.crash_message,
            "initramfs_fatal": self.initramfs_fatal,
            "fatal_signal": self.fatal_signal,
            "sched_ext_dump": self.sched_ext_dump,
            "dump_complete": self.dump_complete,
            "dump_exit_reason": self.dump_exit_reason,
            "dump_exit_kind": self.dump_exit_kind,
            "dump_trigger": self.dump_trigger,
            "bug_summary": self.bug_summary,
            "kernel_panic": self.kernel_panic,
            "kernel_version": self.kernel_version,
            "diagnostics": self.diagnostics,
            "timed_out": self.timed_out,
            "wake_bytes": [f"0x{b:02x}" for b in self.wake_bytes],
            "bytes": {BULK: self.bulk_bytes, COM1: self.com1_bytes, COM2: self.com2_bytes},
            **({"omitted": dict(self.omitted)} if self.omitted else {}),
            "anomalies": [a.to_json() for a in self.anomalies],
            "provenance": {
                name: [s.to_json() for s in sources]
                for name, sources in sorted(self.provenance.items())
            },
        }

    # ---- human report ----------------------------------------------------------------

    def render(self, *, max_lines: int = 40) -> str:
        """A human-readable report."""
        out: list[str] = []
        head = {Status.PASS: "PASSED", Status.FAIL: "FAILED", Status.SKIP: "SKIPPED"}
        out.append(f"ktstr run {head[self.status]}  (profile {self.profile})")
        for reason in self.reasons:
            out.append("  - " + reason.replace("\n", "\n    "))
        if self.decided_by:
            out.append(f"  decided by: {self.decided_by}")
        for fact in self.context:
            out.append(f"  context: {fact}")
        out.append("")

        def kv(label: str, value: object, source: str | None = None) -> None:
            if value is None or value in ("", []):
                return
            where = ""
            if source and self.provenance.get(source):
                src = self.provenance[source][-1]
                shown = ", ".join(str(o) for o in src.offsets[:3])
                more = ", ..." if len(src.offsets) > 3 else ""
                where = f"   [{src.channel} @ {shown}{more}]"
            out.append(f"{label:<20} {value}{where}")

        kv("exit code", self.exit_code, "exit_code")
        kv("exec exit code", self.exec_exit_code, "exec_exit_code")
        kv("verdict", self.verdict, "verdict")
        kv("test result error", self.test_result_error, "verdict")
        kv("stage", self.stage)
        phases = ", ".join(e.phase + (f" ({e.reason})" if e.reason else "") for e in self.lifecycle)
        kv("lifecycle", phases, "lifecycle")
        if self.scheduler_died:
            code = self.scheduler_exit_code
            kv(
                "scheduler",
                f"died (exit code {code})" if code is not None else "died",
                "scheduler_died",
            )
        kv("scheduler attach", self.scheduler_not_attached, "scheduler_not_attached")
        if self.scenario:
            kv("scenario", _scenario_line(self.scenario), "scenario")
        kv("timed out", "yes" if self.timed_out else None, "timed_out")
        kv("crash message", self.crash_message, "crash_message")
        if self.fatal_signal:
            kv(
                "fatal signal",
                f"{self.fatal_signal['signal']} at {self.fatal_signal['addr']}",
                "fatal_signal",
            )
        kv("kernel panic", self.kernel_panic, "kernel_panic")
        kv("dump exit reason", self.dump_exit_reason, "sched_ext_dump")
        if self.dump_exit_kind is not None:
            kv("dump exit kind", exit_kind_name(self.dump_exit_kind), "sched_ext_dump")
        kv("dump trigger", self.dump_trigger, "sched_ext_dump")
        kv("bug summary", self.bug_summary)
        kv("kernel version", self.kernel_version)
        if isinstance(self.test_result, AssertResult):
            for outcome in self.test_result.outcomes:
                if outcome.detail is not None:
                    out.append(
                        f"  {outcome.kind.value}: {outcome.detail.kind.value}: "
                        f"{outcome.detail.message}"
                    )
        for name, text in (
            ("stdout", self.stdout),
            ("stderr", self.stderr),
            ("scheduler log", self.sched_log),
            ("dmesg", self.dmesg),
        ):
            if text:
                out.append("")
                out.append(f"--- {name} ---")
                out.extend(_tail(text, max_lines))
        if self.sched_ext_dump:
            out.append("")
            out.append("--- sched_ext dump ---" + ("" if self.dump_complete else " (incomplete)"))
            out.extend(_tail(self.sched_ext_dump, max_lines))
        if self.diagnostics:
            out.append("")
            out.extend(self.diagnostics.lstrip("\n").splitlines())
        if self.anomalies:
            out.append("")
            out.append(f"--- anomalies ({self.anomaly_count}) ---")
            for a in self.anomalies[:max_lines]:
                out.append(a.describe())
            if len(self.anomalies) > max_lines:
                out.append(f"... {len(self.anomalies) - max_lines} more")
        return "\n".join(out).rstrip() + "\n"


MAX_LINE_CHARS = 400


def _clip(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return f"{line[:MAX_LINE_CHARS]}... ({len(line) - MAX_LINE_CHARS} more characters)"


def _tail(text: str, n: int) -> list[str]:
    lines = text.rstrip("\n").split("\n")
    shown = [_clip(line) for line in lines[-n:]]
    if len(lines) <= n:
        return shown
    return [f"... ({len(lines) - n} earlier lines; --json has everything)", *shown]


def _scenario_line(s: dict[str, Any]) -> str:
    parts = []
    if s.get("started"):
        parts.append("started")
    if s.get("steps"):
        parts.append(f"{len(s['steps'])} step(s)")
    if s.get("pauses"):
        parts.append(f"{s['pauses']} pause(s)")
    if s.get("ended"):
        parts.append(f"ended after {s.get('elapsed_ms')} ms")
    return ", ".join(parts)
