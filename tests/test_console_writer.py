"""Guest console writer (ktstr_guest.console) and writer -> decoder round trips.

Expected bytes are written by hand from serial.md sections 3, 4, 6, 12 and 13.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktstr_guest import console as c
from ktstr_guest.console import ConsoleWrite
from ktstr_host.decode.extractors import (
    extract_bug_summary,
    extract_exit_from_dump_trace,
    extract_panic_message,
    extract_sched_ext_dump,
)
from ktstr_host.decode.serial import (
    DumpEnd,
    DumpLine,
    DumpStart,
    FatalSignal,
    KernelPanic,
    Line,
    PanicHead,
    SerialDecoder,
    SerialEvent,
    decode_serial,
)
from ktstr_proto import serial as s
from ktstr_proto.errors import UsageError

INFO = "panicked at src/scenario/ops/mod.rs:812:14:\ncalled `Option::unwrap()` on a `None` value"
BT = "   0: std::backtrace::Backtrace::force_capture\n   1: main\n"


def test_onlcr_and_transcript() -> None:
    assert c.onlcr(b"a\nb\r\n\n") == b"a\r\nb\r\r\n\r\n"
    writes = [ConsoleWrite("com1", b"a"), ConsoleWrite("com2", b"b"), ConsoleWrite("com1", b"c")]
    assert c.transcript(writes, "com1") == b"ac"
    with pytest.raises(UsageError):
        c.transcript(writes, "hvc0")  # type: ignore[arg-type]
    assert c.tty_write("com2", "x\n", onlcr_enabled=False) == [ConsoleWrite("com2", b"x\n")]
    assert c.tty_write("com2", b"") == []


def test_rust_panic_write_order_13_4() -> None:
    head = (
        b"PANIC: panicked at src/scenario/ops/mod.rs:812:14:\r\n"
        b"called `Option::unwrap()` on a `None` value\r\n"
    )
    tail = b"   0: std::backtrace::Backtrace::force_capture\r\n   1: main\r\n\r\n"
    assert c.rust_panic(INFO, BT) == [
        ConsoleWrite("com2", head),
        ConsoleWrite("com1", head),
        ConsoleWrite("com2", tail),
        ConsoleWrite("com1", tail),
    ]
    raw = c.rust_panic(INFO, BT, onlcr_enabled=False)
    assert raw[0].data == head.replace(b"\r\n", b"\n")


def test_native_fault_is_three_writes_per_port() -> None:
    prefix = b"PANIC: fatal signal SIGSEGV at addr 0x"
    writes = c.native_fault("SIGSEGV", 0x10)
    assert writes == [
        ConsoleWrite("com2", prefix),
        ConsoleWrite("com2", b"0000000000000010"),
        ConsoleWrite("com2", b"\r\n"),
        ConsoleWrite("com1", prefix),
        ConsoleWrite("com1", b"0000000000000010"),
        ConsoleWrite("com1", b"\r\n"),
    ]
    assert (
        c.transcript(writes, "com2")
        == b"PANIC: fatal signal SIGSEGV at addr 0x0000000000000010\r\n"
    )


def test_initramfs_fatal_writes() -> None:
    log = b"<3>[    0.5] Out of memory\n"
    fatal = s.INITRAMFS_FATAL.encode()
    writes = c.initramfs_fatal(log)
    assert writes == [
        ConsoleWrite("com2", b"<3>[    0.5] Out of memory\r\n"),
        ConsoleWrite("com1", b"<3>[    0.5] Out of memory\r\n"),
        ConsoleWrite("com2", fatal),
        ConsoleWrite("com1", fatal),
    ]
    assert not c.transcript(writes, "com2").endswith(b"\n")
    traced = c.initramfs_fatal(b"", tracing_timestamp="2025-01-01T00:00:00.000000Z")
    assert [w.channel for w in traced] == ["com2", "com1", "com1"]
    assert traced[-1].data == (
        b"2025-01-01T00:00:00.000000Z ERROR ktstr::vmm::rust_init::init: " + fatal + b"\r\n"
    )
    # the FATAL text ends the capture without LF: an unterminated last line
    last = decode_serial(c.transcript(writes, "com2"), "com2")[-1]
    assert isinstance(last, Line) and not last.terminated and last.text == s.INITRAMFS_FATAL


def test_tracing_line_pads_level() -> None:
    assert c.tracing_line("T", "warn", "t", "m") == "T  WARN t: m\n"


def test_exit_dump_text() -> None:
    ctx = c.TraceContext(comm="scx_simple", pid=231, cpu=1, flags="d.h2.", ts_us=14_002_113)
    writes = c.exit_dump(
        1025, msg="invalid DSQ ID 0x42", backtrace=["scx_bpf_error_bstr+0x62/0xa0"],
        events=[("SCX_EV_SUB_BYPASS_DISPATCH", 0)], context=ctx,
    )  # fmt: skip
    p = "      scx_simple-231     [001] d.h2.    14.0021"
    text = c.transcript(writes, "com1").decode()
    assert text == (
        f"{p}13: sched_ext_dump: scx_simple[231] triggered exit kind 1025:\r\n"
        f"{p}14: sched_ext_dump:   scx_bpf_error (invalid DSQ ID 0x42)\r\n"
        f"{p}15: sched_ext_dump: \r\n"
        f"{p}16: sched_ext_dump: Backtrace:\r\n"
        f"{p}17: sched_ext_dump:   scx_bpf_error_bstr+0x62/0xa0\r\n"
        f"{p}18: sched_ext_dump: \r\n"
        f"{p}19: sched_ext_dump: CPU states\r\n"
        f"{p}20: sched_ext_dump: ----------\r\n"
        f"{p}21: sched_ext_dump: \r\n"
        f"{p}22: sched_ext_dump: Event counters\r\n"
        f"{p}23: sched_ext_dump: --------------\r\n"
        f"{p}24: sched_ext_dump: {' ' * 14}SCX_EV_SUB_BYPASS_DISPATCH: {' ' * 15}0\r\n"
    )
    assert all(w.channel == "com1" for w in writes)


def test_dump_is_forwarded_in_4096_byte_reads() -> None:
    writes = c.exit_dump(1024, msg="m", cpu_states=[f"CPU {i}" for i in range(100)])
    lf_text = c.transcript(writes, "com1").replace(b"\r\n", b"\n")
    assert len(writes) == -(-len(lf_text) // 4096) and len(writes) > 1
    assert all(len(w.data.replace(b"\r\n", b"\n")) == 4096 for w in writes[:-1])
    assert c.forwarded_trace(["a", "b"], chunk=3) == [
        ConsoleWrite("com1", b"a\r\nb"),
        ConsoleWrite("com1", b"\r\n"),
    ]
    with pytest.raises(UsageError):
        c.forwarded_trace(["a"], chunk=0)


def test_truncated_and_sysrq_dumps() -> None:
    trunc = c.transcript(c.exit_dump(1026, msg="stall", truncate_after=2), "com1").decode()
    assert trunc.split("\r\n")[2].endswith(": sched_ext_dump: ~~~~ TRUNCATED ~~~~")
    assert trunc.count("\r\n") == 3
    sysrq = c.transcript(c.sysrq_dump(), "com1").decode()
    assert sysrq.startswith(
        "       hvc0-poll-58      [000] d..1.    14.002113: sched_ext_dump: "
        "Debug dump triggered by SysRq-D\r\n"
        "       hvc0-poll-58      [000] d..1.    14.002114: sched_ext_dump: \r\n"
    )
    assert "Backtrace:" not in sysrq
    with pytest.raises(UsageError):
        c.exit_dump(1024, truncate_after=-1)


def test_diagnostics_mkfs_printk_legacy() -> None:
    assert c.init_diagnostic(s.CELL_PARENT_BARE)[0].data.endswith(b"creation\r\n")
    assert c.init_diagnostic(s.disk_fs_not_recognized("xfs"))[0].data.endswith(b"/dev/vda")
    block = c.mkfs_diag(s.MkfsDiag(True, True, mkfs_size=1))
    assert len(block) == 1 and block[0].channel == "com2"
    assert block[0].data.startswith(b"MKFS_DIAG /dev/vda exists=true ")
    assert block[0].data.count(b"\r\n") == block[0].data.count(b"\n") == 8
    assert c.printk(["Linux version 6.16.0", "b"], start_us=812_345) == [
        ConsoleWrite("com1", b"[    0.812345] Linux version 6.16.0\r\n"),
        ConsoleWrite("com1", b"[    0.813345] b\r\n"),
    ]
    legacy = c.legacy_com2(["KTSTR_INIT_STARTED", "KTSTR_EXIT=0"])
    assert c.transcript(legacy, "com2") == b"KTSTR_INIT_STARTED\r\nKTSTR_EXIT=0\r\n"
    assert len(legacy) == 2


# ---- round trips ------------------------------------------------------------------------------


def _semantic(data: bytes, channel: s.SerialChannel = "com1") -> list[SerialEvent]:
    return [e for e in decode_serial(data, channel) if not isinstance(e, Line)]


def test_panic_round_trip_on_both_ports() -> None:
    writes = c.rust_panic(INFO, BT)
    for channel in s.CHANNELS:
        data = c.transcript(writes, channel)
        assert _semantic(data, channel)[0] == PanicHead(0, INFO.split("\n", maxsplit=1)[0])
        assert extract_panic_message(data) == INFO.split("\n", maxsplit=1)[0]


@pytest.mark.parametrize("kind", [64, 65, 1024, 1025, 1026])
def test_exit_dump_round_trip(kind: int) -> None:
    data = c.transcript(c.exit_dump(kind, msg=f"kind {kind} message"), "com1")
    events = _semantic(data)
    assert events[0] == DumpStart(0, 0)
    assert isinstance(events[-1], DumpEnd) and events[-1].marker == "SCX_EV_SUB_BYPASS_DISPATCH"
    reason = f"{s.EXIT_REASONS[kind]} (kind {kind} message)"
    assert extract_exit_from_dump_trace(data) == reason
    assert extract_bug_summary(extract_sched_ext_dump(data) or "") == reason
    assert all(e.cpu == 1 for e in events if isinstance(e, DumpLine))


def test_truncated_and_sysrq_round_trip() -> None:
    trunc = _semantic(c.transcript(c.exit_dump(1025, truncate_after=5), "com1"))
    assert isinstance(trunc[-1], DumpEnd) and trunc[-1].marker == "~~~~ TRUNCATED ~~~~"
    assert trunc[-1].lines == 6
    sysrq = _semantic(c.transcript(c.sysrq_dump(), "com1"))
    assert sysrq[0] == DumpStart(0, 0) and isinstance(sysrq[-1], DumpEnd)
    assert all(e.cpu_tag == "[000]" for e in sysrq if isinstance(e, DumpLine))


def test_exec_mode_output_decodes_without_cr() -> None:
    data = c.transcript(c.rust_panic(INFO, BT, onlcr_enabled=False), "com2")
    lines = [e for e in decode_serial(data, "com2") if isinstance(e, Line)]
    assert lines[0].text == "PANIC: " + INFO.split("\n", maxsplit=1)[0] and not lines[0].crlf


def test_kernel_panic_printk_round_trip() -> None:
    msg = "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009"
    data = c.transcript(c.printk(["Run /init as init process", msg], start_us=9_100_000), "com1")
    first = len(b"[    9.100000] Run /init as init process\r\n")
    assert _semantic(data) == [KernelPanic(first, len(data), f"[    9.101000] {msg}")]


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(list(s.FaultSignal)),
    st.integers(0, 2**64 - 1),
    st.text(max_size=40).filter(lambda m: "sched_ext_dump" not in m and "SCX_EV" not in m),
    st.lists(st.integers(0, 400), max_size=8),
)
def test_writer_decoder_round_trip(
    signal: s.FaultSignal, addr: int, msg: str, cuts: list[int]
) -> None:
    writes = c.native_fault(signal, addr) + c.rust_panic(f"panicked at a.rs:1:2:\n{msg}", BT)
    writes += c.exit_dump(1025, msg=msg.replace("\n", " "))
    data = c.transcript(writes, "com1")
    dec = SerialDecoder("com1")
    events: list[SerialEvent] = []
    prev = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        events += dec.feed(data[prev : max(prev, cut)])
        prev = max(prev, cut)
    events += dec.close()
    assert events == decode_serial(data, "com1")
    heads = [e for e in events if isinstance(e, PanicHead)]
    assert heads[0].message == f"fatal signal {signal.value} at addr 0x{addr:016x}"
    assert heads[1].message == "panicked at a.rs:1:2:"
    assert [e for e in events if isinstance(e, FatalSignal)] == [FatalSignal(0, signal, addr)]
    assert sum(isinstance(e, DumpEnd) for e in events) == 1
    assert extract_panic_message(data) == heads[0].message


def test_mount_diagnostic_also_warns_on_com1() -> None:
    text = s.disk_mount_failed("btrfs", "/mnt/disk0", False, "EINVAL: Invalid argument")
    writes = c.init_diagnostic(text, tracing_timestamp="T")
    assert writes == [
        ConsoleWrite("com2", text.encode()),
        ConsoleWrite(
            "com1",
            b"T  WARN ktstr::vmm::rust_init::mounts: ktstr-init: mount btrfs on /mnt/disk0 "
            b"(ro=false): EINVAL: Invalid argument\r\n",
        ),
    ]


def test_dump_without_event_counters_ends_after_cpu_states() -> None:
    # 6.12's scx_dump_state (recorded in fixtures/scx-kernel) has no "Event counters"
    # section, so no line carries SCX_EV_SUB_BYPASS_DISPATCH.
    from ktstr_proto.serial import dump_body

    cpu = "CPU 0   : nr_run=1 flags=0x1 cpu_rel=0 pnt_seq=12"
    lines = dump_body(1025, comm="sh", pid=7, msg="m", cpu_states=[cpu], event_counters=False)
    assert lines[-3:] == ["CPU states", "----------", cpu]
    assert not any("Event counters" in line or "SCX_EV_" in line for line in lines)
