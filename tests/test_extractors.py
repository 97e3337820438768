"""Host extractors (ktstr_host.decode.extractors) against serial.md section 9.2 and 13.

Expected values are written by hand from the rules; cases marked "upstream" restate the
behaviour pinned by upstream's own unit tests (output.rs at 237c19fef61e).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktstr_host.decode.extractors import (
    errno_name,
    extract_bug_summary,
    extract_dump_exit_kind,
    extract_dump_trigger,
    extract_exit_from_dump_trace,
    extract_kernel_version,
    extract_panic_message,
    extract_sched_ext_dump,
    format_console_diagnostics,
    format_dump_section,
    parse_trace_cpu,
    strip_ansi_csi,
)
from ktstr_proto.errors import UsageError

PANIC_13_4 = (
    "PANIC: panicked at src/scenario/ops/mod.rs:812:14:\r\n"
    "called `Option::unwrap()` on a `None` value\r\n"
    "   0: std::backtrace::Backtrace::force_capture\r\n"
)
DUMP_13_3 = (
    "      scx_simple-231     [001] d.h2.    14.002113: sched_ext_dump: scx_simple[231] triggered exit kind 1025:\r\n"  # noqa: E501
    "      scx_simple-231     [001] d.h2.    14.002119: sched_ext_dump:   scx_bpf_error (invalid DSQ ID 0x42)\r\n"  # noqa: E501
    "      scx_simple-231     [001] d.h2.    14.002120: sched_ext_dump: \r\n"
    "      scx_simple-231     [001] d.h2.    14.002121: sched_ext_dump: Backtrace:\r\n"
)  # fmt: skip
BOOT_13_2 = (
    "[    0.000000] Linux version 6.16.0 (user@host) (gcc ...) #1 SMP ...\r\n"
    "[    0.812345] Run /init as init process\r\n"
)

# ---- crash message --------------------------------------------------------------------


def test_crash_message_13_4() -> None:
    assert extract_panic_message(PANIC_13_4) == "panicked at src/scenario/ops/mod.rs:812:14:"
    assert extract_panic_message(PANIC_13_4.encode()) == (
        "panicked at src/scenario/ops/mod.rs:812:14:"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("noise\nPANIC: panicked at src/main.rs:5: oh no\nmore", "panicked at src/main.rs:5: oh no"),  # noqa: E501
        ("noise\n   PANIC: indented panic\nmore", "indented panic"),  # upstream
        ("info: expected PANIC: somewhere\n", None),  # mid-line never matches (upstream)
        ("", None),
        ("PANIC:\n", ""),
        ("PANIC:\t\u3000x \r\n", "x"),
        ("\x1cPANIC: x\n", None),  # U+001C is not whitespace to Rust
        ("PANIC: fatal signal SIGBUS at addr 0x0000000000000001\r\n",
         "fatal signal SIGBUS at addr 0x0000000000000001"),
        ("PANIC: first\nPANIC: second\n", "first"),
    ],
)  # fmt: skip
def test_extract_panic_message(text: str, expected: str | None) -> None:
    assert extract_panic_message(text) == expected


# ---- dump lines and CPU tags --------------------------------------------------------------


def test_extract_sched_ext_dump() -> None:
    text = "noise\r\n a-0 [001] 0.5: sched_ext_dump: Debug dump\r\nmore\n b [002] sched_ext_dump: x"
    assert extract_sched_ext_dump(text) == (
        " a-0 [001] 0.5: sched_ext_dump: Debug dump\n b [002] sched_ext_dump: x"
    )
    assert extract_sched_ext_dump("BUG in sched_ext_dump_disable\nsched_ext_dump.service\n") is None
    assert extract_sched_ext_dump("") is None
    assert format_dump_section("a\nb") == "\n\n--- sched_ext dump ---\na\nb"


@pytest.mark.parametrize(
    ("line", "cpu"),
    [
        ("  ktstr-1234 [001] 0.500: sched_ext_dump: scheduler[5678] triggered", "[001]"),
        ("[5]-1234 [001] 0.500: sched_ext_dump: x", "[001]"),  # last bracket wins (upstream)
        ("t-1 [12345] 1.0: sched_ext_dump: x", "[12345]"),
        ("t-1 [123456] 1.0: sched_ext_dump: x", None),  # more than 5 digits
        ("t-1 [] 1.0: sched_ext_dump: x", None),
        ("t-1 [0a1] 1.0: sched_ext_dump: x", None),
        ("t-1 [\u0661] 1.0: sched_ext_dump: x", None),  # not ASCII digits
        ("t-1 [001 1.0: sched_ext_dump: x [002]", None),  # no closing bracket before marker
        ("t-1 [001] 1.0 sched_ext_dump: x", None),  # needs ": sched_ext_dump:"
        ("[    0.000000] Linux version 6.16.0", None),
        ("x [7] y [8] z: sched_ext_dump: [9]", "[8]"),
    ],
)
def test_parse_trace_cpu(line: str, cpu: str | None) -> None:
    assert parse_trace_cpu(line) == cpu


# ---- exit reason and bug summary ---------------------------------------------------------


def test_extract_exit_from_dump_trace_13_3() -> None:
    assert extract_exit_from_dump_trace(DUMP_13_3) == "scx_bpf_error (invalid DSQ ID 0x42)"


ANCHOR_1 = "ktstr-1234 [001] 0.500: sched_ext_dump: scheduler[1] triggered exit kind 5:\n"
OTHER_CPU = "ktstr-5678 [002] 0.500: sched_ext_dump: scheduler[2] unrelated event from cpu 2\n"
BODY_1 = "ktstr-1234 [001] 0.501: sched_ext_dump:   apply_cell_config returned -EINVAL\n"
ANCHOR_1B = "ktstr-1 [001] 0.510: sched_ext_dump: scheduler[2] triggered exit kind 7:\n"
BODY_1B = "ktstr-1 [001] 0.511: sched_ext_dump:   second_error returned -EBUSY\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ANCHOR_1 + OTHER_CPU + BODY_1, "apply_cell_config returned -EINVAL"),  # skips [002]
        (ANCHOR_1 + OTHER_CPU, None),  # no same-CPU body
        (ANCHOR_1, None),  # anchor on the last line
        (ANCHOR_1 + ANCHOR_1B + BODY_1B, "second_error returned -EBUSY"),  # stops at anchor
        (ANCHOR_1 + "ktstr-1 [001] 0.6: sched_ext_dump:   \n", None),  # blank body
        ("ktstr-1 [001] 0.5: sched_ext_dump: routine\n", None),  # no anchor
        ("scheduler[1] triggered exit kind 5:\n  body\n", None),  # anchor needs the marker
        ("x: sched_ext_dump: s[1] triggered exit kind 5:\n  plain body\n", None),  # body too
        ("x: sched_ext_dump: s[1] triggered exit kind 5:\nx: sched_ext_dump: b\n", "b"),
    ],
)
def test_extract_exit_from_dump_trace(text: str, expected: str | None) -> None:
    assert extract_exit_from_dump_trace(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DUMP_13_3, 1025),
        ("k-11 [000] d.h.. 10.8: sched_ext_dump: kworker/u4:0[11] triggered exit kind 1026:", 1026),
        ("x: sched_ext_dump: a b[7] triggered exit kind 64:\r\n", 64),  # comm with a space
        ("x: sched_ext_dump:   scx_bpf_error (s[1] triggered exit kind 5:)\n", None),
        ("s[1] triggered exit kind 1025:\n", None),  # not a dump line
        ("x: sched_ext_dump: s[1] triggered exit kind -1:\n", None),
        ("x: sched_ext_dump: Debug dump triggered by SysRq-D\n", None),
    ],
)
def test_extract_dump_exit_kind(text: str, expected: int | None) -> None:
    assert extract_dump_exit_kind(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sh-93 [000] d..1. 5.1: sched_ext_dump: Debug dump triggered by SysRq-D\r\n", "SysRq-D"),
        ("a: sched_ext_dump: x\nb: sched_ext_dump:  Debug dump triggered by  why \n", "why"),
        ("a: sched_ext_dump: Debug dump triggered by \n", None),  # nothing after it
        ("Debug dump triggered by SysRq-D\n", None),  # not a dump line
        ("a: sched_ext_dump: x[1] triggered exit kind 1025:\n", None),  # an exit dump
        ("a: sched_ext_dump: CPU 0 Debug dump triggered by X\n", None),  # not the body start
    ],
)
def test_extract_dump_trigger(text: str, expected: str | None) -> None:
    assert extract_dump_trigger(text) == expected


@pytest.mark.parametrize(
    ("dump", "sched_log", "expected"),
    [
        (DUMP_13_3, None, "scx_bpf_error (invalid DSQ ID 0x42)"),
        ("scheduler[1] triggered exit kind 5:\n  body_without_trace_framing\n", None,
         "body_without_trace_framing"),  # no CPU tag: plain adjacency, no marker needed
        (ANCHOR_1 + OTHER_CPU, "starting\nscx_bpf_error: late fallback\n",
         "scx_bpf_error: late fallback"),
        (ANCHOR_1 + "ktstr-1 [001] 0.5: sched_ext_dump:   anchor body wins\n",
         "scx_bpf_error: should not win\n", "anchor body wins"),
        ("", "clean log\n", None),
        ("", None, None),
        ("  k-1 [001] 0.5: sched_ext_dump: sched_ext: BPF scheduler \"x\" disabled (Error)\n",
         "", None),
        ("k-1 [001] 0.5: sched_ext_dump: \x1b[1ms[1] triggered exit kind 5:\x1b[0m\n"
         "k-1 [001] 0.5: sched_ext_dump:   \x1b[31mboom -EINVAL\x1b[0m (x)\n", None,
         "boom -EINVAL (x)"),
        ("", "  \x1b[31mscx_bpf_error\x1b[0m: red-wrapped  \n", "scx_bpf_error: red-wrapped"),
        (ANCHOR_1 + ANCHOR_1B + BODY_1B, None, "second_error returned -EBUSY"),
    ],
)  # fmt: skip
def test_extract_bug_summary(dump: str, sched_log: str | None, expected: str | None) -> None:
    assert extract_bug_summary(dump, sched_log) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("a\x1b[1;2;3Hb", "ab"),
        ("a\x1bb\x1b", "a\x1bb\x1b"),  # ESC without '[' stays
        ("keep\x1b[12;\u00e9", "keep"),  # unterminated: runs to the end
        ("x\x1b[\u00e9\u4e00mz", "xz"),  # non-ASCII inside a CSI is skipped
    ],
)
def test_strip_ansi_csi(text: str, expected: str) -> None:
    assert strip_ansi_csi(text) == expected


# ---- kernel version -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOOT_13_2, "6.16.0"),
        ("[    0.000000] Linux version 6.14.0-rc3+ (user@host) (gcc) #1 SMP\n", "6.14.0-rc3+"),
        ("Linux version 6.12.0", "6.12.0"),
        ("no kernel here", None),
        ("Linux version \n", ""),
        ("Linux version Linux version 6.1\n", ""),  # split(..).nth(1) is the empty middle
        ("Linux version\u30006.2 x\n", None),
        ("Linux version \u20036.3\n", "6.3"),
    ],
)
def test_extract_kernel_version(text: str, expected: str | None) -> None:
    assert extract_kernel_version(text) == expected


# ---- diagnostics block ----------------------------------------------------------------------


def test_errno_names() -> None:
    assert errno_name(1) == "EPERM"
    assert errno_name(95) == "ENOTSUP"
    assert errno_name(111) == "ECONNREFUSED"
    assert errno_name(15) is None
    assert errno_name(0) is None


def test_diagnostics_empty_and_exit_only() -> None:
    assert format_console_diagnostics("", 0, "s") == ""
    assert format_console_diagnostics(" \r\n\t", 0, "s") == ""
    assert format_console_diagnostics("", 1, "test stage") == (
        "\n\n--- diagnostics ---\nstage: test stage\nexit_code=1"
    )
    assert format_console_diagnostics("  \n", -2, "st") == (
        "\n\n--- diagnostics ---\nstage: st\nexit_code=-2 (ENOENT)"
    )
    assert format_console_diagnostics("", -15, "st").endswith("exit_code=-15")
    assert format_console_diagnostics("", -(2**31), "st").endswith(f"exit_code={-(2**31)}")


def test_diagnostics_short_console() -> None:
    console = "line1\nline2\nKernel panic - not syncing\n"
    assert format_console_diagnostics(console, -1, "payload started") == (
        "\n\n--- diagnostics ---\nstage: payload started\nexit_code=-1 (EPERM)\n"
        "console (3 lines):\nline1\nline2\nKernel panic - not syncing"
    )


def test_diagnostics_window_and_partial() -> None:
    lines = [f"boot line {i}" for i in range(50)]
    full = "\n".join(lines) + "\n"
    expected_tail = "\n".join(lines[30:])
    assert format_console_diagnostics(full, 0, "t") == (
        "\n\n--- diagnostics ---\nstage: t\nexit_code=0\n"
        f"console (20 lines, window-truncated):\n{expected_tail}"
    )
    assert format_console_diagnostics("\n".join(lines), 0, "t") == (
        "\n\n--- diagnostics ---\nstage: t\nexit_code=0\n"
        f"console (20 lines, window-truncated, last line incomplete):\n{expected_tail} [partial]"
    )
    assert format_console_diagnostics("line1\nline2\npartial li", 0, "t").endswith(
        "console (3 lines, last line incomplete):\nline1\nline2\npartial li [partial]"
    )
    assert format_console_diagnostics(full, 0, "t", tail_lines=2).endswith(
        "console (2 lines, window-truncated):\nboot line 48\nboot line 49"
    )


def test_diagnostics_panic_shows_everything_and_trims_ends() -> None:
    lines = [f"l{i}" for i in range(30)]
    console = "\r\n  " + "\r\n".join(lines[:25]) + "\r\nPANIC: boom\r\n" + "\r\n".join(lines[25:])
    out = format_console_diagnostics(console, 0, "t")
    # trimmed first: the leading CR LF and spaces go; lines() drops each CR before LF
    body = "\n".join([*lines[:25], "PANIC: boom", *lines[25:]])
    assert out.endswith(f"console (31 lines, last line incomplete):\n{body} [partial]")
    trailing = format_console_diagnostics("a\nb\n  \n", 0, "t")
    assert trailing.endswith("console (2 lines):\na\nb")


def test_diagnostics_usage_errors() -> None:
    with pytest.raises(UsageError):
        format_console_diagnostics("", 2**31, "t")
    with pytest.raises(UsageError):
        format_console_diagnostics("", True, "t")
    with pytest.raises(UsageError):
        format_console_diagnostics(12, 0, "t")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.text(max_size=200))
def test_extractors_never_raise(data: bytes, text: str) -> None:
    for value in (data, text):
        extract_panic_message(value)
        extract_sched_ext_dump(value)
        extract_exit_from_dump_trace(value)
        extract_bug_summary(value, value)
        extract_kernel_version(value)
        format_console_diagnostics(value, -1, "s")
        for line in text.split("\n"):
            cpu = parse_trace_cpu(line)
            assert cpu is None or (cpu[0], cpu[-1]) == ("[", "]")
