"""A guest that runs a real BPF scheduler on a sched_ext kernel, the way ktstr's init does.

The kernel (``tools/build-scx-kernel.sh``) has the virtio drivers built in. /init (busybox
sh, with the helpers of :func:`ktstr_guest.initramfs.init_prelude`) does, in order
(serial.md sections 5.1, 6 and 11):

1. SRDY and Lifecycle InitStarted on the bulk port;
2. starts ``/scheduler`` (its output in ``/tmp/sched.log``) and waits up to 10 s for
   ``/sys/kernel/sched_ext/state`` to read ``enabled`` (else: the log, SchedulerDied, EXIT 1);
3. enables the ``sched_ext_dump`` trace event and copies ``trace_pipe`` to COM1 (``cat``:
   one write per read, through the tty, so LF becomes CR LF as with ktstr's forwarder);
4. Lifecycle PayloadStarting, ScenarioStart, Stimulus, then a workload (busy loops and
   short-lived processes, so the scheduler sees many enqueues);
5. ``trigger="sysrq"``: waits for the host's 0xD1 on hvc0 and writes ``D`` to
   ``/proc/sysrq-trigger``; at the end SOUT, StepEnd, ScenarioEnd, ScenarioPause, a Pass
   TEST, SIGKILL for the scheduler, its log between the SCHED_OUTPUT markers, tracing off,
   EXIT 0;
   ``trigger="exit"``: the scheduler is expected to die by itself (``scx_bpf_error`` or a
   stall); the monitor sends its log and SCDX with its exit status (upstream's host then
   kills the VM; here the guest lets COM1 drain for a few seconds and powers off).

"Power off" is ``reboot -f`` (ktstr's guest reboots too; QEMU runs with ``-no-reboot``).

Frames whose content is known in advance are built here with :class:`GuestBulkWriter`;
frames known only at run time (scheduler log, stdout, SCDX) are built by the shell
function ``send_frame`` (busybox ``crc32`` is the IEEE CRC-32 of bulk.md section 2).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from ktstr_proto.channels import BULK
from ktstr_proto.errors import UsageError
from ktstr_proto.frame import build_frame
from ktstr_proto.payloads import LifecyclePhase, Stimulus
from ktstr_proto.schemas import encode_assert_result
from ktstr_proto.serial import WakeByte
from ktstr_proto.tags import MsgType

from .bulk_writer import (
    SCHED_LOG_CHUNK_BYTES,
    SCHED_OUTPUT_END,
    SCHED_OUTPUT_START,
    GuestBulkWriter,
)
from .cpio import CpioWriter
from .initramfs import (
    CONSOLE_DEVICE,
    CONSOLE_PORT_NAME,
    PORT_NAMES,
    WAKE_READER,
    BusyboxError,
    InitramfsError,
    find_busybox,
    init_prelude,
    is_static_elf,
)
from .scenarios import pass_result

Trigger: TypeAlias = Literal["sysrq", "exit"]
SCHED_ATTACH_TIMEOUT_S = 10
EXIT_DRAIN_S = 4
DUMP_DRAIN_S = 2
TRACE_EVENT_ENABLE = "/sys/kernel/tracing/events/sched_ext/sched_ext_dump/enable"


@dataclass(frozen=True, slots=True)
class ScxRun:
    """One recorded run: which scheduler, with which arguments, and how its dump comes."""

    name: str
    description: str
    scheduler: str
    args: tuple[str, ...] = ()
    trigger: Trigger = "sysrq"
    workload_s: int = 4
    """Workload length (``sysrq``) or the longest wait for the scheduler to die (``exit``)."""
    profile: str = "ktstr-0.15"
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.trigger not in ("sysrq", "exit"):
            raise UsageError(f"unknown trigger {self.trigger!r}")
        if self.workload_s < 1:
            raise UsageError("workload_s must be >= 1")


SCX_RUNS: dict[str, ScxRun] = {
    r.name: r
    for r in (
        ScxRun(
            "sysrq-dump",
            "scx_simple attached; the host sends 0xD1 on hvc0, the guest writes D to "
            "/proc/sysrq-trigger and the kernel dumps through the sched_ext_dump event",
            "scx_simple",
            trigger="sysrq",
        ),
        ScxRun(
            "scheduler-error",
            "scx_qmap -e 2000: scx_bpf_error() after 2000 enqueues (a few seconds under "
            "TCG), exit dump of kind 1025 through the sched_ext_dump event, scheduler log "
            "and SCDX",
            "scx_qmap",
            ("-e", "2000"),
            trigger="exit",
            workload_s=30,
        ),
        ScxRun(
            "scheduler-stall",
            "scx_qmap -t 100: every 100th user-task enqueue is never dispatched, the "
            "watchdog ends the scheduler with a runnable task stall (kind 1026)",
            "scx_qmap",
            ("-t", "100"),
            trigger="exit",
            workload_s=40,
        ),
    )
}


def get_scx_run(name: str) -> ScxRun:
    try:
        return SCX_RUNS[name]
    except KeyError:
        raise UsageError(f"unknown scx run {name!r}; known: {', '.join(SCX_RUNS)}") from None


# --------------------------------------------------------------------------- frames

STEP = Stimulus(
    elapsed_ms=0,
    step_index=1,
    op_count=1,
    op_kinds=1,
    cgroup_count=0,
    worker_count=3,
    total_iterations=0,
)


@dataclass(frozen=True, slots=True)
class Frames:
    """Pre-built frames of one run, each written by /init with one ``cat``."""

    boot: bytes
    """SRDY, Lifecycle InitStarted."""
    payload_start: bytes
    """Lifecycle PayloadStarting, ScenarioStart, Stimulus."""
    sched_died: bytes
    exit_fail: bytes
    log_start: bytes
    log_end: bytes
    pass_tail: bytes
    """ScenarioPause then the Pass TEST frame."""
    exit_ok: bytes
    step_end: bytes


def run_frames(run: ScxRun) -> Frames:
    w = GuestBulkWriter(run.profile)
    done = Stimulus(
        elapsed_ms=run.workload_s * 1000,
        step_index=STEP.step_index,
        op_count=STEP.op_count,
        op_kinds=STEP.op_kinds,
        cgroup_count=STEP.cgroup_count,
        worker_count=STEP.worker_count,
        total_iterations=0,
    )
    return Frames(
        boot=w.sys_rdy() + w.lifecycle(LifecyclePhase.INIT_STARTED),
        payload_start=(
            w.lifecycle(LifecyclePhase.PAYLOAD_STARTING) + w.scenario_start() + w.stimulus(STEP)
        ),
        sched_died=w.lifecycle(LifecyclePhase.SCHEDULER_DIED),
        exit_fail=w.exit(1),
        log_start=build_frame(MsgType.SCHED_LOG, SCHED_OUTPUT_START),
        log_end=build_frame(MsgType.SCHED_LOG, SCHED_OUTPUT_END),
        pass_tail=(
            w.scenario_end(run.workload_s * 1000)
            + w.scenario_pause()
            + w.test_result(encode_assert_result(pass_result(run.profile), w.profile))
        ),
        exit_ok=w.exit(0),
        step_end=w.step_end(done) if w.profile.step_end else b"",
    )


def dump_request_after_bytes(run: ScxRun) -> int:
    """Bulk bytes the guest has written when it starts waiting for 0xD1."""
    f = run_frames(run)
    return len(f.boot) + len(f.payload_start)


# --------------------------------------------------------------------------- /init

SEND_FRAME = r"""
le32() {
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $((($1 >> 8) & 255)) \
        $((($1 >> 16) & 255)) $((($1 >> 24) & 255)))"
}
# send_frame TAG FILE: one bulk frame (header: tag, length, CRC-32, pad; then FILE).
send_frame() {
    n=$(wc -c <"$2")
    c=$(crc32 <"$2")
    { le32 "$1"; le32 "$n"; le32 "$((0x$c))"; le32 0; cat "$2"; } >/tmp/frame.bin
    cat /tmp/frame.bin >>"$BULK"
}
# send_stream TAG FILE CHUNK: FILE as frames of at most CHUNK bytes (none if empty).
send_stream() {
    i=0
    while :; do
        dd if="$2" of=/tmp/chunk.bin bs="$3" skip="$i" count=1 2>/dev/null
        [ -s /tmp/chunk.bin ] || break
        send_frame "$1" /tmp/chunk.bin
        i=$((i + 1))
    done
}
send_text() {
    printf '%s\n' "$2" >/tmp/text.bin
    send_frame "$1" /tmp/text.bin
}
"""
"""Shell functions that frame run-time data; ``$BULK`` is the bulk port device."""


def _quote(arg: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.,:=/+-]+", arg):
        raise UsageError(f"scheduler argument {arg!r} has characters this guest does not quote")
    return arg


def render_scx_init(run: ScxRun) -> str:
    """The /init text of ``run`` (it reads the frame files of :func:`frame_files`)."""
    args = " ".join(_quote(a) for a in run.args)
    cs = 100
    sclg, sout, scdx = (int(MsgType.SCHED_LOG), int(MsgType.STDOUT), int(MsgType.SCHED_EXIT))
    lines = [
        init_prelude(),
        SEND_FRAME,
        "# power off is a reset (as ktstr's guest does), which QEMU's -no-reboot ends on",
        "poweroff() { reboot -f; }",
        "mount -t tracefs tracefs /sys/kernel/tracing || fatal 'cannot mount tracefs'",
        f'BULK="$(wait_port {PORT_NAMES[BULK]})" || fatal "no bulk port"',
        f"wait_port {CONSOLE_PORT_NAME} >/dev/null && wait_file {CONSOLE_DEVICE} || "
        "fatal 'no hvc0'",
        "mkdir -p /run/ktstr-wake",
        "setsid sh /ktstr/wake-reader.sh &",
        "wait_file /run/ktstr-wake/ready || fatal 'hvc0 wake reader did not start'",
        'cat /ktstr/frames/boot.bin >>"$BULK"',
        "send_log() {",
        '    cat /ktstr/frames/log_start.bin >>"$BULK"',
        f"    send_stream {sclg} /tmp/sched.log {SCHED_LOG_CHUNK_BYTES}",
        '    cat /ktstr/frames/log_end.bin >>"$BULK"',
        "}",
        f'log "starting /scheduler {args}"',
        f"/scheduler {args} >/tmp/sched.log 2>&1 &",
        "SCHED=$!",
        f"end=$(( $(now_cs) + {SCHED_ATTACH_TIMEOUT_S * cs} ))",
        'until [ "$(cat /sys/kernel/sched_ext/state 2>/dev/null)" = enabled ]; do',
        '    if ! kill -0 "$SCHED" 2>/dev/null || [ "$(now_cs)" -ge "$end" ]; then',
        '        log "scheduler did not attach"',
        "        send_log",
        '        cat /ktstr/frames/sched_died.bin /ktstr/frames/exit_fail.bin >>"$BULK"',
        "        poweroff -f",
        "    fi",
        "    usleep 10000",
        "done",
        f"echo 1 >{TRACE_EVENT_ENABLE} || fatal 'cannot enable sched_ext_dump'",
        "cat /sys/kernel/tracing/trace_pipe >/dev/ttyS0 &",
        "FWD=$!",
        'cat /ktstr/frames/payload_start.bin >>"$BULK"',
        "spin() {",
        "    n=0; end=$(( $(now_cs) + $1 ))",
        '    while [ "$(now_cs)" -lt "$end" ]; do n=$((n + 1)); done',
        '    echo "$n" >"/tmp/spin.$2"',
        "}",
        "wakeups() {",
        "    end=$(( $(now_cs) + $1 ))",
        '    while [ "$(now_cs)" -lt "$end" ]; do usleep 2000; done',
        "}",
        f"spin {run.workload_s * cs} 1 & S1=$!",
        f"spin {run.workload_s * cs} 2 & S2=$!",
        f"wakeups {run.workload_s * cs} & WORK=$!",
    ]
    if run.trigger == "sysrq":
        lines += [
            f"wait_wake {int(WakeByte.DUMP):02x} 3000 || fatal 'no 0xd1 from the host'",
            'log "dump requested: SysRq-D"',
            "echo D >/proc/sysrq-trigger",
            'wait "$S1" "$S2" "$WORK"',
            "iters=$(( $(cat /tmp/spin.1) + $(cat /tmp/spin.2) ))",
            f'send_text {sout} "workload: 2 spinners, $iters iterations in {run.workload_s} s"',
            'cat /ktstr/frames/step_end.bin /ktstr/frames/pass_tail.bin >>"$BULK"',
            'kill -9 "$SCHED"; wait "$SCHED"',
            "send_log",
            f"sleep {DUMP_DRAIN_S}",
            f"echo 0 >{TRACE_EVENT_ENABLE}",
            "echo 0 >/sys/kernel/tracing/tracing_on",
            'kill "$FWD"',
            'cat /ktstr/frames/exit_ok.bin >>"$BULK"',
        ]
    else:
        lines += [
            f"end=$(( $(now_cs) + {run.workload_s * cs} ))",
            'while kill -0 "$SCHED" 2>/dev/null; do',
            '    [ "$(now_cs)" -ge "$end" ] && fatal "the scheduler did not exit"',
            "    usleep 20000",
            "done",
            'wait "$SCHED"; code=$?',
            'log "scheduler exited with status $code"',
            "send_log",
            'le32 "$code" >/tmp/scdx.bin',
            f"send_frame {scdx} /tmp/scdx.bin",
            f"sleep {EXIT_DRAIN_S}",
        ]
    lines.append("poweroff -f")
    return "\n".join(lines) + "\n"


def frame_files(run: ScxRun) -> dict[str, bytes]:
    """Archive path -> bytes of every pre-built frame file."""
    f = run_frames(run)
    names = (
        "boot",
        "payload_start",
        "sched_died",
        "exit_fail",
        "log_start",
        "log_end",
        "pass_tail",
        "exit_ok",
        "step_end",
    )
    return {f"ktstr/frames/{n}.bin": getattr(f, n) for n in names}


# --------------------------------------------------------------------------- archive

_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def shared_libraries(binary: Path, ldd: str = "ldd") -> list[Path]:
    """The absolute paths ``ldd`` lists for ``binary`` (the loader included)."""
    done = subprocess.run([ldd, str(binary)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InitramfsError(f"ldd {binary} failed: {done.stderr.strip() or done.stdout.strip()}")
    libs = [Path(m.group(1)) for m in map(_LDD_PATH.search, done.stdout.splitlines()) if m]
    for lib in libs:
        if not lib.is_file():
            raise InitramfsError(f"{binary} needs {lib}, which is missing")
    return libs


def build_scx_initramfs(run: ScxRun, scheduler_dir: Path, *, busybox: Path | None = None) -> bytes:
    """The newc archive for ``run``: busybox, the scheduler and its libraries, frames, /init.

    ``scheduler_dir`` holds the built schedulers (``tools/sched_ext/build/bin``).
    """
    bb = busybox if busybox is not None else find_busybox()
    if not is_static_elf(bb):
        raise BusyboxError(f"{bb} is not a statically linked 64-bit ELF")
    binary = scheduler_dir / run.scheduler
    if not binary.is_file():
        raise InitramfsError(f"scheduler {binary} not found: run tools/build-scx-kernel.sh")
    archive = CpioWriter()
    for d in ("dev", "proc", "sys", "run", "tmp", "bin"):
        archive.add_dir(d)
    archive.add_device("dev/console", "c", 5, 1)
    archive.add_device("dev/null", "c", 1, 3, 0o666)
    archive.add_file("bin/busybox", bb.read_bytes(), 0o755)
    for applet in _applets(bb):
        archive.add_symlink(f"bin/{applet}", "busybox")
    archive.add_file("scheduler", binary.read_bytes(), 0o755)
    for lib in shared_libraries(binary):
        archive.add_file(str(lib).lstrip("/"), lib.resolve().read_bytes(), 0o755)
    archive.add_file("ktstr/wake-reader.sh", WAKE_READER.encode(), 0o755)
    for path, data in frame_files(run).items():
        archive.add_file(path, data)
    archive.add_file("init", render_scx_init(run).encode(), 0o755)
    return archive.to_bytes()


def _applets(busybox: Path) -> Sequence[str]:
    done = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=False)
    names = [n for n in done.stdout.split() if re.fullmatch(r"[a-z0-9_.\[-]+", n)]
    if done.returncode != 0 or "sh" not in names:
        raise BusyboxError(f"{busybox} --list failed")
    return [n for n in names if n != "busybox"]
