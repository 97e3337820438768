"""Whole guest runs as data: the life cycles of serial.md section 11.

A :class:`Scenario` is a :class:`GuestScript` (what the guest writes, channel by
channel, and when it waits for the host), the host's wake bytes, and the run result a
correct host must derive (:class:`Expected`). The same scenario plays two ways:

* :func:`synthetic_transcript` simulates the run with plausible timing (serial at
  115200 baud, the tty's LF -> CR LF applied on COM1/COM2, the host's wake bytes), and
* ``ktstr-host vm run`` boots it in QEMU, where the real kernel does the tty work.

Serial writes hold what userspace writes (before the tty's ONLCR), so both ways give the
same bytes on the wire.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ktstr_proto.channels import BULK, CHANNELS, WAKE_CHANNEL
from ktstr_proto.errors import UsageError
from ktstr_proto.payloads import KernAddrs, LifecyclePhase, SnapshotKind, SnapshotStatus, Stimulus
from ktstr_proto.profiles import get_profile
from ktstr_proto.schemas import (
    AssertDetail,
    AssertResult,
    DetailKind,
    Metric,
    MetricSource,
    MetricStream,
    PayloadMetrics,
    Polarity,
    PolarityKind,
    encode_assert_result,
    encode_payload_metrics,
)
from ktstr_proto.serial import (
    SCHED_OUTPUT_END,
    SCHED_OUTPUT_START,
    SENTINEL_INIT_STARTED,
    SENTINEL_PAYLOAD_STARTING,
    STAGE_INIT_NOT_STARTED,
    STAGE_INIT_STARTED_NO_PAYLOAD,
    STAGE_PAYLOAD_STARTED_NO_RESULT,
    TEST_RESULT_END,
    TEST_RESULT_START,
    ExitKind,
    FaultSignal,
    WakeByte,
    cpu_state_block,
    legacy_exec_exit_line,
)
from ktstr_proto.tags import MsgType
from ktstr_proto.transcript import Chunk, Header, Mark, Transcript
from ktstr_proto.verdict import HOST_KILL_TAGS, VM_EXIT_MARK

from . import console
from .bulk_writer import GuestBulkWriter, HostReplyWriter
from .initramfs import (
    DieMidFrame,
    GuestScript,
    Hang,
    OnWake,
    PowerOff,
    Sleep,
    Step,
    WaitWake,
    Write,
)

SERIAL_BYTES_PER_S = 11520.0  # 115200 baud, 8N1
BOOT_S = 1.8  # kernel boot before init writes anything


@dataclass(frozen=True, slots=True)
class HostAction:
    """The host writes ``data`` to the guest on ``channel`` at ``at_s`` (or, when the
    guest waits for it, as soon as it waits)."""

    at_s: float
    data: bytes
    channel: str = WAKE_CHANNEL


@dataclass(frozen=True, slots=True)
class Expected:
    """The run result fields a correct host derives from the scenario."""

    status: str
    verdict: str | None = None
    exit_code: int | None = None
    exec_exit_code: int | None = None
    stage: str | None = None
    crash_message: str | None = None
    dump_exit_reason: str | None = None
    has_dump: bool = False
    scheduler_died: bool = False
    timed_out: bool = False
    kernel_panic: str | None = None
    stdout_contains: str = ""
    reason: str | None = None
    """The one reason upstream's host gives for a failed run (None for a pass)."""
    killed: str | None = None
    """Why the host killed the VM early (``scheduler-exit``), if it did."""
    wprof_frames: int = 0
    """How many bulk frames the wprof trace is reassembled from (its provenance)."""
    kernel_version: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    profile: str
    script: GuestScript
    expected: Expected
    host: tuple[HostAction, ...] = ()
    timeout_s: float = 60.0
    vm: bool = True
    """Whether the scenario can run in a real VM (the snapshot RPC needs a host-side
    responder the VM runner does not have)."""


# ---- building blocks -----------------------------------------------------------------


def _bulk(data: bytes) -> Write:
    return Write(BULK, data)


def _serial(writes: Sequence[console.ConsoleWrite]) -> list[Step]:
    return [Write(w.channel, w.data) for w in writes]


def sysrq_dump_poller() -> OnWake:
    """The guest's hvc0 poller: a 0xD1 from the host makes the kernel dump on COM1."""
    dump = console.sysrq_dump(
        cpu_states=cpu_state_block(
            0, nr_run=1, flags=0x0, cpu_rel=0, ops_qseq=7, pnt_seq=5, curr=("hvc0-poll", 58)
        ),
        onlcr_enabled=False,
    )
    return OnWake(WakeByte.DUMP, tuple(_serial(dump)))


KERNEL_ADDRS = KernAddrs(0x1000000, 0xFFFF888000000000, 0xFFFFFFFF81000000)


def _boot(w: GuestBulkWriter, *, poller: bool = True) -> list[Step]:
    return [
        *([sysrq_dump_poller()] if poller else []),
        _bulk(w.kern_addrs(KERNEL_ADDRS)),
        _bulk(w.sys_rdy()),
        _bulk(w.lifecycle(LifecyclePhase.INIT_STARTED)),
    ]


STEP = Stimulus(
    elapsed_ms=0,
    step_index=1,
    op_count=3,
    op_kinds=5,
    cgroup_count=2,
    worker_count=8,
    total_iterations=0,
)
STEP_DONE = Stimulus(
    elapsed_ms=1500,
    step_index=1,
    op_count=3,
    op_kinds=5,
    cgroup_count=2,
    worker_count=8,
    total_iterations=412_345,
)
SCHED_LOG = b"scx_simple: loaded\nscx_simple: attached to sched_ext\n"


def _payload_start(w: GuestBulkWriter) -> list[Step]:
    steps: list[Step] = [
        _bulk(w.lifecycle(LifecyclePhase.PAYLOAD_STARTING)),
        _bulk(w.scenario_start()),
        _bulk(w.stimulus(STEP)),
    ]
    return steps


def _payload_end(w: GuestBulkWriter, stdout: bytes) -> list[Step]:
    steps: list[Step] = [_bulk(w.stdout(stdout))]
    if w.profile.step_end:
        steps.append(_bulk(w.step_end(STEP_DONE)))
    steps.append(_bulk(w.scenario_end(1500, 412_345)))
    return steps


def _metrics() -> bytes:
    metric = Metric(
        "iterations_per_s",
        274_896.0,
        Polarity(PolarityKind.HIGHER_BETTER),
        "ops/s",
        MetricSource.JSON,
        MetricStream.STDOUT,
    )
    return encode_payload_metrics(PayloadMetrics(0, (metric,), 0))


def _finish(
    w: GuestBulkWriter, result: AssertResult, code: int, *, wprof: bytes | None = None
) -> list[Step]:
    """The test's result, then what init sends after dispatch returns: ScenarioPause
    (unconditionally), the wprof trace when one was taken, the scheduler log at
    cleanup, the exit code."""
    return [
        _bulk(w.test_result(encode_assert_result(result, w.profile))),
        _bulk(w.payload_metrics(_metrics())),
        _bulk(w.scenario_pause()),
        *([_bulk(w.wprof(wprof))] if wprof is not None else []),
        _bulk(w.sched_log(SCHED_LOG)),
        _bulk(w.exit(code)),
        PowerOff(),
    ]


def pass_result(profile: str) -> AssertResult:
    if get_profile(profile).test_result == "postcard-e3":
        return AssertResult.pass_("e3")
    return AssertResult.pass_("e4")


# ---- the catalogue -------------------------------------------------------------------

PANIC_INFO = (
    "panicked at src/scenario/ops/mod.rs:812:14:\ncalled `Option::unwrap()` on a `None` value"
)
PANIC_BACKTRACE = (
    "   0: std::backtrace::Backtrace::force_capture\n"
    "             at /rustc/4eb161250e34/library/std/src/backtrace.rs:312:13\n"
    "   1: ktstr::vmm::rust_init::init::ktstr_guest_init::{{closure}}\n"
    "   2: std::panicking::rust_panic_with_hook\n"
)
DUMP_MSG = "invalid DSQ ID 0x42"
PANIC_MESSAGE = "panicked at src/scenario/ops/mod.rs:812:14:"


def _panic_expected(separator: str) -> Expected:
    """A crash reason is ``guest crashed:`` + LF + message in the bulk era (the crash
    message field), ``guest crashed: `` + message in 0.4.9 (found in the output)."""
    return Expected(
        "fail",
        crash_message=PANIC_MESSAGE,
        stage=STAGE_PAYLOAD_STARTED_NO_RESULT,
        reason=f"guest crashed:{separator}{PANIC_MESSAGE}",
    )


def panic_steps() -> list[Step]:
    """Init panics: head and backtrace to COM2 and COM1, then an immediate reboot."""
    return [
        *_serial(console.rust_panic(PANIC_INFO, PANIC_BACKTRACE, onlcr_enabled=False)),
        PowerOff("reboot"),
    ]


def _test_run(
    w: GuestBulkWriter,
    stdout: bytes,
    result: AssertResult,
    code: int,
    *,
    wprof: bytes | None = None,
) -> GuestScript:
    """A test run from boot to power-off: its payload prints ``stdout``, reports
    ``result`` and exits with ``code``."""
    return GuestScript(
        (
            *_boot(w),
            *_payload_start(w),
            Sleep(0.2),
            *_payload_end(w, stdout),
            *_finish(w, result, code, wprof=wprof),
        )
    )


def normal_pass(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    script = _test_run(w, b"workload: 8 workers, 412345 iterations\n", pass_result(profile), 0)
    return Scenario(
        "normal-pass",
        "a test that passes: every phase on the bulk port, silent consoles",
        profile,
        script,
        Expected("pass", verdict="Pass", exit_code=0, stdout_contains="412345 iterations"),
    )


WPROF_TRACE = bytes(range(256)) * 16  # stands in for a Perfetto protobuf


def wprof_trace(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    stdout = b"workload: traced with wprof\n"
    script = _test_run(w, stdout, pass_result(profile), 0, wprof=WPROF_TRACE)
    return Scenario(
        "wprof-trace",
        "a passing test that took a wprof trace: one WPRF frame after ScenarioPause",
        profile,
        script,
        Expected("pass", verdict="Pass", exit_code=0, wprof_frames=1),
    )


def fail_with_details(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    detail = AssertDetail(DetailKind.STARVED, "worker 3 starved for 2100 ms", "Step[0]")
    result = AssertResult.fail(detail)
    script = _test_run(w, b"workload: worker 3 made no progress\n", result, 1)
    return Scenario(
        "fail-with-details",
        "the test's assertions fail: Fail verdict with a Starved detail",
        profile,
        script,
        Expected(
            "fail",
            verdict="Fail",
            exit_code=1,
            reason="test verdict: Fail: worker 3 starved for 2100 ms",
        ),
    )


def scheduler_died_at_startup(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    log = (
        b"scx_simple: failed to load BPF program: -22\n"
        b"libbpf: prog 'simple_enqueue': BPF program load failed\n"
    )
    steps: list[Step] = [
        *_boot(w),
        Sleep(1.0),
        _bulk(w.sched_log(log)),
        _bulk(w.lifecycle(LifecyclePhase.SCHEDULER_DIED)),
        _bulk(w.exit(1)),
        PowerOff(),
    ]
    return Scenario(
        "scheduler-died-at-startup",
        "the scheduler exits within its 1 s liveness window",
        profile,
        GuestScript(tuple(steps)),
        Expected(
            "fail",
            exit_code=1,
            scheduler_died=True,
            stage=STAGE_INIT_STARTED_NO_PAYLOAD,
            reason=(
                "no test result received from guest (no AssertResult arrived via bulk port "
                "or COM2; check kernel log and scheduler exit status)"
            ),
        ),
    )


def scheduler_crash_with_dump(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    dump = console.exit_dump(
        ExitKind.ERROR_BPF,
        msg=DUMP_MSG,
        backtrace=["scx_bpf_error_bstr+0x62/0xa0", "bpf_prog_simple_enqueue+0x3f/0x48"],
        cpu_states=cpu_state_block(
            0, nr_run=2, flags=0x1, cpu_rel=0, ops_qseq=118, pnt_seq=93, curr=("kworker/0:1", 12)
        ),
        onlcr_enabled=False,
    )
    steps: list[Step] = [
        *_boot(w),
        *_payload_start(w),
        Sleep(0.3),
        *_serial(dump),
        # The guest's scheduler monitor sends the log, then SCDX; the host kills the VM
        # on the SCDX, so no TEST and no EXIT follow (verdict.md 1.3, 4).
        _bulk(w.sched_log(SCHED_LOG + f"scx_bpf_error ({DUMP_MSG})\n".encode())),
        _bulk(w.sched_exit(1)),
        Hang(),
    ]
    return Scenario(
        "scheduler-crash-with-dump",
        "scx_bpf_error during the test: exit dump on COM1, scheduler log, SCDX, host kill",
        profile,
        GuestScript(tuple(steps)),
        Expected(
            "fail",
            exit_code=-1,
            scheduler_died=True,
            has_dump=True,
            dump_exit_reason=f"scx_bpf_error ({DUMP_MSG})",
            stage=STAGE_PAYLOAD_STARTED_NO_RESULT,
            reason=f"scheduler exited: scx_bpf_error ({DUMP_MSG})",
            killed="scheduler-exit",
        ),
        timeout_s=20.0,
    )


def guest_panic(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    steps: list[Step] = [
        *_boot(w),
        *_payload_start(w),
        Sleep(0.1),
        *panic_steps(),
    ]
    return Scenario(
        "guest-panic",
        "a Rust panic in the guest's init: PANIC lines on COM2 and COM1",
        profile,
        GuestScript(tuple(steps)),
        _panic_expected("\n"),
    )


def native_fault(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    steps: list[Step] = [
        *_boot(w),
        *_payload_start(w),
        *_serial(console.native_fault(FaultSignal.SIGSEGV, 0x10, onlcr_enabled=False)),
        PowerOff("reboot"),
    ]
    return Scenario(
        "native-fault",
        "SIGSEGV in PID 1: the fatal-signal line on COM2 then COM1",
        profile,
        GuestScript(tuple(steps)),
        Expected(
            "fail",
            crash_message="fatal signal SIGSEGV at addr 0x0000000000000010",
            stage=STAGE_PAYLOAD_STARTED_NO_RESULT,
            reason="guest crashed:\nfatal signal SIGSEGV at addr 0x0000000000000010",
        ),
    )


def host_timeout(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    drain = [_bulk(w.stdout(b"workload: still running at the deadline\n"))]
    steps: list[Step] = [
        *_boot(w),
        *_payload_start(w),
        OnWake(WakeByte.SHUTDOWN, tuple(drain)),
        Hang(),
    ]
    return Scenario(
        "host-timeout",
        "the workload never ends: the host sends 0xD3 at its soft deadline, then kills the VM",
        profile,
        GuestScript(tuple(steps)),
        Expected(
            "fail",
            exit_code=-1,
            timed_out=True,
            stage=STAGE_PAYLOAD_STARTED_NO_RESULT,
            reason="timed out (no result via bulk port or COM2)",
        ),
        # Upstream's soft deadline is the hard one minus 3 s; 16 s leaves a slow (TCG, busy
        # machine) boot time to reach the payload before the deadline.
        host=(HostAction(13.0, bytes([WakeByte.SHUTDOWN])),),
        timeout_s=16.0,
    )


def dump_on_request(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    poller = sysrq_dump_poller()
    steps: list[Step] = [
        *_boot(w, poller=False),
        *_payload_start(w),
        WaitWake(WakeByte.DUMP, 30.0),
        *poller.steps,
        *_payload_end(w, b"workload: done after the dump\n"),
        *_finish(w, pass_result(profile), 0),
    ]
    return Scenario(
        "dump-on-request",
        "the host asks for a SysRq-D dump (0xD1); the test still passes",
        profile,
        GuestScript(tuple(steps)),
        Expected("pass", verdict="Pass", exit_code=0, has_dump=True),
        host=(HostAction(3.0, bytes([WakeByte.DUMP])),),
    )


def initramfs_truncated(profile: str = "ktstr-0.15") -> Scenario:
    kernel_log = (
        b"<3>[    0.912345] Initramfs unpacking failed: write error\n"
        b"<4>[    0.912400] Out of memory: Killed process 1 (init)\n"
    )
    steps: list[Step] = [
        *_serial(console.initramfs_fatal(kernel_log, onlcr_enabled=False)),
        PowerOff("reboot"),
    ]
    return Scenario(
        "initramfs-truncated",
        "the initramfs did not fully extract: FATAL on COM2 and COM1, nothing on the bulk port",
        profile,
        GuestScript(tuple(steps)),
        Expected(
            "fail",
            stage=STAGE_INIT_NOT_STARTED,
            reason="test function produced no output (no test result found)",
        ),
    )


def snapshot_rpc(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    host = HostReplyWriter(profile)
    request = w.snapshot_request(SnapshotKind.CAPTURE, "after-step-1")
    reply = host.snapshot_reply(1, SnapshotStatus.OK)
    steps: list[Step] = [
        *_boot(w),
        *_payload_start(w),
        _bulk(request),
        Sleep(0.05),
        *_payload_end(w, b"snapshot 1 captured\n"),
        *_finish(w, pass_result(profile), 0),
    ]
    return Scenario(
        "snapshot-rpc",
        "the guest asks for a snapshot over the bulk port; the host replies",
        profile,
        GuestScript(tuple(steps)),
        Expected("pass", verdict="Pass", exit_code=0),
        host=(HostAction(0.0, reply, channel=BULK),),
        vm=False,
    )


def shell_exec(profile: str = "ktstr-0.15") -> Scenario:
    w = GuestBulkWriter(profile)
    steps: list[Step] = [
        _bulk(w.kern_addrs(KERNEL_ADDRS)),  # KADR then SRDY, in shell mode too
        _bulk(w.sys_rdy()),
        Write("hvc0", b"Linux ktstr 6.1.0\nhello from --exec\n"),
        _bulk(w.exec_exit(0)),
        PowerOff(),
    ]
    return Scenario(
        "shell-exec",
        "`shell --exec`: command output on hvc0 (OPOST off), exit code as EXCX",
        profile,
        GuestScript(tuple(steps)),
        Expected("pass", exec_exit_code=0),
        vm=False,
    )


def _legacy(*lines: str) -> Write:
    """0.4.9 COM2 sentinel lines, one write (what userspace writes; the tty adds CR)."""
    return Write("com2", "".join(f"{line}\n" for line in lines).encode())


def _legacy_result(passed: bool, message: str = "") -> list[str]:
    details = f'[{{"kind":"Other","message":"{message}"}}]' if message else "[]"
    body = f'{{"passed":{str(passed).lower()},"skipped":false,"details":{details},"stats":{{}}}}'
    return [TEST_RESULT_START, body, TEST_RESULT_END]


LEGACY_START = (SENTINEL_INIT_STARTED, SENTINEL_PAYLOAD_STARTING)


def legacy_run(profile: str = "ktstr-0.4") -> Scenario:
    steps: list[Step] = [
        _legacy(*LEGACY_START, "workload: 8 workers", *_legacy_result(True), "KTSTR_EXIT=0"),
        PowerOff(),
    ]
    return Scenario(
        "legacy-0.4.9",
        "a ktstr 0.4.9 guest: sentinels and the JSON result on COM2",
        profile,
        GuestScript(tuple(steps)),
        Expected("pass", verdict="Pass", exit_code=0, stdout_contains="workload: 8 workers"),
    )


def legacy_shell_exec(profile: str = "ktstr-0.4") -> Scenario:
    steps: list[Step] = [
        Write("hvc0", b"hello from --exec\n"),
        Write("com2", legacy_exec_exit_line(3).encode()),
        PowerOff(),
    ]
    return Scenario(
        "legacy-shell-exec",
        "ktstr 0.4.9 `shell --exec`: the command's exit code as KTSTR_EXEC_EXIT= on COM2",
        profile,
        GuestScript(tuple(steps)),
        Expected("fail", exec_exit_code=3, reason="exec command exited with 3"),
        vm=False,
    )


def legacy_scheduler_died(profile: str = "ktstr-0.4") -> Scenario:
    steps: list[Step] = [
        _legacy(
            SENTINEL_INIT_STARTED,
            SCHED_OUTPUT_START,
            "scx_simple: load failed",
            SCHED_OUTPUT_END,
            "SCHEDULER_DIED",
            "KTSTR_EXIT=1",
        ),
        PowerOff(),
    ]
    return Scenario(
        "legacy-scheduler-died",
        "a ktstr 0.4.9 guest whose scheduler died at start-up",
        profile,
        GuestScript(tuple(steps)),
        Expected(
            "fail",
            exit_code=1,
            scheduler_died=True,
            stage=STAGE_INIT_STARTED_NO_PAYLOAD,
            reason=(
                "no test result received from guest (no AssertResult arrived via SHM or "
                "COM2; check kernel log and scheduler exit status)"
            ),
        ),
    )


def legacy_scheduler_crash_with_dump(profile: str = "ktstr-0.4") -> Scenario:
    dump = console.exit_dump(ExitKind.ERROR_BPF, msg=DUMP_MSG, onlcr_enabled=False)
    steps: list[Step] = [
        _legacy(*LEGACY_START),
        *_serial(dump),
        _legacy(
            SCHED_OUTPUT_START,
            f"scx_bpf_error ({DUMP_MSG})",
            SCHED_OUTPUT_END,
            *_legacy_result(False, "scheduler crashed"),
            "KTSTR_EXIT=1",
        ),
        PowerOff(),
    ]
    return Scenario(
        "legacy-scheduler-crash-with-dump",
        "a ktstr 0.4.9 guest whose scheduler crashed: dump on COM1, failing JSON result",
        profile,
        GuestScript(tuple(steps)),
        Expected(
            "fail",
            verdict="Fail",
            exit_code=1,
            has_dump=True,
            dump_exit_reason=f"scx_bpf_error ({DUMP_MSG})",
            reason="test verdict: Fail: scheduler crashed",
        ),
    )


def legacy_guest_panic(profile: str = "ktstr-0.4") -> Scenario:
    steps: list[Step] = [
        _legacy(*LEGACY_START),
        *panic_steps(),
    ]
    return Scenario(
        "legacy-guest-panic",
        "a ktstr 0.4.9 guest whose init panicked",
        profile,
        GuestScript(tuple(steps)),
        _panic_expected(" "),
    )


def legacy_native_fault(profile: str = "ktstr-0.4") -> Scenario:
    steps: list[Step] = [
        _legacy(*LEGACY_START),
        *_serial(console.native_fault(FaultSignal.SIGBUS, 0xDEAD000, onlcr_enabled=False)),
        PowerOff("reboot"),
    ]
    return Scenario(
        "legacy-native-fault",
        "a ktstr 0.4.9 guest killed by SIGBUS",
        profile,
        GuestScript(tuple(steps)),
        Expected(
            "fail",
            crash_message="fatal signal SIGBUS at addr 0x000000000dead000",
            stage=STAGE_PAYLOAD_STARTED_NO_RESULT,
            reason="guest crashed: fatal signal SIGBUS at addr 0x000000000dead000",
        ),
    )


def legacy_timeout(profile: str = "ktstr-0.4") -> Scenario:
    steps: list[Step] = [_legacy(*LEGACY_START, "workload: still running"), Hang()]
    return Scenario(
        "legacy-timeout",
        "a ktstr 0.4.9 guest that never finishes: the host kills it at the deadline",
        profile,
        GuestScript(tuple(steps)),
        Expected(
            "fail",
            exit_code=-1,
            timed_out=True,
            stage=STAGE_PAYLOAD_STARTED_NO_RESULT,
            reason="timed out (no result in SHM or COM2)",
        ),
        timeout_s=8.0,
    )


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    s().name: s
    for s in (
        normal_pass,
        wprof_trace,
        fail_with_details,
        scheduler_died_at_startup,
        scheduler_crash_with_dump,
        guest_panic,
        native_fault,
        host_timeout,
        dump_on_request,
        initramfs_truncated,
        snapshot_rpc,
        shell_exec,
        legacy_run,
        legacy_shell_exec,
        legacy_scheduler_died,
        legacy_scheduler_crash_with_dump,
        legacy_guest_panic,
        legacy_native_fault,
        legacy_timeout,
    )
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]()
    except KeyError:
        raise UsageError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


# ---- synthetic transcript ------------------------------------------------------------


_UARTS = frozenset(c.name for c in CHANNELS if c.uart is not None)


def _wire(channel: str, data: bytes) -> bytes:
    return console.onlcr(data) if channel in _UARTS else data


def _duration(channel: str, n: int) -> float:
    if channel in _UARTS:
        return n / SERIAL_BYTES_PER_S
    return 0.0002 + n / 500e6


@dataclass
class _Sim:
    scenario: Scenario
    events: list[tuple[float, int, Chunk | Mark]] = field(default_factory=list)
    seq: int = 0
    pending_host: list[HostAction] = field(default_factory=list)
    replies: list[HostAction] = field(default_factory=list)
    ended: bool = False

    def emit(self, event: Chunk | Mark) -> None:
        heapq.heappush(self.events, (event.t, self.seq, event))
        self.seq += 1

    def write(self, t: float, channel: str, data: bytes) -> float:
        if channel == BULK and data[:4] == MsgType.SNAPSHOT_REQUEST.wire:
            reply = next((a for a in self.replies if a.channel == BULK), None)
            if reply is not None:
                self.replies.remove(reply)
                end = self.write(t, channel, data) + 0.0005
                self.host_send(reply, end)
                return end + 0.0005
        wire = _wire(channel, data)
        step = 256 * 1024 if channel == BULK else 4096
        for i in range(0, len(wire), step):
            part = wire[i : i + step]
            t += _duration(channel, len(part))
            self.emit(Chunk(round(t, 6), channel, "g2h", part))
        if channel == BULK:
            killed = next(
                (why for tag, why in HOST_KILL_TAGS.items() if data[:4] == tag.wire), None
            )
            if killed is not None:  # the host kills the VM as soon as it reads the frame
                self.end(t + 0.005, None, False, killed)
        return t

    def host_send(self, action: HostAction, t: float) -> None:
        self.emit(Chunk(round(t, 6), action.channel, "h2g", action.data))

    def take_wake(self, byte: int) -> HostAction | None:
        for action in self.pending_host:
            if action.channel == WAKE_CHANNEL and byte in action.data:
                self.pending_host.remove(action)
                return action
        return None

    def run(self, steps: Sequence[Step], t: float) -> float:
        for step in steps:
            if self.ended:
                break
            t = self.step(step, t)
        return t

    def step(self, step: Step, t: float) -> float:
        if isinstance(step, Write):
            return self.write(t, step.channel, step.data)
        if isinstance(step, Sleep):
            return t + step.seconds
        if isinstance(step, WaitWake):
            action = self.take_wake(step.byte)
            if action is None:
                return t + step.timeout_s
            at = max(t, action.at_s)
            self.host_send(action, at)
            return at + 0.01
        if isinstance(step, OnWake):
            action = self.take_wake(step.byte)
            if action is not None:
                at = max(t, action.at_s)
                self.host_send(action, at)
                self.run(step.steps, at + 0.01)
            return t
        if isinstance(step, DieMidFrame):
            t = self.write(t, BULK, step.frame[: step.keep])
            self.end(t + 0.05, 0, False)
            return t
        if isinstance(step, Hang):
            self.end(self.scenario.timeout_s, None, True)
            return t
        if isinstance(step, PowerOff):
            self.end(t + 0.05, 0, False)
            return t
        raise UsageError(f"unknown step {step!r}")

    def end(self, t: float, status: int | None, timed_out: bool, killed: str | None = None) -> None:
        if not self.ended:
            self.ended = True
            data = {"status": status, "timed_out": timed_out, "killed": killed}
            self.emit(Mark(round(t, 6), VM_EXIT_MARK, data))


def synthetic_transcript(scenario: Scenario) -> Transcript:
    """The transcript a host would record from ``scenario``, with plausible timing."""
    header = Header(
        scenario.profile,
        recorder={"name": "ktstr-py", "source": "synthetic"},
        meta={"scenario": scenario.name, "description": scenario.description},
    )
    sim = _Sim(
        scenario,
        pending_host=[a for a in scenario.host if a.channel == WAKE_CHANNEL],
        replies=[a for a in scenario.host if a.channel == BULK],  # answer requests
    )
    t = sim.run(scenario.script.steps, BOOT_S)
    sim.end(t + 0.05, 0, False)
    for action in sim.pending_host:
        if action.at_s <= scenario.timeout_s:
            sim.host_send(action, action.at_s)  # nobody waited for it: sent anyway
    events = [e for _, _, e in sorted(sim.events, key=lambda x: (x[0], x[1]))]
    return Transcript(header, events)
