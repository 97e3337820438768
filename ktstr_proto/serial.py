"""COM1, COM2 and hvc0 (serial.md): every string, line format and constant, as data.

Nothing here does I/O. Strings ending in ``\\n`` are what a guest process hands to
``write()``; the tty turns each LF into CR LF on the wire (see ``ktstr_guest.console``).
Strings noted "no LF" are written without one, exactly as upstream does.

Upstream references (repository ``likewhatevs/ktstr``): guest strings from
``src/vmm/rust_init/{init,asmsig,dump,mounts,modes}.rs`` at 13576bc3b4cf; host constants
from ``src/vmm/console.rs`` at 1f3b340c8343 and ``src/test_support/output.rs`` at
237c19fef61e. The kernel side (ftrace line layout, ``scx_dump_state`` bodies, exit kinds)
comes from Linux ``kernel/trace/trace_output.c`` and ``kernel/sched/ext.c``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Literal, cast

from construct import Int64ul

from .channels import BY_NAME, COM1, COM2, HVC0, names_read_by
from .errors import UsageError

# ---- channels (section 1) --------------------------------------------------------------

SerialChannel = Literal["com1", "com2"]
"""A channel the serial decoder reads (``decoder="serial"`` in ``ktstr_proto.channels``)."""
CHANNELS = cast(tuple[SerialChannel, ...], names_read_by("serial"))
COM1_DEVICE = BY_NAME[COM1].device
COM2_DEVICE = BY_NAME[COM2].device
HVC0_DEVICE = BY_NAME[HVC0].device


def check_channel(channel: object) -> SerialChannel:
    """Return ``channel`` if it names COM1 or COM2, else raise :class:`UsageError`."""
    if channel in CHANNELS:
        return channel
    raise UsageError(f"channel must be {' or '.join(map(repr, CHANNELS))}, got {channel!r}")


# ---- Rust text semantics the host relies on (section 2) --------------------------------

RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Unicode ``White_Space``, what Rust's ``trim``/``split_whitespace`` use. Python's
``str.strip()`` would also remove U+001C..U+001F."""

_RUST_WS_RUN = re.compile(f"[{re.escape(RUST_WHITESPACE)}]+")


def rust_trim(text: str) -> str:
    """Rust ``str::trim``."""
    return text.strip(RUST_WHITESPACE)


def rust_trim_start(text: str) -> str:
    """Rust ``str::trim_start``."""
    return text.lstrip(RUST_WHITESPACE)


def rust_split_whitespace(text: str) -> list[str]:
    """Rust ``str::split_whitespace``."""
    return [part for part in _RUST_WS_RUN.split(text) if part]


def rust_lines(text: str) -> list[str]:
    """Rust ``str::lines``: split on LF; a line ended by LF loses one trailing CR; no
    empty final line after a trailing LF. A CR at the very end with no LF is kept
    (current Rust; versions before 1.76 dropped it too)."""
    if not text:
        return []
    parts = text.split("\n")
    last = parts.pop()
    lines = [p[:-1] if p.endswith("\r") else p for p in parts]
    if last:
        lines.append(last)
    return lines


def decode_lossy(data: bytes | bytearray | memoryview) -> str:
    """``String::from_utf8_lossy``: each maximal invalid subsequence becomes U+FFFD."""
    return bytes(data).decode("utf-8", errors="replace")


def rust_debug_str(text: str) -> str:
    """Rust ``{:?}`` of a ``&str``: double quotes, ``\\"``, ``\\\\``, ``\\n``, ``\\r``,
    ``\\t``, ``\\0``, and ``\\u{..}`` for control and other non-printable characters.

    Rust's printability table is approximated with Unicode categories (Cc, Cf, Co, Cn,
    Cs, Zl, Zp, and Zs other than space; combining marks only at the start).
    """
    out = ['"']
    for i, ch in enumerate(text):
        simple = _DEBUG_ESCAPES.get(ch)
        if simple is not None:
            out.append(simple)
            continue
        cat = unicodedata.category(ch)
        hidden = cat in _NON_PRINTABLE or (cat == "Zs" and ch != " ")
        if hidden or (i == 0 and cat in ("Mn", "Me")):
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_DEBUG_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
_NON_PRINTABLE = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})


# ---- COM2: Rust panic, fatal signal, initramfs FATAL (section 3, C1-C3) ----------------

PANIC_PREFIX = "PANIC:"
"""Start of every guest crash line; the host's ``crash_message`` keys on it."""


def rust_panic_info(file: str, line: int, column: int, message: str | None) -> str:
    """Rust's ``PanicHookInfo`` display: ``panicked at FILE:LINE:COL:`` + LF + message,
    or only ``panicked at FILE:LINE:COL`` when the payload is not a string."""
    where = f"panicked at {file}:{line}:{column}"
    return where if message is None else f"{where}:\n{message}"


def panic_head(info: str) -> str:
    """C1 first write (to COM2, then COM1): ``PANIC: {info}`` + LF."""
    return f"{PANIC_PREFIX} {info}\n"


BACKTRACE_LOCATION_INDENT = " " * 13
BACKTRACE_INLINE_INDENT = " " * 6


@dataclass(frozen=True, slots=True)
class BacktraceFrame:
    """One frame of a Rust backtrace: symbols (the first is the frame's own, later ones
    inlined) each with an optional ``file:line:col`` location."""

    symbols: tuple[tuple[str, str | None], ...]


def format_backtrace(frames: Sequence[BacktraceFrame | str]) -> str:
    """``std::backtrace::Backtrace`` display (short style, Linux): per frame
    ``{index:>4}: {symbol}`` + LF, inlined symbols indented 6, locations as 13 spaces +
    ``at {location}`` + LF. A plain ``str`` frame is a symbol without location. An empty
    list renders as ``disabled backtrace`` (no LF), as Rust does for a disabled capture."""
    if not frames:
        return "disabled backtrace"
    out: list[str] = []
    for index, frame in enumerate(frames):
        symbols = frame.symbols if isinstance(frame, BacktraceFrame) else ((frame, None),)
        if not symbols:
            symbols = (("<unknown>", None),)
        for k, (name, location) in enumerate(symbols):
            lead = f"{index:>4}: " if k == 0 else BACKTRACE_INLINE_INDENT
            out.append(f"{lead}{name}\n")
            if location is not None:
                out.append(f"{BACKTRACE_LOCATION_INDENT}at {location}\n")
    return "".join(out)


def panic_backtrace(backtrace: str) -> str:
    """C1 second write (to COM2, then COM1): the backtrace display + LF."""
    return f"{backtrace}\n"


class FaultSignal(StrEnum):
    """Signals with a fatal-signal handler in PID 1 (asmsig.rs); ``UNKNOWN`` is the
    handler's fallback text."""

    SIGSEGV = "SIGSEGV"
    SIGBUS = "SIGBUS"
    SIGILL = "SIGILL"
    UNKNOWN = "(unknown)"


U64_MAX = 0xFFFFFFFFFFFFFFFF


def fatal_signal_writes(signal: FaultSignal | str, addr: int) -> tuple[bytes, bytes, bytes]:
    """C2 as the three ``write()`` calls the handler makes on each port: the prefix
    ``PANIC: fatal signal {sig} at addr 0x``, 16 lowercase zero-padded hex digits, LF."""
    sig = FaultSignal(signal)
    if not isinstance(addr, int) or isinstance(addr, bool) or not 0 <= addr <= U64_MAX:
        raise UsageError(f"addr must be an int in 0..2**64-1, got {addr!r}")
    prefix = f"{PANIC_PREFIX} fatal signal {sig.value} at addr 0x".encode("ascii")
    return prefix, f"{addr:016x}".encode("ascii"), b"\n"


def fatal_signal_line(signal: FaultSignal | str, addr: int) -> str:
    """C2 as one string, LF included."""
    return b"".join(fatal_signal_writes(signal, addr)).decode("ascii")


_FATAL_SIGNAL_RE = re.compile(
    r"PANIC: fatal signal (SIGSEGV|SIGBUS|SIGILL|\(unknown\)) at addr 0x([0-9a-f]{16})\Z"
)


def parse_fatal_signal(line: str) -> tuple[FaultSignal, int] | None:
    """``(signal, addr)`` when ``line`` (Rust-trimmed) is exactly a C2 line, else None."""
    m = _FATAL_SIGNAL_RE.match(rust_trim(line))
    if m is None:
        return None
    return FaultSignal(m.group(1)), int(m.group(2), 16)


INIT_OK_SENTINEL_PATH = "/.ktstr_init_ok"
INITRAMFS_FATAL = (
    "FATAL: initramfs extraction incomplete \u2014 kernel ran out of memory during cpio "
    "extraction. This indicates a bug in ktstr's memory estimation. Please report this "
    "issue. As a workaround, try `--memory N` with a larger value."
)
"""C3 (b): written to COM2 then COM1 with **no trailing LF**, after the raw kernel log."""

# ---- COM2: ``ktstr-init:`` diagnostics (C4-C9) ------------------------------------------

KTSTR_INIT_PREFIX = "ktstr-init: "


def hvc0_poll_disabled(error: str) -> str:
    """C4 (LF): the wake-byte thread could not open hvc0; ``error`` is io::Error text,
    e.g. ``No such file or directory (os error 2)``."""
    return f"{KTSTR_INIT_PREFIX}hvc0 poll loop disabled \u2014 open {HVC0_DEVICE}: {error}\n"


def disk_fs_not_recognized(value: str) -> str:
    """C5 (no LF): ``KTSTR_DISK0_FS`` is not ``btrfs``."""
    return (
        f"{KTSTR_INIT_PREFIX}KTSTR_DISK0_FS={value} not recognized; skipping auto-mount of /dev/vda"
    )


def disk_mount_failed(fstype: str, mountpoint: str, read_only: bool, errno_text: str) -> str:
    """C6 (no LF): ``errno_text`` is nix's display, e.g. ``EINVAL: Invalid argument``."""
    ro = "true" if read_only else "false"
    return f"{KTSTR_INIT_PREFIX}mount {fstype} on {mountpoint} (ro={ro}): {errno_text}"


def malformed_cgroup_file(file: str, value: str) -> str:
    """C7 (LF): malformed ``/workload_root_cgroup`` or ``/scheduler_cgroup_parent``."""
    return (
        f"{KTSTR_INIT_PREFIX}ignoring malformed `{file}` value {rust_debug_str(value)}; "
        "skipping cgroup creation (host-side `CgroupPath::new` gate normally rejects this "
        "at compile time)\n"
    )


def malformed_cell_parent(value: str) -> str:
    """C8 (LF): bad ``--cell-parent-cgroup`` value in ``/sched_args``."""
    return (
        f"{KTSTR_INIT_PREFIX}ignoring malformed `--cell-parent-cgroup` value "
        f"{rust_debug_str(value)} in /sched_args; skipping per-test cgroup creation "
        "(host-side gate normally panics on this)\n"
    )


CELL_PARENT_BARE = (
    f"{KTSTR_INIT_PREFIX}ignoring bare `--cell-parent-cgroup` (no value) in /sched_args; "
    "skipping per-test cgroup creation\n"
)
"""C8 (LF): ``--cell-parent-cgroup`` without a value."""


def subtree_control_failed(cgroup_dir: str, error: str) -> str:
    """C9 (LF): writing ``+cpuset +cpu`` to ``{cgroup_dir}/cgroup.subtree_control`` failed."""
    return f"{KTSTR_INIT_PREFIX}write {cgroup_dir}/cgroup.subtree_control +cpuset +cpu: {error}\n"


def com1_fallback_message(msg: str) -> str:
    """What ``write_com2`` logs (tracing warn, target ``com1_fallback``) when COM2 cannot
    be opened; ``msg`` is the text without LF."""
    return f"{KTSTR_INIT_PREFIX}{msg}"


# ---- COM2: disk-template MKFS_DIAG block (C10) ------------------------------------------

MKFS_BIN = "/bin/mkfs.btrfs"
BTRFS_MAGIC_OFFSET = 0x10040
BTRFS_DEV_MAGIC = 0x4D5F53665248425F
"""``_BHRfS_M`` read as a little-endian u64."""
MKFS_NO_OP_EXIT = 64
BtrfsMagic = Int64ul
"""The 8-byte little-endian superblock magic slot at ``BTRFS_MAGIC_OFFSET``."""


def btrfs_magic(image: bytes) -> int | None:
    """The u64 at ``BTRFS_MAGIC_OFFSET`` of a disk image, or None if it is too short."""
    end = BTRFS_MAGIC_OFFSET + BtrfsMagic.sizeof()
    if len(image) < end:
        return None
    value: int = BtrfsMagic.parse(bytes(image[BTRFS_MAGIC_OFFSET:end]))
    return value


@dataclass(frozen=True, slots=True)
class MkfsDiag:
    """Inputs of the C10 block. ``*_error`` fields hold io::Error text and replace the
    value they stand for; ``exit_code`` None with no ``spawn_error`` renders ``None``
    (killed by a signal)."""

    vda_exists: bool
    sysfs_vda_exists: bool
    mkfs_size: int = 0
    metadata_error: str | None = None
    exit_code: int | None = 0
    spawn_error: str | None = None
    stdout: str = ""
    stderr: str = ""
    magic: int | None = BTRFS_DEV_MAGIC
    magic_error: str | None = None
    flush_error: str | None = None

    @property
    def result_code(self) -> int:
        """The code the guest reports: mkfs's exit (1 if none), 64 for a silent no-op."""
        if self.spawn_error is not None:
            return 1
        code = 1 if self.exit_code is None else self.exit_code
        if code == 0 and not self.magic_ok:
            return MKFS_NO_OP_EXIT
        return code

    @property
    def magic_ok(self) -> bool:
        return self.magic_error is None and self.magic == BTRFS_DEV_MAGIC


def format_mkfs_diag(diag: MkfsDiag) -> str:
    """The C10 block, one ``write()`` on COM2; every line LF-terminated.

    Per modes.rs at 13576bc (beyond serial.md): ``MKFS_STDOUT:`` and ``MKFS_STDERR:``
    are followed by LF, then the text, then LF; a failed spawn gives ``MKFS_DIAG mkfs
    spawn failed: {e}`` instead of the exit/stdout/stderr lines; flush and verdict lines
    appear only after a zero exit."""

    def flag(b: bool) -> str:
        return "true" if b else "false"

    out = [
        f"MKFS_DIAG /dev/vda exists={flag(diag.vda_exists)} "
        f"/sys/class/block/vda exists={flag(diag.sysfs_vda_exists)}\n"
    ]
    if diag.metadata_error is not None:
        out.append(f"MKFS_DIAG {MKFS_BIN} metadata failed: {diag.metadata_error}\n")
    else:
        out.append(f"MKFS_DIAG {MKFS_BIN} size={diag.mkfs_size}\n")
    if diag.spawn_error is not None:
        out.append(f"MKFS_DIAG mkfs spawn failed: {diag.spawn_error}\n")
    else:
        status = "None" if diag.exit_code is None else f"Some({diag.exit_code})"
        out.append(
            f"MKFS_DIAG exit={status}\nMKFS_STDOUT:\n{diag.stdout}\nMKFS_STDERR:\n{diag.stderr}\n"
        )
    if diag.magic_error is not None:
        magic = f"read failed: {diag.magic_error}"
    else:
        magic = f"0x{(diag.magic or 0) & U64_MAX:016x}"
    out.append(f"MKFS_DIAG in-guest /dev/vda magic@0x10040 = {magic}\n")
    if diag.spawn_error is None and diag.exit_code == 0:
        if diag.flush_error is not None:
            out.append(f"MKFS_DIAG flush: {diag.flush_error}\n")
        if not diag.magic_ok:
            out.append(MKFS_VERDICT_NO_OP)
    return "".join(out)


MKFS_VERDICT_NO_OP = (
    "MKFS_DIAG VERDICT: mkfs exited 0 but /dev/vda has no btrfs magic in-guest \u2014 "
    "silent no-op (exit overridden to 64)\n"
)

# ---- COM1 sources (section 4) ------------------------------------------------------------


class Com1Source(StrEnum):
    """What can put bytes on COM1 (serial.md section 4, K1-K5)."""

    PRINTK = "printk"
    """K1: kernel console; only with ``loglevel=7`` (verbose host)."""
    INIT_STDERR = "init-stderr"
    """K2: PID 1's tracing output before stdio moves to the bulk port."""
    PANIC_MIRROR = "panic-mirror"
    """K3: C1, C2 and C3 mirrored from COM2."""
    TRACE_PIPE = "trace-pipe"
    """K4: forwarded ``trace_pipe`` bytes (the sched_ext dump)."""
    TRACING_ERROR = "tracing-error"
    """K5: the initramfs FATAL text logged through tracing."""


SYS_RDY_TIMEOUT_WARNING = (
    "ktstr-init: send_sys_rdy failed within boot budget; see "
    "https://likewhatevs.github.io/ktstr/guide/troubleshooting.html#send_sys_rdy-timeout"
)
"""K2 example: tracing warn message (fields budget_ms, vcpus, elapsed_ms, port_exists,
kern_addrs_sent follow in tracing format)."""

# ---- hvc0 wake bytes (section 5) --------------------------------------------------------


class WakeByte(IntEnum):
    """Single bytes the host pushes into hvc0 in test mode."""

    DUMP = 0xD1
    """SysRq-D: the kernel emits a sched_ext debug dump through the tracepoint."""
    SHUTDOWN = 0xD3
    """Graceful drain: stop forwarding, ``tracing_on`` = 0, flush, tcdrain (no reboot)."""
    BPF_WRITE_DONE = 0xBF
    ACCESSOR_READY = 0xAC
    PERIODIC_READY = 0xAD
    """Later hosts only; ignored by the 13576bc guest."""
    WPROF_ARTIFACTS_RECEIVED = 0xAE
    """Later hosts only; ignored by the 13576bc guest."""


HVC0_READ_SIZE = 16
HVC0_POLL_MS = 1000
_GUEST_WAKE_ORDER = (
    WakeByte.DUMP,
    WakeByte.BPF_WRITE_DONE,
    WakeByte.ACCESSOR_READY,
    WakeByte.SHUTDOWN,
)


def guest_wake_actions(read: bytes) -> tuple[WakeByte, ...]:
    """What the 13576bc guest does for one hvc0 ``read()`` (at most 16 bytes): each known
    byte present acts once, in the guest's fixed order (dump, bpf-write-done,
    accessor-ready, shutdown), whatever the byte order; shutdown ends the loop."""
    if len(read) > HVC0_READ_SIZE:
        raise UsageError(f"one hvc0 read returns at most {HVC0_READ_SIZE} bytes")
    return tuple(b for b in _GUEST_WAKE_ORDER if b in read)


# ---- sched_ext dump on COM1 (section 6) ------------------------------------------------

SCHED_EXT_DUMP_MARKER = "sched_ext_dump:"
"""Dump start latch (guest) and dump-line filter (host); the colon is part of it."""
DUMP_END_EVENT = "SCX_EV_SUB_BYPASS_DISPATCH"
DUMP_TRUNCATED = "~~~~ TRUNCATED ~~~~"
DUMP_END_MARKERS = (DUMP_END_EVENT, DUMP_TRUNCATED)
SCAN_TAIL_KEEP = 32
TRACE_PIPE_READ = 4096
EXIT_ANCHOR = "triggered exit kind"
DEBUG_DUMP_ANCHOR = "Debug dump triggered by"
KERNEL_VERSION_NEEDLE = "Linux version "
"""The kernel's boot banner; the token after it is the release (``extract_kernel_version``)."""
EVENT_COUNTERS_SINCE = (6, 15)
"""First release whose dump ends with the ``Event counters`` section. Earlier dumps (6.12,
checked on a real one) end after the CPU states with no end line at all, so neither
end marker ever reaches ``trace_pipe`` (``~~~~ TRUNCATED ~~~~`` is written into the exit
buffer only, never through the tracepoint). The counters came with 6.15's event-counter
infrastructure; 6.13 and 6.14 were not checked here."""
DUMP_END_OF_STREAM = "end-of-stream"
DUMP_NEXT_DUMP = "next-dump"
"""Pseudo end markers of a dump on a kernel without an end line (:func:`dump_has_end_line`):
the stream ended, or the next dump's header arrived."""

_RELEASE_RE = re.compile(r"(\d+)\.(\d+)")


def dump_has_end_line(kernel_release: str | None) -> bool:
    """Whether this kernel's dumps end with a line the host can see (the last event
    counter). True for unknown or unparsable releases: the fact sheets' kernel."""
    m = _RELEASE_RE.match(kernel_release or "")
    if m is None:
        return True
    return (int(m.group(1)), int(m.group(2))) >= EVENT_COUNTERS_SINCE


class ExitKind(IntEnum):
    """``enum scx_exit_kind`` (kernel/sched/ext.c). Kernels dump state only for kinds
    >= ERROR; a SysRq-D dump reports kind NONE."""

    # serial.md section 6 calls 65 "SYSRQ"; the kernel enum has 65 = UNREG_BPF and
    # 67 = SYSRQ (sysrq-S). We follow the kernel.

    NONE = 0
    DONE = 1
    UNREG = 64
    UNREG_BPF = 65
    UNREG_KERN = 66
    SYSRQ = 67
    ERROR = 1024
    ERROR_BPF = 1025
    ERROR_STALL = 1026


EXIT_REASONS: dict[int, str] = {
    ExitKind.UNREG: "unregistered from user space",
    ExitKind.UNREG_BPF: "unregistered from BPF",
    ExitKind.UNREG_KERN: "unregistered from the main kernel",
    ExitKind.SYSRQ: "disabled by sysrq-S",
    ExitKind.ERROR: "runtime error",
    ExitKind.ERROR_BPF: "scx_bpf_error",
    ExitKind.ERROR_STALL: "runnable task stall",
}
"""``scx_exit_reason()``: the ``reason`` shown in the second dump line."""

EVENT_COUNTERS: tuple[str, ...] = (
    "SCX_EV_SELECT_CPU_FALLBACK",
    "SCX_EV_DISPATCH_LOCAL_DSQ_OFFLINE",
    "SCX_EV_DISPATCH_KEEP_LAST",
    "SCX_EV_ENQ_SKIP_EXITING",
    "SCX_EV_ENQ_SKIP_MIGRATION_DISABLED",
    "SCX_EV_REFILL_SLICE_DFL",
    "SCX_EV_BYPASS_DURATION",
    "SCX_EV_BYPASS_DISPATCH",
    "SCX_EV_BYPASS_ACTIVATE",
    "SCX_EV_INSERT_NOT_OWNED",
    "SCX_EV_SUB_BYPASS_DISPATCH",
)
"""Event-counter lines of a kernel with sub-scheduler support, in dump order."""


def format_trace_line(
    body: str,
    *,
    comm: str,
    pid: int,
    cpu: int,
    ts_us: int,
    flags: str = "d..1.",
    event: str = "sched_ext_dump",
) -> str:
    """One ``trace_pipe`` line without LF, in the default ftrace layout
    (``trace_print_context`` + ``trace_print_time`` + event name)::

        {comm:>16}-{pid:<7} [{cpu:03}] {flags} {sec:>5}.{usec:06}: {event}: {body}

    ``flags`` is the 5-character irq-info field (``d.h2.``); ``ts_us`` is the timestamp
    in microseconds. Widths are minimums, as in the kernel's printf. The seconds are
    ``%5lu`` (serial.md writes ``{sec}``; its own section 13.3 lines use the padding).
    """
    if ts_us < 0 or pid < 0 or cpu < 0:
        raise UsageError("ts_us, pid and cpu must be non-negative")
    sec, usec = divmod(ts_us, 1_000_000)
    return f"{comm:>16}-{pid:<7} [{cpu:03}] {flags} {sec:>5}.{usec:06}: {event}: {body}"


def exit_dump_header(comm: str, pid: int, kind: int) -> str:
    """First body line of an exit dump (kind != 0)."""
    return f"{comm}[{pid}] {EXIT_ANCHOR} {kind}:"


_EXIT_HEADER_RE = re.compile(
    r"(?P<comm>.*)\[(?P<pid>\d{1,10})\] " + EXIT_ANCHOR + r" (?P<kind>\d{1,10}):"
)


def parse_exit_dump_header(body: str) -> tuple[str, int, int] | None:
    """``(comm, pid, kind)`` of an :func:`exit_dump_header` line, None for any other
    text. On 6.12 ``comm[pid]`` is the task the exit's irq_work interrupted (the dump
    runs from irq_work), not necessarily the scheduler or the failing task."""
    m = _EXIT_HEADER_RE.fullmatch(body)
    if m is None:
        return None
    return m.group("comm"), int(m.group("pid")), int(m.group("kind"))


def exit_kind_name(kind: int) -> str:
    """``1025 (ERROR_BPF)``; the bare number for a kind this enum does not know."""
    try:
        return f"{kind} ({ExitKind(kind).name})"
    except ValueError:
        return str(kind)


def exit_dump_reason(reason: str, msg: str) -> str:
    """Second body line: two spaces, reason, message in parentheses."""
    return f"  {reason} ({msg})"


def debug_dump_header(reason: str = "SysRq-D") -> str:
    """First body line of a kind-0 dump (SysRq-D), which has no reason/backtrace lines.

    serial.md says a SysRq-D dump has a "kind 0 header"; ``scx_dump_state`` prints this
    form, not ``triggered exit kind 0:``, for kind NONE (upstream's own dump fixtures use
    it too: ``Debug dump triggered by ...``)."""
    return f"{DEBUG_DUMP_ANCHOR} {reason}"


def cpu_state_block(
    cpu: int,
    *,
    nr_run: int,
    flags: int,
    cpu_rel: int,
    pnt_seq: int,
    curr: tuple[str, int],
    sched_class: str = "ext_sched_class",
    ops_qseq: int | None = None,
) -> list[str]:
    """The lines ``scx_dump_state`` opens one CPU's state with: a blank line,
    ``CPU %-4d: nr_run=%u flags=0x%x cpu_rel=%d pnt_seq=%lu`` and
    ``          curr=COMM[PID] class=%ps`` (``curr`` is ``(comm, pid)``). 6.12 (checked on
    real dumps) prints no ``ops_qseq``; ``ops_qseq=N`` adds ``ops_qseq=N `` before
    ``pnt_seq`` as the scenarios' newer kernel does (not checked on a real kernel here).
    Task blocks and the ``cpus_to_*`` lines follow in a real dump."""
    qseq = "" if ops_qseq is None else f"ops_qseq={ops_qseq} "
    head = f"CPU {cpu:<4d}: nr_run={nr_run} flags=0x{flags:x} cpu_rel={cpu_rel} "
    head += f"{qseq}pnt_seq={pnt_seq}"
    return ["", head, f"          curr={curr[0]}[{curr[1]}] class={sched_class}"]


def event_counter_line(name: str, value: int) -> str:
    """``%40s: %16lld``."""
    return f"{name:>40}: {value:>16}"


def dump_body(
    kind: int,
    *,
    comm: str = "",
    pid: int = 0,
    reason: str | None = None,
    msg: str = "",
    backtrace: Iterable[str] = (),
    cpu_states: Iterable[str] = (),
    events: Iterable[tuple[str, int]] | None = None,
    event_counters: bool = True,
    ops_dump: Iterable[str] = (),
) -> list[str]:
    """Body lines of ``scx_dump_state`` in order. Kind 0 gives the debug header
    (``reason`` defaults to ``SysRq-D``); other kinds give header, reason line, blank
    line, ``Backtrace:`` and frames (``"  "`` + frame). Then a blank line, ``CPU
    states``, its rule, ``cpu_states``, a blank line, ``Event counters``, its rule and one
    line per counter (default: every :data:`EVENT_COUNTERS` at 0).

    ``event_counters=False`` gives the layout of kernels before the event counters
    (6.12, checked on a real dump): the body ends after the CPU states, so it never
    carries an end marker. ``ops_dump`` lines (the scheduler's ``ops.dump()``, e.g.
    scx_qmap's ``QMAP FIFO[0]:``) come after the header and backtrace, behind a blank
    line, as the kernel prints them. Each CPU state should start with a blank line
    (:func:`cpu_state_block`)."""
    if kind == ExitKind.NONE:
        lines = [debug_dump_header(reason if reason is not None else "SysRq-D")]
    else:
        why = reason if reason is not None else EXIT_REASONS.get(kind, "<UNKNOWN>")
        lines = [exit_dump_header(comm, pid, kind), exit_dump_reason(why, msg), "", "Backtrace:"]
        lines += [f"  {frame}" for frame in backtrace]
    own = list(ops_dump)
    if own:
        lines += ["", *own]
    lines += ["", "CPU states", "----------", *cpu_states]
    if not event_counters:
        return lines
    lines += ["", "Event counters", "--------------"]
    counters = events if events is not None else ((name, 0) for name in EVENT_COUNTERS)
    lines += [event_counter_line(name, value) for name, value in counters]
    return lines


# ---- host capture and panic latch (section 9.1) ---------------------------------------

CAPTURE_CAP = 4 * 1024 * 1024
"""Host serial buffer cap: once it holds more, the oldest bytes go..."""
CAPTURE_TRIM = 3 * 1024 * 1024
"""...so that this many remain (checked after every byte)."""
PANIC_LATCH_TAIL = 256
KERNEL_PANIC_MARKERS = ("Kernel panic - not syncing", "Attempted to kill init")
KERNEL_PANIC_FALLBACK = "guest kernel panic"

# ---- host result rendering (section 9.2) -----------------------------------------------

STAGE_INIT_NOT_STARTED = "init script never started (kernel or mount failure)"
STAGE_INIT_STARTED_NO_PAYLOAD = "init started but payload never ran (cgroup/scheduler setup failed)"
STAGE_PAYLOAD_STARTED_NO_RESULT = "payload started but produced no test result"
DIAGNOSTICS_HEADER = "--- diagnostics ---"
DIAGNOSTICS_TAIL_LINES = 20
DUMP_SECTION_HEADER = "--- sched_ext dump ---"

# ---- legacy 0.4.9 COM2 sentinels (section 12) ------------------------------------------

SENTINEL_INIT_STARTED = "KTSTR_INIT_STARTED"
SENTINEL_PAYLOAD_STARTING = "KTSTR_PAYLOAD_STARTING"
SENTINEL_EXIT_PREFIX = "KTSTR_EXIT="
SENTINEL_EXEC_EXIT_PREFIX = "KTSTR_EXEC_EXIT="
SENTINEL_SCHEDULER_DIED = "SCHEDULER_DIED"
SENTINEL_SCHEDULER_NOT_ATTACHED = "SCHEDULER_NOT_ATTACHED"
NOT_ATTACHED_TIMEOUT = "timeout"
NOT_ATTACHED_SYSFS_ABSENT = "sched_ext sysfs absent"
TEST_RESULT_START = "===KTSTR_TEST_RESULT_START==="
TEST_RESULT_END = "===KTSTR_TEST_RESULT_END==="
SCHED_OUTPUT_START = "===SCHED_OUTPUT_START==="
SCHED_OUTPUT_END = "===SCHED_OUTPUT_END==="
PROBE_OUTPUT_START = "===PROBE_OUTPUT_START==="
PROBE_OUTPUT_END = "===PROBE_OUTPUT_END==="
LEGACY_COM1_FALLBACK_PREFIX = "ktstr-init [COM1 fallback]: "


def legacy_exit_line(code: int) -> str:
    """``KTSTR_EXIT={code}`` + LF."""
    return f"{SENTINEL_EXIT_PREFIX}{code}\n"


def legacy_exec_exit_line(code: int) -> str:
    """``KTSTR_EXEC_EXIT={code}`` + LF (written to stderr in shell ``--exec`` mode)."""
    return f"{SENTINEL_EXEC_EXIT_PREFIX}{code}\n"


def legacy_not_attached_line(reason: str) -> str:
    """``SCHEDULER_NOT_ATTACHED: {reason}`` + LF."""
    return f"{SENTINEL_SCHEDULER_NOT_ATTACHED}: {reason}\n"


def legacy_marked_block(start: str, body: str, end: str) -> str:
    """Three ``println!`` calls (test result, probe output): ``start``, ``body`` and
    ``end``, each + LF."""
    return f"{start}\n{body}\n{end}\n"


def legacy_sched_output_block(log: str) -> str:
    """0.4.9 ``dump_sched_output``: ``===SCHED_OUTPUT_START===`` + LF, the log file
    verbatim (no LF added, so an unterminated log runs into the end marker), then
    ``===SCHED_OUTPUT_END===`` + LF."""
    return f"{SCHED_OUTPUT_START}\n{log}{SCHED_OUTPUT_END}\n"


# ---- kernel messages of a sched_ext exit (host's parse_kmsg_window) ---------------------

SCX_KMSG_EXIT_ANCHOR = 'sched_ext: BPF scheduler "'
"""Starts the kernel's line for a disabled BPF scheduler:
``sched_ext: BPF scheduler "NAME" disabled (REASON)``."""
KMSG_TRACE_FRAMING = ("Call Trace:", "<TASK>", "</TASK>")
"""Stack-trace framing lines skipped inside an exit event."""
KMSG_EVENT_WORDS = ("sched_ext", "scx_", "bpf")
"""A follow-on line without one of these (case-insensitive) ends an exit event."""
