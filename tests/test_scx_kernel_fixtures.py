"""Dumps a real sched_ext kernel wrote: ``fixtures/scx-kernel/`` decoded in CI.

The recordings come from Debian's linux-source-6.12 (6.12.117) built by
``tools/build-scx-kernel.sh``, with the tree's own scx_simple and scx_qmap, under QEMU
TCG with 2 vCPUs (``fixtures/make_fixtures.py --record-scx``). Nothing is built here.
Every expected value below was copied by hand from the COM1 text the kernel printed (the
transcript's com1 chunks), not produced by the decoders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from ktstr_host.cli import main
from ktstr_host.decode.extractors import parse_trace_cpu
from ktstr_host.decode.serial import DumpEnd, DumpLine, DumpStart, DumpUnterminated, SerialDecoder
from ktstr_host.session.result import RunResult, Status
from ktstr_host.session.result_builder import build_run_result
from ktstr_host.transcripts.io import read_transcript
from ktstr_proto import serial as s

SCX = Path(__file__).resolve().parent.parent / "fixtures" / "scx-kernel"
RELEASE = "6.12.117"


@dataclass(frozen=True)
class Printed:
    """What the kernel printed in one recording (copied from its COM1 text)."""

    first_dump_line: str
    dump_lines: int
    """``grep -c sched_ext_dump:`` of the COM1 text."""
    cpu_line: str
    curr_line: str
    kmsg_exit: str
    reason_line: str | None = None


PRINTED: dict[str, Printed] = {
    "sysrq-dump": Printed(
        "            init-1       [000] d....     3.168640: sched_ext_dump: "
        "Debug dump triggered by SysRq-D",
        50,
        "CPU 0   : nr_run=2 flags=0x1 cpu_rel=0 pnt_seq=4",
        "          curr=init[1] class=ext_sched_class",
        'sched_ext: BPF scheduler "simple" disabled (unregistered from user space)',
    ),
    "scheduler-error": Printed(
        "            init-1021    [000] d.h..     7.006018: sched_ext_dump: "
        "init[1021] triggered exit kind 1025:",
        91,
        "CPU 0   : nr_run=2 flags=0x1 cpu_rel=0 pnt_seq=8",
        "          curr=init[1021] class=ext_sched_class",
        'sched_ext: BPF scheduler "qmap" disabled (scx_bpf_error)',
        "  scx_bpf_error (test triggering error)",
    ),
    "scheduler-stall": Printed(
        "    kworker/u9:1-29      [000] d.h..    13.158818: sched_ext_dump: "
        "kworker/u9:1[29] triggered exit kind 1026:",
        99,
        "CPU 0   : nr_run=3 flags=0x1 cpu_rel=0 pnt_seq=94",
        "          curr=kworker/u9:1[29] class=ext_sched_class",
        'sched_ext: BPF scheduler "qmap" disabled (runnable task stall)',
        "  runnable task stall (init[274] failed to run for 7.432s)",
    ),
}


def _com1(name: str) -> bytes:
    return read_transcript(SCX / f"{name}.jsonl").channel_bytes("com1")


def _result(name: str) -> RunResult:
    return build_run_result(read_transcript(SCX / f"{name}.jsonl"))


def _dump_bodies(com1: bytes) -> list[str]:
    text = com1.decode("utf-8", "replace").replace("\r\n", "\n")
    marker = "sched_ext_dump: "
    return [line.split(marker, 1)[1] for line in text.split("\n") if marker in line]


def test_every_recording_is_checked() -> None:
    assert sorted(p.stem for p in SCX.glob("*.jsonl")) == sorted(PRINTED)


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_header_meta_names_kernel_and_scheduler(name: str) -> None:
    header = read_transcript(SCX / f"{name}.jsonl").header
    assert header.recorder["source"] == "qemu"
    assert header.meta["kernel"] == RELEASE
    want = {"sysrq-dump": "scx_simple"}.get(name, "scx_qmap")
    assert header.meta["scheduler"] == want


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_dump_found_with_cpu_and_kernel_version(name: str) -> None:
    printed = PRINTED[name]
    r = _result(name)
    assert r.sched_ext_dump is not None
    lines = r.sched_ext_dump.split("\n")
    assert lines[0] == printed.first_dump_line
    assert len(lines) == printed.dump_lines
    assert parse_trace_cpu(lines[0]) == "[000]"
    assert r.kernel_version == RELEASE


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_612_layout_cpu_states_and_no_event_counters(name: str) -> None:
    """6.12: a blank line, then ``CPU N   : ... pnt_seq=`` (no ``ops_qseq``) and the
    ``curr=`` line; the body ends without an ``Event counters`` section."""
    printed = PRINTED[name]
    bodies = _dump_bodies(_com1(name))
    at = bodies.index("CPU states")
    assert bodies[at + 1 : at + 5] == ["----------", "", printed.cpu_line, printed.curr_line]
    assert "Event counters" not in bodies
    assert not any(marker in b for b in bodies for marker in s.DUMP_END_MARKERS)


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_decoder_ends_the_612_dump_at_end_of_stream(name: str) -> None:
    """The decoder reads 6.12.117 from the verbose boot's banner and, as 6.12 prints no
    end line, closes the dump at the stream's end: complete, no anomaly."""
    printed = PRINTED[name]
    decoder = SerialDecoder("com1")
    events = decoder.feed(_com1(name)) + decoder.close()
    assert decoder.kernel_release == RELEASE
    starts = [e for e in events if isinstance(e, DumpStart)]
    ends = [e for e in events if isinstance(e, DumpEnd | DumpUnterminated)]
    assert len(starts) == 1 and len(ends) == 1
    end = ends[0]
    assert isinstance(end, DumpEnd) and end.marker == "end-of-stream"
    assert end.lines == printed.dump_lines
    assert all(e.cpu_tag == "[000]" for e in events if isinstance(e, DumpLine))
    r = _result(name)
    assert r.dump_complete
    assert not [a for a in r.anomalies if a.kind == "dump-unterminated"]


def test_sysrq_dump_names_its_trigger_not_an_exit() -> None:
    r = _result("sysrq-dump")
    assert r.status is Status.PASS and r.verdict == "Pass"
    assert r.dump_trigger == "SysRq-D"
    assert r.dump_exit_reason is None and r.dump_exit_kind is None
    bodies = _dump_bodies(_com1("sysrq-dump"))
    assert bodies[:4] == ["Debug dump triggered by SysRq-D", "", "CPU states", "----------"]
    assert "Backtrace:" not in bodies


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        ("scheduler-error", 1025, "scx_bpf_error (test triggering error)"),
        ("scheduler-stall", 1026, "runnable task stall (init[274] failed to run for 7.432s)"),
    ],
)
def test_exit_dump_kind_and_reason(name: str, kind: int, reason: str) -> None:
    printed = PRINTED[name]
    bodies = _dump_bodies(_com1(name))
    assert bodies[1] == printed.reason_line
    assert bodies[2:4] == ["", "Backtrace:"]
    r = _result(name)
    assert r.status is Status.FAIL
    assert r.dump_exit_kind == kind
    assert r.dump_exit_reason == reason
    assert r.bug_summary == reason
    assert r.dump_trigger is None
    assert r.scheduler_died and r.scheduler_exit_code == 0  # 6.12's UEI_REPORT: exit_code 0


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_kernel_console_names_the_scheduler_exit(name: str) -> None:
    text = _com1(name).decode("utf-8", "replace")
    assert PRINTED[name].kmsg_exit in text


def test_exit_dump_header_is_the_interrupted_task() -> None:
    """6.12 dumps an error exit from irq_work: the header's ``comm[pid]`` and the trace
    line's task are whatever task was running (``init[1021]``, a forked shell), not the
    scheduler; the watchdog's stall exit runs in a kworker."""
    error = _dump_bodies(_com1("scheduler-error"))[0]
    stall = _dump_bodies(_com1("scheduler-stall"))[0]
    assert s.parse_exit_dump_header(error) == ("init", 1021, 1025)
    assert s.parse_exit_dump_header(stall) == ("kworker/u9:1", 29, 1026)


def test_trace_line_layout_matches_the_real_kernel() -> None:
    """``format_trace_line`` rebuilds a real 6.12 line byte for byte."""
    made = s.format_trace_line(
        "Debug dump triggered by SysRq-D",
        comm="init",
        pid=1,
        cpu=0,
        ts_us=3_168_640,
        flags="d....",
    )
    assert made == PRINTED["sysrq-dump"].first_dump_line


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("sysrq-dump", ["dump trigger         SysRq-D", "kernel version       6.12.117"]),
        (
            "scheduler-error",
            [
                "dump exit reason     scx_bpf_error (test triggering error)",
                "dump exit kind       1025 (ERROR_BPF)",
            ],
        ),
        (
            "scheduler-stall",
            [
                "dump exit reason     runnable task stall (init[274] failed to run for 7.432s)",
                "dump exit kind       1026 (ERROR_STALL)",
            ],
        ),
    ],
)
def test_report_names_what_the_kernel_printed(
    name: str, lines: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", str(SCX / f"{name}.jsonl")])
    out = capsys.readouterr().out
    assert code == (0 if name == "sysrq-dump" else 1)
    assert "--- sched_ext dump ---\n" in out  # complete: no "(incomplete)"
    report = [line.split("   [")[0].rstrip() for line in out.splitlines()]
    for line in lines:
        assert line in report


def test_fact_sheet_rebuilds_the_real_sysrq_dump_head() -> None:
    made = s.dump_body(
        s.ExitKind.NONE,
        cpu_states=s.cpu_state_block(
            0, nr_run=2, flags=0x1, cpu_rel=0, pnt_seq=4, curr=("init", 1)
        ),
        event_counters=False,
    )
    assert _dump_bodies(_com1("sysrq-dump"))[: len(made)] == made


def test_fact_sheet_rebuilds_the_real_exit_dump_head() -> None:
    """Header, reason, backtrace, scx_qmap's ``ops.dump()`` lines and the first CPU
    block, in the kernel's order, with the 6.12 layout (no ``ops_qseq``)."""
    bodies = _dump_bodies(_com1("scheduler-error"))
    frames = bodies[4 : bodies.index("", 4)]
    assert len(frames) == 16 and frames[0] == "  scx_bpf_error_bstr+0x5d/0x80"
    made = s.dump_body(
        s.ExitKind.ERROR_BPF,
        comm="init",
        pid=1021,
        msg="test triggering error",
        backtrace=[f.strip() for f in frames],
        ops_dump=[
            "QMAP FIFO[0]:",
            "QMAP FIFO[1]:",
            "QMAP FIFO[2]: 247 248",
            "QMAP FIFO[3]:",
            "QMAP FIFO[4]:",
        ],
        cpu_states=s.cpu_state_block(
            0, nr_run=2, flags=0x1, cpu_rel=0, pnt_seq=8, curr=("init", 1021)
        ),
        event_counters=False,
    )
    assert bodies[: len(made)] == made


@pytest.mark.parametrize(
    ("name", "block"),
    [
        (
            "sysrq-dump",
            s.cpu_state_block(1, nr_run=2, flags=0x1, cpu_rel=0, pnt_seq=7, curr=("init", 173)),
        ),
        (
            "scheduler-stall",  # an idle CPU with runnable tasks: the idle class by name
            s.cpu_state_block(
                1,
                nr_run=2,
                flags=0x1,
                cpu_rel=0,
                pnt_seq=97,
                curr=("swapper/1", 0),
                sched_class="idle_sched_class",
            ),
        ),
    ],
)
def test_second_cpu_block(name: str, block: list[str]) -> None:
    """Both vCPUs are dumped (the kernel has ACPI, so it sees QEMU's two CPUs)."""
    bodies = _dump_bodies(_com1(name))
    at = bodies.index(block[1])
    assert bodies[at - 1 : at + 2] == block
