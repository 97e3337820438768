"""Serial strings (ktstr_proto.serial) and the streaming decoder (ktstr_host.decode.serial).

Expected values are copied from serial.md (sections cited) or derived by hand from its
rules; offsets are sums of the lengths of the literal pieces.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktstr_host.decode.serial import (
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
    SerialDecoder,
    SerialEvent,
    capture_window,
    decode_serial,
)
from ktstr_proto import serial as s
from ktstr_proto.errors import UsageError

# ---- section 13 transcripts, verbatim ---------------------------------------------------

PANIC_13_4 = (
    b"PANIC: panicked at src/scenario/ops/mod.rs:812:14:\r\n"
    b"called `Option::unwrap()` on a `None` value\r\n"
    b"   0: std::backtrace::Backtrace::force_capture\r\n"
    b"             at /rustc/<hash>/library/std/src/backtrace.rs:312:13\r\n"
    b"   1: ktstr::vmm::rust_init::init::ktstr_guest_init::{{closure}}\r\n"
    b"...\r\n"
    b"\r\n"
)
DUMP_13_3 = [
    "      scx_simple-231     [001] d.h2.    14.002113: sched_ext_dump: scx_simple[231] triggered exit kind 1025:",  # noqa: E501
    "      scx_simple-231     [001] d.h2.    14.002119: sched_ext_dump:   scx_bpf_error (invalid DSQ ID 0x42)",  # noqa: E501
    "      scx_simple-231     [001] d.h2.    14.002120: sched_ext_dump: ",
    "      scx_simple-231     [001] d.h2.    14.002121: sched_ext_dump: Backtrace:",
    "      scx_simple-231     [001] d.h2.    14.002125: sched_ext_dump:   scx_bpf_error_bstr+0x62/0xa0",  # noqa: E501
    "      scx_simple-231     [001] d.h2.    14.003990: sched_ext_dump: Event counters",
    "      scx_simple-231     [001] d.h2.    14.003991: sched_ext_dump: --------------",
    "      scx_simple-231     [001] d.h2.    14.003992: sched_ext_dump:               SCX_EV_SELECT_CPU_FALLBACK:                0",  # noqa: E501
    "      scx_simple-231     [001] d.h2.    14.004120: sched_ext_dump:               SCX_EV_SUB_BYPASS_DISPATCH:                0",  # noqa: E501
]  # fmt: skip
DUMP_13_3_BYTES = "".join(f"{line}\r\n" for line in DUMP_13_3).encode()
NATIVE_13_4 = b"PANIC: fatal signal SIGSEGV at addr 0x0000000000000010\r\n"

# ---- Rust text semantics (section 2) ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", []),
        ("\n", [""]),
        ("a", ["a"]),
        ("a\n", ["a"]),
        ("a\r\nb", ["a", "b"]),
        ("a\r\r\nb\n\n", ["a\r", "b", ""]),
        ("a\rb\n", ["a\rb"]),
        ("tail\r", ["tail\r"]),  # no LF: current Rust keeps the CR
        ("v\x0bt\x0cf\x1cs\x85n\u2028l", ["v\x0bt\x0cf\x1cs\x85n\u2028l"]),
    ],
)
def test_rust_lines(text: str, lines: list[str]) -> None:
    assert s.rust_lines(text) == lines


def test_rust_trim_uses_rust_whitespace() -> None:
    assert s.rust_trim("\x1c x \x1f") == "\x1c x \x1f"  # not White_Space in Rust
    assert s.rust_trim("\u3000\t x\r\n\x85\xa0") == "x"
    assert s.rust_split_whitespace(" a\u2003b \x1cc ") == ["a", "b", "\x1cc"]


def test_decode_lossy_replaces_each_maximal_subpart() -> None:
    assert s.decode_lossy(b"a\xe2\x80b") == "a\ufffdb"
    assert s.decode_lossy(b"\xff\xfe") == "\ufffd\ufffd"
    assert s.decode_lossy(b"\xed\xa0\x80") == "\ufffd\ufffd\ufffd"  # surrogate half
    assert s.decode_lossy(b"\xe2\x80\x94") == "\u2014"


def test_rust_debug_str() -> None:
    assert s.rust_debug_str('a"b\\c') == '"a\\"b\\\\c"'
    assert s.rust_debug_str("x\ny\t\r\0'") == '"x\\ny\\t\\r\\0\'"'
    assert s.rust_debug_str("\x1b\u200b\xe9") == '"\\u{1b}\\u{200b}\xe9"'


# ---- COM2 strings (section 3) -----------------------------------------------------------


def test_panic_strings() -> None:
    info = s.rust_panic_info("src/main.rs", 5, 9, "oh no")
    assert info == "panicked at src/main.rs:5:9:\noh no"
    assert s.rust_panic_info("a.rs", 1, 2, None) == "panicked at a.rs:1:2"
    assert s.panic_head(info) == "PANIC: panicked at src/main.rs:5:9:\noh no\n"
    assert s.panic_backtrace("bt\n") == "bt\n\n"


def test_format_backtrace_matches_13_4_layout() -> None:
    frames: list[s.BacktraceFrame | str] = [
        s.BacktraceFrame(
            (
                (
                    "std::backtrace::Backtrace::force_capture",
                    "/rustc/<hash>/library/std/src/backtrace.rs:312:13",
                ),
            )
        ),
        s.BacktraceFrame((("outer", None), ("inlined::inner", "src/x.rs:1:2"))),
        "ktstr::vmm::rust_init::init::ktstr_guest_init::{{closure}}",
    ]
    assert s.format_backtrace(frames) == (
        "   0: std::backtrace::Backtrace::force_capture\n"
        "             at /rustc/<hash>/library/std/src/backtrace.rs:312:13\n"
        "   1: outer\n"
        "      inlined::inner\n"
        "             at src/x.rs:1:2\n"
        "   2: ktstr::vmm::rust_init::init::ktstr_guest_init::{{closure}}\n"
    )
    assert s.format_backtrace([]) == "disabled backtrace"


@pytest.mark.parametrize(
    ("signal", "addr", "line"),
    [
        ("SIGSEGV", 0x10, "PANIC: fatal signal SIGSEGV at addr 0x0000000000000010\n"),
        (s.FaultSignal.SIGBUS, 0xDEADBEEF, "PANIC: fatal signal SIGBUS at addr 0x00000000deadbeef\n"),  # noqa: E501
        ("SIGILL", 2**64 - 1, "PANIC: fatal signal SIGILL at addr 0xffffffffffffffff\n"),
        ("(unknown)", 0, "PANIC: fatal signal (unknown) at addr 0x0000000000000000\n"),
    ],
)  # fmt: skip
def test_fatal_signal_line(signal: str, addr: int, line: str) -> None:
    assert s.fatal_signal_line(signal, addr) == line
    prefix, digits, lf = s.fatal_signal_writes(signal, addr)
    assert prefix.endswith(b" at addr 0x") and len(digits) == 16 and lf == b"\n"
    assert s.parse_fatal_signal(line) == (s.FaultSignal(signal), addr)


def test_fatal_signal_rejects_bad_input() -> None:
    with pytest.raises(UsageError):
        s.fatal_signal_writes("SIGSEGV", -1)
    with pytest.raises(UsageError):
        s.fatal_signal_writes("SIGSEGV", 2**64)
    with pytest.raises(ValueError):
        s.fatal_signal_writes("SIGTERM", 0)
    assert s.parse_fatal_signal("PANIC: fatal signal SIGSEGV at addr 0x10") is None
    assert s.parse_fatal_signal("PANIC: fatal signal SIGSEGV at addr 0x000000000000001G") is None


def test_initramfs_fatal_text_has_no_lf() -> None:
    assert s.INITRAMFS_FATAL == (
        "FATAL: initramfs extraction incomplete \u2014 kernel ran out of memory during cpio "
        "extraction. This indicates a bug in ktstr's memory estimation. Please report this "
        "issue. As a workaround, try `--memory N` with a larger value."
    )
    assert not s.INITRAMFS_FATAL.endswith("\n")
    assert b"incomplete \xe2\x80\x94 kernel" in s.INITRAMFS_FATAL.encode()


def test_ktstr_init_diagnostics_c4_to_c9() -> None:
    assert s.hvc0_poll_disabled("No such file or directory (os error 2)") == (
        "ktstr-init: hvc0 poll loop disabled \u2014 open /dev/hvc0: "
        "No such file or directory (os error 2)\n"
    )
    assert s.disk_fs_not_recognized("ext4") == (
        "ktstr-init: KTSTR_DISK0_FS=ext4 not recognized; skipping auto-mount of /dev/vda"
    )
    assert s.disk_mount_failed("btrfs", "/mnt/disk0", True, "EINVAL: Invalid argument") == (
        "ktstr-init: mount btrfs on /mnt/disk0 (ro=true): EINVAL: Invalid argument"
    )
    assert s.disk_mount_failed("btrfs", "/mnt/x", False, "E").endswith("(ro=false): E")
    assert s.malformed_cgroup_file("/workload_root_cgroup", 'rel"x') == (
        'ktstr-init: ignoring malformed `/workload_root_cgroup` value "rel\\"x"; skipping '
        "cgroup creation (host-side `CgroupPath::new` gate normally rejects this at "
        "compile time)\n"
    )
    assert s.malformed_cell_parent("/") == (
        'ktstr-init: ignoring malformed `--cell-parent-cgroup` value "/" in /sched_args; '
        "skipping per-test cgroup creation (host-side gate normally panics on this)\n"
    )
    assert s.CELL_PARENT_BARE == (
        "ktstr-init: ignoring bare `--cell-parent-cgroup` (no value) in /sched_args; "
        "skipping per-test cgroup creation\n"
    )
    assert s.subtree_control_failed("/sys/fs/cgroup/a", "Invalid argument (os error 22)") == (
        "ktstr-init: write /sys/fs/cgroup/a/cgroup.subtree_control +cpuset +cpu: "
        "Invalid argument (os error 22)\n"
    )


def test_mkfs_diag_block_clean_run() -> None:
    diag = s.MkfsDiag(True, True, mkfs_size=1234, exit_code=0, stdout="out\n", stderr="")
    assert s.format_mkfs_diag(diag) == (
        "MKFS_DIAG /dev/vda exists=true /sys/class/block/vda exists=true\n"
        "MKFS_DIAG /bin/mkfs.btrfs size=1234\n"
        "MKFS_DIAG exit=Some(0)\n"
        "MKFS_STDOUT:\nout\n\n"
        "MKFS_STDERR:\n\n"
        "MKFS_DIAG in-guest /dev/vda magic@0x10040 = 0x4d5f53665248425f\n"
    )
    assert diag.result_code == 0


def test_mkfs_diag_block_no_op_and_errors() -> None:
    noop = s.MkfsDiag(False, True, metadata_error="ENOENT", magic=0, flush_error="boom")
    assert s.format_mkfs_diag(noop).splitlines()[1:] == [
        "MKFS_DIAG /bin/mkfs.btrfs metadata failed: ENOENT",
        "MKFS_DIAG exit=Some(0)",
        "MKFS_STDOUT:",
        "",
        "MKFS_STDERR:",
        "",
        "MKFS_DIAG in-guest /dev/vda magic@0x10040 = 0x0000000000000000",
        "MKFS_DIAG flush: boom",
        "MKFS_DIAG VERDICT: mkfs exited 0 but /dev/vda has no btrfs magic in-guest "
        "\u2014 silent no-op (exit overridden to 64)",
    ]
    assert noop.result_code == 64
    spawn = s.MkfsDiag(True, False, spawn_error="No such file", magic_error="EIO")
    text = s.format_mkfs_diag(spawn)
    assert "MKFS_DIAG mkfs spawn failed: No such file\n" in text
    assert "magic@0x10040 = read failed: EIO\n" in text
    assert "VERDICT" not in text and "MKFS_STDOUT" not in text
    assert spawn.result_code == 1
    killed = s.MkfsDiag(True, True, exit_code=None)
    assert "MKFS_DIAG exit=None\n" in s.format_mkfs_diag(killed)
    assert killed.result_code == 1


def test_btrfs_magic_is_little_endian_u64() -> None:
    image = bytearray(0x10048)
    image[0x10040:0x10048] = b"_BHRfS_M"
    assert s.btrfs_magic(bytes(image)) == s.BTRFS_DEV_MAGIC == 0x4D5F53665248425F
    assert s.btrfs_magic(b"\0" * 0x10047) is None


# ---- hvc0, dump format, host constants, legacy (sections 5, 6, 9, 12) ------------------


def test_wake_bytes() -> None:
    assert [int(b) for b in s.WakeByte] == [0xD1, 0xD3, 0xBF, 0xAC, 0xAD, 0xAE]
    assert s.guest_wake_actions(bytes([0xD3, 0x00, 0xBF, 0xD1, 0xD1])) == (
        s.WakeByte.DUMP,
        s.WakeByte.BPF_WRITE_DONE,
        s.WakeByte.SHUTDOWN,
    )
    assert s.guest_wake_actions(bytes([0xAD, 0xAE, 0xAC])) == (s.WakeByte.ACCESSOR_READY,)
    with pytest.raises(UsageError):
        s.guest_wake_actions(bytes(17))


def test_trace_line_layout_matches_13_3() -> None:
    bodies = [line.split("sched_ext_dump: ", 1)[1] for line in DUMP_13_3]
    stamps = [14_002_113, 14_002_119, 14_002_120, 14_002_121, 14_002_125, 14_003_990,
              14_003_991, 14_003_992, 14_004_120]  # fmt: skip
    for line, body, ts in zip(DUMP_13_3, bodies, stamps, strict=True):
        made = s.format_trace_line(body, comm="scx_simple", pid=231, cpu=1, ts_us=ts, flags="d.h2.")
        assert made == line
    assert s.exit_dump_header("scx_simple", 231, 1025) == bodies[0]
    assert s.exit_dump_reason("scx_bpf_error", "invalid DSQ ID 0x42") == bodies[1]
    assert s.event_counter_line("SCX_EV_SUB_BYPASS_DISPATCH", 0) == bodies[-1]
    wide = s.format_trace_line("x", comm="c", pid=12345678, cpu=1234, ts_us=123456_000001)
    assert wide == "               c-12345678 [1234] d..1. 123456.000001: sched_ext_dump: x"


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        ("scx_simple[231] triggered exit kind 1025:", ("scx_simple", 231, 1025)),
        ("kworker/u4:0[11] triggered exit kind 1026:", ("kworker/u4:0", 11, 1026)),
        ("a[b][3] triggered exit kind 64:", ("a[b]", 3, 64)),
        ("x[1] triggered exit kind 1025: trailing", None),
        ("x[] triggered exit kind 1025:", None),
        ("Debug dump triggered by SysRq-D", None),
    ],
)
def test_parse_exit_dump_header(body: str, parsed: tuple[str, int, int] | None) -> None:
    assert s.parse_exit_dump_header(body) == parsed


def test_cpu_state_block_612_and_newer_layouts() -> None:
    # 6.12.117, copied from a real SysRq-D dump (fixtures/scx-kernel/sysrq-dump.jsonl)
    assert s.cpu_state_block(0, nr_run=5, flags=0x1, cpu_rel=0, pnt_seq=4, curr=("init", 1)) == [
        "",
        "CPU 0   : nr_run=5 flags=0x1 cpu_rel=0 pnt_seq=4",
        "          curr=init[1] class=ext_sched_class",
    ]
    newer = s.cpu_state_block(
        12345, nr_run=0, flags=0x1F, cpu_rel=1, pnt_seq=9, curr=("a", 2), ops_qseq=7
    )
    assert newer[1] == "CPU 12345: nr_run=0 flags=0x1f cpu_rel=1 ops_qseq=7 pnt_seq=9"


def test_dump_body_ops_dump_follows_the_backtrace() -> None:
    body = s.dump_body(1025, comm="c", pid=1, msg="m", backtrace=["f+0x1/0x2"], ops_dump=["X"])
    assert body[:8] == ["c[1] triggered exit kind 1025:", "  scx_bpf_error (m)", "",
                        "Backtrace:", "  f+0x1/0x2", "", "X", ""]  # fmt: skip
    assert s.dump_body(0, ops_dump=["Y"], event_counters=False) == [
        "Debug dump triggered by SysRq-D", "", "Y", "", "CPU states", "----------"
    ]  # fmt: skip


def test_exit_kind_name() -> None:
    assert s.exit_kind_name(1025) == "1025 (ERROR_BPF)"
    assert s.exit_kind_name(1026) == "1026 (ERROR_STALL)"
    assert s.exit_kind_name(7) == "7"


def test_dump_body_shapes() -> None:
    body = s.dump_body(1026, comm="w", pid=7, msg="m", backtrace=["f+0x1/0x2"], events=[])
    assert body == [
        "w[7] triggered exit kind 1026:",
        "  runnable task stall (m)",
        "",
        "Backtrace:",
        "  f+0x1/0x2",
        "",
        "CPU states",
        "----------",
        "",
        "Event counters",
        "--------------",
    ]
    sysrq = s.dump_body(0, events=[("SCX_EV_X", -3)])
    assert sysrq[0] == "Debug dump triggered by SysRq-D"
    assert sysrq[-1] == " " * 32 + "SCX_EV_X: " + " " * 14 + "-3"
    assert s.dump_body(1025)[-1].strip() == "SCX_EV_SUB_BYPASS_DISPATCH:                0"


def test_exit_kinds_and_reasons() -> None:
    assert (s.ExitKind.UNREG, s.ExitKind.UNREG_BPF, s.ExitKind.SYSRQ) == (64, 65, 67)
    assert (s.ExitKind.ERROR, s.ExitKind.ERROR_BPF, s.ExitKind.ERROR_STALL) == (1024, 1025, 1026)
    assert s.EXIT_REASONS[1025] == "scx_bpf_error"
    assert s.EVENT_COUNTERS[-1] == "SCX_EV_SUB_BYPASS_DISPATCH"


def test_host_constants() -> None:
    assert (s.CAPTURE_CAP, s.CAPTURE_TRIM, s.PANIC_LATCH_TAIL) == (4194304, 3145728, 256)
    assert s.KERNEL_PANIC_MARKERS == ("Kernel panic - not syncing", "Attempted to kill init")
    assert s.KERNEL_PANIC_FALLBACK == "guest kernel panic"
    assert s.SCHED_EXT_DUMP_MARKER == "sched_ext_dump:"
    assert s.DUMP_END_MARKERS == ("SCX_EV_SUB_BYPASS_DISPATCH", "~~~~ TRUNCATED ~~~~")
    assert s.STAGE_INIT_NOT_STARTED == "init script never started (kernel or mount failure)"
    assert s.STAGE_INIT_STARTED_NO_PAYLOAD == (
        "init started but payload never ran (cgroup/scheduler setup failed)"
    )
    assert s.STAGE_PAYLOAD_STARTED_NO_RESULT == "payload started but produced no test result"


def test_legacy_sentinels() -> None:
    assert s.SENTINEL_INIT_STARTED == "KTSTR_INIT_STARTED"
    assert s.SENTINEL_PAYLOAD_STARTING == "KTSTR_PAYLOAD_STARTING"
    assert s.legacy_exit_line(-1) == "KTSTR_EXIT=-1\n"
    assert s.legacy_exec_exit_line(3) == "KTSTR_EXEC_EXIT=3\n"
    assert s.SENTINEL_SCHEDULER_DIED == "SCHEDULER_DIED"
    assert s.legacy_not_attached_line(s.NOT_ATTACHED_TIMEOUT) == "SCHEDULER_NOT_ATTACHED: timeout\n"
    assert s.legacy_not_attached_line(s.NOT_ATTACHED_SYSFS_ABSENT) == (
        "SCHEDULER_NOT_ATTACHED: sched_ext sysfs absent\n"
    )
    assert s.legacy_marked_block(s.TEST_RESULT_START, "{}", s.TEST_RESULT_END) == (
        "===KTSTR_TEST_RESULT_START===\n{}\n===KTSTR_TEST_RESULT_END===\n"
    )
    assert s.legacy_marked_block(s.PROBE_OUTPUT_START, "[]", s.PROBE_OUTPUT_END) == (
        "===PROBE_OUTPUT_START===\n[]\n===PROBE_OUTPUT_END===\n"
    )
    assert s.legacy_sched_output_block("log") == (
        "===SCHED_OUTPUT_START===\nlog===SCHED_OUTPUT_END===\n"
    )


# ---- decoder: transcripts -----------------------------------------------------------------


def _kinds(events: Sequence[SerialEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_decode_panic_transcript_13_4() -> None:
    events = decode_serial(PANIC_13_4, "com2")
    semantic = [e for e in events if not isinstance(e, Line)]
    o1 = len("PANIC: panicked at src/scenario/ops/mod.rs:812:14:\r\n")
    o2 = o1 + len("called `Option::unwrap()` on a `None` value\r\n")
    o3 = o2 + len("   0: std::backtrace::Backtrace::force_capture\r\n")
    o4 = o3 + len("             at /rustc/<hash>/library/std/src/backtrace.rs:312:13\r\n")
    assert semantic == [
        PanicHead(0, "panicked at src/scenario/ops/mod.rs:812:14:"),
        PanicMessageLine(o1, "called `Option::unwrap()` on a `None` value"),
        BacktraceLine(o2, "   0: std::backtrace::Backtrace::force_capture", "frame",
                      "std::backtrace::Backtrace::force_capture", 0),
        BacktraceLine(o3, "             at /rustc/<hash>/library/std/src/backtrace.rs:312:13",
                      "location", "/rustc/<hash>/library/std/src/backtrace.rs:312:13"),
        BacktraceLine(o4, "   1: ktstr::vmm::rust_init::init::ktstr_guest_init::{{closure}}",
                      "frame", "ktstr::vmm::rust_init::init::ktstr_guest_init::{{closure}}", 1),
    ]  # fmt: skip
    lines = [e for e in events if isinstance(e, Line)]
    assert [ln.text for ln in lines][-2:] == ["...", ""]
    assert all(ln.crlf and ln.terminated for ln in lines)
    assert lines[-1].end == len(PANIC_13_4)


def test_decode_native_fault_13_4() -> None:
    events = decode_serial(NATIVE_13_4, "com2")
    assert events[1:] == [
        PanicHead(0, "fatal signal SIGSEGV at addr 0x0000000000000010"),
        FatalSignal(0, s.FaultSignal.SIGSEGV, 0x10),
    ]
    assert decode_serial(NATIVE_13_4 + b"   0: not a backtrace\r\n", "com2")[-1] == Line(
        len(NATIVE_13_4), len(NATIVE_13_4) + 23, b"   0: not a backtrace", "   0: not a backtrace",
        crlf=True,
    )  # fmt: skip


def test_decode_dump_transcript_13_3() -> None:
    events = decode_serial(DUMP_13_3_BYTES, "com1")
    semantic = [e for e in events if not isinstance(e, Line)]
    assert semantic[0] == DumpStart(0, 0)
    dump_lines = [e for e in semantic if isinstance(e, DumpLine)]
    assert len(dump_lines) == 9
    assert all(d.cpu_tag == "[001]" and d.cpu == 1 for d in dump_lines)
    assert [d.body for d in dump_lines[:3]] == [
        "scx_simple[231] triggered exit kind 1025:",
        "  scx_bpf_error (invalid DSQ ID 0x42)",
        "",
    ]
    last = len(DUMP_13_3_BYTES) - len(DUMP_13_3[-1]) - 2
    assert semantic[-1] == DumpEnd(last, 0, "SCX_EV_SUB_BYPASS_DISPATCH", 0, 9)


def test_dumps_off_on_com2_by_default_and_switchable() -> None:
    assert not any(isinstance(e, DumpLine) for e in decode_serial(DUMP_13_3_BYTES, "com2"))
    dec = SerialDecoder("com2", dumps=True)
    assert any(isinstance(e, DumpEnd) for e in dec.feed(DUMP_13_3_BYTES))


def test_dump_unterminated_superseded_and_spliced_end() -> None:
    head = DUMP_13_3[0] + "\n"
    reason = DUMP_13_3[1] + "\n"
    sysrq = "   hvc0-poll-58      [000] d..1.    20.000000: sched_ext_dump: Debug dump triggered by SysRq-D\n"  # fmt: skip  # noqa: E501
    spliced_end = "[   20.1] printk     SCX_EV_SUB_BYPASS_DISPATCH:     0\n"
    data = (head + reason + sysrq + spliced_end + head).encode()
    semantic = [e for e in decode_serial(data, "com1") if not isinstance(e, Line)]
    o_sysrq = len(head) + len(reason)
    o_end = o_sysrq + len(sysrq)
    o_last = o_end + len(spliced_end)
    assert _kinds(semantic) == [
        "DumpStart", "DumpLine", "DumpLine", "DumpUnterminated", "DumpStart", "DumpLine",
        "DumpEnd", "DumpStart", "DumpLine", "DumpUnterminated",
    ]  # fmt: skip
    assert semantic[3] == DumpUnterminated(o_sysrq, 0, 0, 2, "superseded")
    assert semantic[4] == DumpStart(o_sysrq, 1)
    assert semantic[6] == DumpEnd(o_end, 1, "SCX_EV_SUB_BYPASS_DISPATCH", o_sysrq, 1)
    assert semantic[7] == DumpStart(o_last, 2)
    assert semantic[9] == DumpUnterminated(len(data), 2, o_last, 1, "end-of-stream")


SYSRQ_612 = "              sh-71      [001] d..1.    21.000000: sched_ext_dump: Debug dump triggered by SysRq-D\n"  # fmt: skip  # noqa: E501
CPU_612 = "              sh-71      [001] d..1.    21.000001: sched_ext_dump: CPU 1   : nr_run=1 flags=0x0 cpu_rel=0 pnt_seq=12\n"  # fmt: skip  # noqa: E501


@pytest.mark.parametrize(
    ("release", "has_end_line"),
    [
        ("6.12.117", False),
        ("6.14.0-rc3+", False),
        ("6.15.0", True),
        ("7.0.0", True),
        ("5.10", False),
        (None, True),  # unknown: the fact sheets' kernel
        ("garbage", True),
    ],
)
def test_dump_has_end_line(release: str | None, has_end_line: bool) -> None:
    assert s.dump_has_end_line(release) is has_end_line


def test_612_dump_ends_at_next_dump_and_end_of_stream() -> None:
    """6.12 prints no end line: the next header and the stream's end close a dump."""
    data = (SYSRQ_612 + CPU_612 + SYSRQ_612 + CPU_612).encode()
    second = len(SYSRQ_612) + len(CPU_612)
    semantic = decode_serial(data, SerialDecoder("com1", kernel_release="6.12.117"))
    ends = [e for e in semantic if isinstance(e, DumpEnd | DumpUnterminated)]
    assert ends == [
        DumpEnd(second, 0, "next-dump", 0, 2),
        DumpEnd(len(data), 1, "end-of-stream", second, 2),
    ]
    # The same bytes from a kernel with event counters stay unterminated.
    newer = decode_serial(data, SerialDecoder("com1", kernel_release="6.16.0"))
    assert [e for e in newer if isinstance(e, DumpEnd)] == []


def test_decoder_reads_the_release_from_a_verbose_boot() -> None:
    banner = "[    0.000000] Linux version 6.12.117 (root@host) (clang) #1 SMP\r\n"
    dec = SerialDecoder("com1")
    events = decode_serial((banner + SYSRQ_612).encode(), dec)
    assert dec.kernel_release == "6.12.117"
    assert events[-1] == DumpEnd(len(banner) + len(SYSRQ_612), 0, "end-of-stream", len(banner), 1)
    # Only the first banner counts; without one the release stays unknown.
    dec2 = SerialDecoder("com1")
    decode_serial((SYSRQ_612 + "Linux version 6.12.0\n").encode(), dec2)
    assert dec2.kernel_release == "6.12.0"
    dec3 = SerialDecoder("com1")
    assert isinstance(decode_serial(SYSRQ_612.encode(), dec3)[-1], DumpUnterminated)
    assert dec3.kernel_release is None


def test_truncated_marker_ends_dump_and_end_marker_without_dump_is_plain() -> None:
    line = "x-1 [002] d..1.     1.000000: sched_ext_dump: ~~~~ TRUNCATED ~~~~\n"
    events = decode_serial(line.encode(), "com1")
    assert events[-1] == DumpEnd(0, 0, "~~~~ TRUNCATED ~~~~", 0, 1)
    assert _kinds(decode_serial(b"SCX_EV_SUB_BYPASS_DISPATCH: 0\n", "com1")) == ["Line"]


def test_panic_block_rules() -> None:
    data = (
        b"PANIC: panicked at a.rs:1:2:\n"
        b"line one\n"
        b"      six spaces here\n"  # before any frame: message, not an inlined symbol
        b"   0: f\n"
        b"      inlined::g\n"
        b"  12: h\n"
        b"not a frame\n"
        b"   1: after the block\n"
        b"PANIC: panicked at b.rs:3:4\n"
        b"disabled backtrace\n"
        b"   2: after placeholder\n"
    )
    semantic = [e for e in decode_serial(data, "com2") if not isinstance(e, Line)]
    assert [(type(e).__name__, getattr(e, "kind", None)) for e in semantic] == [
        ("PanicHead", None),
        ("PanicMessageLine", None),
        ("PanicMessageLine", None),
        ("BacktraceLine", "frame"),
        ("BacktraceLine", "inline"),
        ("BacktraceLine", "frame"),
        ("PanicHead", None),
        ("BacktraceLine", "placeholder"),
    ]
    assert semantic[5] == BacktraceLine(semantic[5].offset, "  12: h", "frame", "h", 12)
    mid = decode_serial(b"info: expected PANIC: here\n  PANIC:  indented\n", "com2")
    assert [e for e in mid if isinstance(e, PanicHead)] == [PanicHead(27, "indented")]


def test_blank_line_ends_message_state() -> None:
    data = b"PANIC: x\n\nmore text\n   0: f\n"
    assert _kinds(decode_serial(data, "com2")) == ["Line", "PanicHead", "Line", "Line", "Line"]


# ---- decoder: line splitting ------------------------------------------------------------


def test_crlf_split_across_feeds() -> None:
    dec = SerialDecoder("com2")
    assert dec.feed(b"ab\r") == []
    assert dec.feed(b"\ncd\r") == [Line(0, 4, b"ab", "ab", True, True)]
    assert dec.feed(b"\r") == []
    assert dec.close() == [Line(4, 8, b"cd\r\r", "cd\r\r", terminated=False)]
    assert dec.close() == []
    with pytest.raises(UsageError):
        dec.feed(b"x")


def test_invalid_utf8_keeps_raw_bytes() -> None:
    events = decode_serial(b"\xffok\xe2\x80\r\n", "com1")
    assert events == [Line(0, 7, b"\xffok\xe2\x80", "\ufffdok\ufffd", True, True)]


@pytest.mark.parametrize(
    ("data", "overflow_at", "raw", "truncated", "crlf"),
    [
        (b"abcdefgh\r\n", None, b"abcdefgh", False, True),
        (b"abcdefgh\n", None, b"abcdefgh", False, False),
        (b"abcdefghi\n", 8, b"abcdefgh", True, False),
        (b"abcdefgh\rX\n", 9, b"abcdefgh", True, False),
        (b"abcdefghijkl\r\n", 8, b"abcdefgh", True, True),
    ],
)
def test_line_overflow_rule(
    data: bytes, overflow_at: int | None, raw: bytes, truncated: bool, crlf: bool
) -> None:
    for cut in range(len(data) + 1):
        dec = SerialDecoder("com2", max_line=8)
        events = dec.feed(data[:cut]) + dec.feed(data[cut:]) + dec.close()
        expected: list[SerialEvent] = []
        if overflow_at is not None:
            expected.append(LineOverflow(0, overflow_at, 8))
        expected.append(Line(0, len(data), raw, raw.decode(), True, crlf, truncated))
        assert events == expected, cut


def test_ten_mib_line_without_lf_stays_bounded() -> None:
    chunk = b"A" * 65536
    dec = SerialDecoder("com1", max_line=4096)
    events: list[SerialEvent] = []
    tracemalloc.start()
    try:
        for _ in range(160):  # 10 MiB
            events += dec.feed(chunk)
            assert dec.pending <= 4096
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024
    events += dec.close()
    total = 160 * 65536
    assert events[0] == LineOverflow(0, 4096, 4096)
    trims = [e for e in events if isinstance(e, CaptureTruncated)]
    # by hand: trims at 4194304 + k * 1048577 while < 10 MiB; each drops 1048577
    assert [t.offset for t in trims] == [4194304 + k * 1048577 for k in range(6)]
    assert all(t.dropped == 1048577 for t in trims)
    assert trims[-1].window_start == 6291462 == capture_window(b"A" * total)[0]
    assert events[-1] == Line(0, total, b"A" * 4096, "A" * 4096, False, False, True)


# ---- decoder: host models -------------------------------------------------------------


def test_capture_truncation_small_window() -> None:
    data = bytes(range(256)) * 10  # 2560 bytes
    dec = SerialDecoder("com2", capture_limit=1000, capture_trim=600)
    trims = [e for e in dec.feed(data) if isinstance(e, CaptureTruncated)]
    assert trims == [
        CaptureTruncated(1000, 401, 401),
        CaptureTruncated(1401, 401, 802),
        CaptureTruncated(1802, 401, 1203),
        CaptureTruncated(2203, 401, 1604),
    ]
    assert dec.window_start == 1604
    start, kept = capture_window(data, capture_limit=1000, capture_trim=600)
    assert (start, kept) == (1604, data[1604:])
    assert capture_window(data[:1000], capture_limit=1000, capture_trim=600) == (0, data[:1000])


def test_trim_and_latch_order_at_the_same_byte() -> None:
    line = b"Kernel panic - not syncing: x\n"  # LF at index 29
    # 299 dots + LF, then the line: its LF is byte 329, where a 329-byte buffer overflows
    dec = SerialDecoder("com1", capture_limit=329, capture_trim=300)
    events = dec.feed(b"." * 299 + b"\n" + line)[1:]
    assert _kinds(events) == ["Line", "KernelPanic", "CaptureTruncated"]
    assert events[1] == KernelPanic(300, 330, "Kernel panic - not syncing: x")
    assert events[2] == CaptureTruncated(329, 30, 30)


def test_kernel_panic_latch_needs_lf_and_fires_once() -> None:
    dec = SerialDecoder("com1")
    assert _kinds(dec.feed(b"[ 1.0] Kernel panic - not syn")) == []
    assert dec.feed(b"cing: Attempted to kill init! exitcode=0x00000009") == []
    events = dec.feed(b"\r\nKernel panic - not syncing: again\r\n")
    msg = "[ 1.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009"
    assert events[1] == KernelPanic(0, len(msg) + 2, msg)
    assert _kinds(events) == ["Line", "KernelPanic", "Line"]
    assert dec.kernel_panic == events[1]
    unterminated = SerialDecoder("com1")
    assert not any(
        isinstance(e, KernelPanic)
        for e in unterminated.feed(b"Attempted to kill init") + unterminated.close()
    )
    assert not any(isinstance(e, KernelPanic) for e in decode_serial(b"Kernel panic\n", "com1"))
    com2 = decode_serial(b"Kernel panic - not syncing: x\n", "com2")
    assert not any(isinstance(e, KernelPanic) for e in com2)


def test_kernel_panic_latch_256_byte_window() -> None:
    marker = "Kernel panic - not syncing"  # 26 bytes
    near = (marker + "y" * 229 + "\n").encode()  # marker starts 255 bytes before LF
    far = (marker + "y" * 230 + "\n").encode()  # 256 bytes before: out of the tail
    assert decode_serial(near, "com1")[-1] == KernelPanic(0, 256, marker + "y" * 229)
    assert not any(isinstance(e, KernelPanic) for e in decode_serial(far, "com1"))
    long_line = ("X" * 300 + "Kernel panic - not syncing: boom\n").encode()
    latched = decode_serial(long_line, "com1")[-1]
    # the tail holds the last 256 bytes: LF + 255 before it = 223 X + 32-byte marker text
    assert latched == KernelPanic(77, 333, "X" * 223 + "Kernel panic - not syncing: boom")


def test_usage_errors() -> None:
    with pytest.raises(UsageError):
        SerialDecoder("com3")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        SerialDecoder("com1", capture_limit=100, capture_trim=100)
    with pytest.raises(UsageError):
        SerialDecoder("com1", capture_limit=1000, capture_trim=255)
    with pytest.raises(UsageError):
        SerialDecoder("com1", max_line=0)
    with pytest.raises(UsageError):
        SerialDecoder("com1").feed("text")  # type: ignore[arg-type]
    assert SerialDecoder("com1", capture_limit=None).feed(b"x" * 5000) == []


# ---- decoder: properties ----------------------------------------------------------------

MIXED = (
    PANIC_13_4
    + DUMP_13_3_BYTES
    + NATIVE_13_4
    + b"[    9.1] Kernel panic - not syncing: Attempted to kill init!\r\n"
    + b"x" * 40
    + b"\r\r\n\xff\xfe\r"
    + DUMP_13_3_BYTES[:200]
)


def _decode_split(data: bytes, cuts: list[int], **options: int) -> list[SerialEvent]:
    dec = SerialDecoder("com1", **options)  # type: ignore[arg-type]
    events: list[SerialEvent] = []
    prev = 0
    for cut in [*sorted({min(c, len(data)) for c in cuts}), len(data)]:
        events += dec.feed(data[prev:cut])
        prev = cut
    return events + dec.close()


SMALL = {"max_line": 16, "capture_limit": 700, "capture_trim": 300}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(MIXED)), max_size=40))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    assert _decode_split(MIXED, cuts) == _decode_split(MIXED, [])
    assert _decode_split(MIXED, cuts, **SMALL) == _decode_split(MIXED, [], **SMALL)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=600).map(lambda b: b.replace(b"Z", b"\n")),
    st.lists(st.integers(0, 600), max_size=12),
)
def test_garbage_never_raises_and_lines_tile_the_stream(data: bytes, cuts: list[int]) -> None:
    events = _decode_split(data, cuts, **SMALL)
    assert events == _decode_split(data, [], **SMALL)
    lines = [e for e in events if isinstance(e, Line)]
    pos = 0
    for line in lines:
        assert line.offset == pos
        assert line.text == line.raw.decode("utf-8", "replace")
        if not line.truncated:
            assert data[line.offset : line.offset + len(line.raw)] == line.raw
        pos = line.end
    assert pos == len(data)
    assert all(not ln.terminated for ln in lines[-1:] if not data.endswith(b"\n"))
