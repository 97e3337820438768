"""The guest's COM1/COM2 output as data: lists of :class:`ConsoleWrite` in emission order.

Each ``write()`` the guest makes becomes one :class:`ConsoleWrite` holding the bytes as
they reach the wire. Userspace writes pass through the tty, whose default termios
(OPOST + ONLCR) turns every LF into CR LF; pass ``onlcr_enabled=False`` for a tty with
OPOST cleared (shell ``--exec`` mode). Kernel printk output gets CR LF from the 8250
console driver itself, so :func:`printk` always uses CR LF. Concatenate the writes of
one channel with :func:`transcript` to get what the host captures.

Sources: serial.md sections 3, 4, 6 and 12 (guest at likewhatevs/ktstr 13576bc3b4cf:
``init.rs`` panic hook and FATAL path, ``asmsig.rs`` fatal-signal handler,
``dump.rs`` trace-pipe forwarder, ``mounts.rs``/``modes.rs`` diagnostics).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ktstr_proto import serial as s
from ktstr_proto.errors import UsageError
from ktstr_proto.serial import SerialChannel, check_channel


@dataclass(frozen=True, slots=True)
class ConsoleWrite:
    """One guest ``write()`` on a serial port, as bytes on the wire."""

    channel: SerialChannel
    data: bytes


def onlcr(data: bytes) -> bytes:
    """The tty's ONLCR output mapping: every LF becomes CR LF (an existing CR stays)."""
    return data.replace(b"\n", b"\r\n")


def transcript(writes: Iterable[ConsoleWrite], channel: SerialChannel) -> bytes:
    """The bytes the host captures on ``channel``: its writes, concatenated in order."""
    check_channel(channel)
    return b"".join(w.data for w in writes if w.channel == channel)


def tty_write(
    channel: SerialChannel, data: bytes | str, *, onlcr_enabled: bool = True
) -> list[ConsoleWrite]:
    """One userspace write through the tty (empty writes produce nothing)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not raw:
        return []
    return [ConsoleWrite(check_channel(channel), onlcr(raw) if onlcr_enabled else raw)]


def _sequence(
    pieces: Iterable[tuple[SerialChannel, bytes | str]], onlcr_enabled: bool
) -> list[ConsoleWrite]:
    out: list[ConsoleWrite] = []
    for channel, data in pieces:
        out += tty_write(channel, data, onlcr_enabled=onlcr_enabled)
    return out


# ---- crashes (C1-C3) ---------------------------------------------------------------------


def rust_panic(info: str, backtrace: str, *, onlcr_enabled: bool = True) -> list[ConsoleWrite]:
    """C1: head to COM2, head to COM1, backtrace to COM2, backtrace to COM1.

    ``info`` is the panic display (see :func:`ktstr_proto.serial.rust_panic_info`),
    ``backtrace`` the backtrace display (:func:`ktstr_proto.serial.format_backtrace`).
    """
    head = s.panic_head(info)
    tail = s.panic_backtrace(backtrace)
    return _sequence(
        [("com2", head), ("com1", head), ("com2", tail), ("com1", tail)], onlcr_enabled
    )


def native_fault(
    signal: s.FaultSignal | str, addr: int, *, onlcr_enabled: bool = True
) -> list[ConsoleWrite]:
    """C2: the handler's three writes (prefix, 16 hex digits, LF) on COM2, then on COM1."""
    parts = s.fatal_signal_writes(signal, addr)
    chans: tuple[SerialChannel, ...] = ("com2", "com1")
    return _sequence([(c, p) for c in chans for p in parts], onlcr_enabled)


def tracing_line(timestamp: str, level: str, target: str, message: str) -> str:
    """A ``tracing_subscriber::fmt`` line without ANSI: ``{ts} {LEVEL:>5} {target}:
    {message}`` + LF (fields, if any, belong in ``message``)."""
    return f"{timestamp} {level.upper():>5} {target}: {message}\n"


INIT_TRACING_TARGET = "ktstr::vmm::rust_init::init"


def initramfs_fatal(
    kernel_log: bytes, *, tracing_timestamp: str | None = None, onlcr_enabled: bool = True
) -> list[ConsoleWrite]:
    """C3: raw kernel log to COM2 then COM1, then the FATAL text (no LF) to COM2 then
    COM1; with ``tracing_timestamp``, also K5's tracing error line on COM1."""
    pieces: list[tuple[SerialChannel, bytes | str]] = [
        ("com2", kernel_log),
        ("com1", kernel_log),
        ("com2", s.INITRAMFS_FATAL),
        ("com1", s.INITRAMFS_FATAL),
    ]
    if tracing_timestamp is not None:
        line = tracing_line(tracing_timestamp, "ERROR", INIT_TRACING_TARGET, s.INITRAMFS_FATAL)
        pieces.append(("com1", line))
    return _sequence(pieces, onlcr_enabled)


# ---- sched_ext dump forwarding (section 6) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The ftrace prefix fields of a dump: the task that ran ``scx_dump_state`` (also the
    exit header's ``comm[pid]``), its CPU, irq flags, first timestamp and the step
    between lines, in microseconds."""

    comm: str = "scx_simple"
    pid: int = 231
    cpu: int = 1
    flags: str = "d.h2."
    ts_us: int = 14_002_113
    step_us: int = 1

    def lines(self, bodies: Iterable[str]) -> list[str]:
        """Each body as a ``trace_pipe`` line (no LF)."""
        return [
            s.format_trace_line(
                body,
                comm=self.comm,
                pid=self.pid,
                cpu=self.cpu,
                ts_us=self.ts_us + i * self.step_us,
                flags=self.flags,
            )
            for i, body in enumerate(bodies)
        ]


EXIT_DUMP_CONTEXT = TraceContext()
"""Default prefix of an exit dump: the §13.3 example's task and CPU. A real kernel dumps
an error exit from irq_work (hardirq: ``h`` in the flags), so the trace line's task and the
header's ``comm[pid]`` are both whatever task that interrupted (6.12: a forked shell for
``scx_bpf_error``, the watchdog's kworker for a stall), seldom the scheduler itself."""
SYSRQ_DUMP_CONTEXT = TraceContext(comm="hvc0-poll", pid=58, cpu=0, flags="d..1.")
"""Default prefix of a SysRq-D dump: init's ``hvc0-poll`` thread writes ``D`` to
``/proc/sysrq-trigger`` and the kernel dumps in that thread's context."""


def forwarded_trace(
    lines: Iterable[str], *, chunk: int = s.TRACE_PIPE_READ, onlcr_enabled: bool = True
) -> list[ConsoleWrite]:
    """K4: ``trace_pipe`` text (each line + LF) copied to COM1 in reads of ``chunk``
    bytes, one write per read."""
    if chunk <= 0:
        raise UsageError("chunk must be positive")
    data = "".join(f"{line}\n" for line in lines).encode("utf-8")
    pieces: list[tuple[SerialChannel, bytes | str]] = [
        ("com1", data[i : i + chunk]) for i in range(0, len(data), chunk)
    ]
    return _sequence(pieces, onlcr_enabled)


def exit_dump(
    kind: int,
    *,
    msg: str = "",
    reason: str | None = None,
    backtrace: Sequence[str] = (),
    cpu_states: Sequence[str] = (),
    events: Sequence[tuple[str, int]] | None = None,
    truncate_after: int | None = None,
    event_counters: bool = True,
    ops_dump: Sequence[str] = (),
    context: TraceContext = EXIT_DUMP_CONTEXT,
    chunk: int = s.TRACE_PIPE_READ,
    onlcr_enabled: bool = True,
) -> list[ConsoleWrite]:
    """An exit dump of ``kind`` (64, 65, 1024, 1025, 1026, ...) forwarded to COM1.

    The body follows ``scx_dump_state`` (see :func:`ktstr_proto.serial.dump_body`) and
    ends with the event counters, the last being ``SCX_EV_SUB_BYPASS_DISPATCH`` by
    default. ``truncate_after=N`` keeps the first N body lines and ends with a
    ``~~~~ TRUNCATED ~~~~`` line instead (a synthetic case: kernels put that marker in
    the exit buffer, not through the tracepoint). Kind 0 gives the SysRq-D form.
    ``event_counters=False`` gives a 6.12 kernel's dump (no counters, no end marker);
    ``ops_dump`` adds the scheduler's own ``ops.dump()`` lines.
    """
    bodies = s.dump_body(
        kind,
        comm=context.comm,
        pid=context.pid,
        reason=reason,
        msg=msg,
        backtrace=backtrace,
        cpu_states=cpu_states,
        events=events,
        event_counters=event_counters,
        ops_dump=ops_dump,
    )
    if truncate_after is not None:
        if truncate_after < 0:
            raise UsageError("truncate_after must be >= 0")
        bodies = [*bodies[:truncate_after], s.DUMP_TRUNCATED]
    return forwarded_trace(context.lines(bodies), chunk=chunk, onlcr_enabled=onlcr_enabled)


def sysrq_dump(
    *,
    cpu_states: Sequence[str] = (),
    events: Sequence[tuple[str, int]] | None = None,
    context: TraceContext = SYSRQ_DUMP_CONTEXT,
    chunk: int = s.TRACE_PIPE_READ,
    onlcr_enabled: bool = True,
) -> list[ConsoleWrite]:
    """A SysRq-D dump (wake byte 0xD1): kind 0, header ``Debug dump triggered by
    SysRq-D``, no reason or backtrace lines."""
    return exit_dump(
        s.ExitKind.NONE,
        cpu_states=cpu_states,
        events=events,
        context=context,
        chunk=chunk,
        onlcr_enabled=onlcr_enabled,
    )


# ---- diagnostics (C4-C10), kernel log, legacy sentinels ------------------------------------


MOUNTS_TRACING_TARGET = "ktstr::vmm::rust_init::mounts"


def init_diagnostic(
    text: str, *, tracing_timestamp: str | None = None, onlcr_enabled: bool = True
) -> list[ConsoleWrite]:
    """One ``ktstr-init:`` diagnostic (C4-C9) on COM2, written as given: build the text
    with the ``ktstr_proto.serial`` functions, which include the LF where upstream has
    one. C5 and C6 are also logged as a tracing warning, which reaches COM1 (K2): pass
    ``tracing_timestamp`` to add that line."""
    out = tty_write("com2", text, onlcr_enabled=onlcr_enabled)
    if tracing_timestamp is not None:
        warn = tracing_line(tracing_timestamp, "WARN", MOUNTS_TRACING_TARGET, text.rstrip("\n"))
        out += tty_write("com1", warn, onlcr_enabled=onlcr_enabled)
    return out


def mkfs_diag(diag: s.MkfsDiag, *, onlcr_enabled: bool = True) -> list[ConsoleWrite]:
    """C10: the whole MKFS_DIAG block as one COM2 write."""
    return tty_write("com2", s.format_mkfs_diag(diag), onlcr_enabled=onlcr_enabled)


def printk(
    messages: Iterable[str], *, start_us: int = 0, step_us: int = 1000
) -> list[ConsoleWrite]:
    """K1: kernel console lines on COM1, ``[{sec:>5}.{usec:06}] {message}`` + CR LF, one
    write per message (the console driver adds the CR whatever the termios)."""
    out: list[ConsoleWrite] = []
    for i, message in enumerate(messages):
        sec, usec = divmod(start_us + i * step_us, 1_000_000)
        line = f"[{sec:>5}.{usec:06}] {message}\r\n"
        out.append(ConsoleWrite("com1", line.encode("utf-8")))
    return out


def legacy_com2(texts: Iterable[str], *, onlcr_enabled: bool = True) -> list[ConsoleWrite]:
    """0.4.9 ``write_com2``: each text + LF as its own COM2 write (sentinels such as
    ``KTSTR_INIT_STARTED``, ``KTSTR_EXIT=0``, ``SCHEDULER_NOT_ATTACHED: timeout``)."""
    return _sequence([("com2", f"{text}\n") for text in texts], onlcr_enabled)
