"""Upstream's pass/fail rules, one hand-built case each (issue 9, docs/run-result.md).

Inputs are written here with the guest writer; every expected value was written by hand
from upstream's source (likewhatevs/ktstr), named in each test's docstring:
``evaluate_vm_result`` / ``render_no_result_message`` (src/test_support/eval/mod.rs
@77af34a2), ``collect_results`` and ``run_bsp_loop`` (src/vmm/freeze_coord/mod.rs
@1f3b340c), ``classify_init_stage`` / ``extract_panic_message`` /
``parse_assert_result_from_drain`` / ``format_console_diagnostics``
(src/test_support/output.rs @237c19fe), ``parse_sched_output`` /
``concat_sched_log_chunks`` (src/verifier.rs @77af34a2), ``parse_kmsg_window``, the
freeze coordinator's SCDX kill (src/vmm/freeze_coord/dispatch.rs @77af34a2), and 0.4.9's
``src/test_support/eval.rs`` / ``output.rs`` (25abb9c).
"""

from __future__ import annotations

import json
from pathlib import Path

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_host.cli import main
from ktstr_host.session.result import RunResult, Status
from ktstr_host.session.result_builder import build_run_result
from ktstr_host.transcripts.io import write_transcript
from ktstr_proto.frame import build_frame
from ktstr_proto.payloads import LifecyclePhase
from ktstr_proto.schemas import (
    AssertDetail,
    AssertResult,
    DetailKind,
    Outcome,
    OutcomeKind,
    encode_assert_result,
)
from ktstr_proto.tags import MsgType as M
from ktstr_proto.transcript import Chunk, Header, Mark, Transcript

W = GuestBulkWriter("ktstr-0.15")
PASS = W.test_result(encode_assert_result(AssertResult.pass_()))
BULK_TIMEOUT = "timed out (no result via bulk port or COM2)"
BULK_NO_RESULT = (
    "no test result received from guest (no AssertResult arrived via bulk port or COM2; "
    "check kernel log and scheduler exit status)"
)
NO_OUTPUT = "test function produced no output (no test result found)"
PAYLOAD_STARTED = "payload started but produced no test result"
INIT_STARTED = "init started but payload never ran (cgroup/scheduler setup failed)"
INIT_NOT_STARTED = "init script never started (kernel or mount failure)"
KILLED = Mark(3.0, "vm-exit", {"status": None, "timed_out": False, "killed": "scheduler-exit"})
HARD_TIMEOUT = Mark(9.0, "vm-exit", {"status": None, "timed_out": True, "killed": None})
POWERED_OFF = Mark(3.0, "vm-exit", {"status": 0, "timed_out": False, "killed": None})


def run(
    bulk: bytes = b"",
    *,
    com1: bytes = b"",
    com2: bytes = b"",
    hvc0_h2g: bytes = b"",
    marks: tuple[Mark, ...] = (),
    profile: str = "ktstr-0.15",
) -> RunResult:
    events: list[Chunk | Mark] = []
    for channel, data in (("bulk", bulk), ("com1", com1), ("com2", com2)):
        if data:
            events.append(Chunk(1.0, channel, "g2h", data))
    if hvc0_h2g:
        events.append(Chunk(2.0, "hvc0", "h2g", hvc0_h2g))
    events += marks
    return build_run_result(Transcript(Header(profile), events))


def bad_crc(frame: bytes) -> bytes:
    return frame[:8] + bytes(4) + frame[12:]


def started() -> bytes:
    return W.lifecycle(LifecyclePhase.INIT_STARTED) + W.lifecycle(LifecyclePhase.PAYLOAD_STARTING)


def sched_log(text: bytes) -> bytes:
    return W.sched_log(text)  # the writer adds ===SCHED_OUTPUT_START/END=== frames


# ---- 1. a decoded result decides alone ------------------------------------------------


def test_decoded_pass_passes_with_exit_code_1() -> None:
    """evaluate_vm_result @77af34a2: with a parsed AssertResult only ``is_pass`` /
    ``is_skip`` decide; ``exit_code`` is not read on that path."""
    r = run(started() + PASS + W.exit(1))
    assert r.status is Status.PASS and r.reasons == []
    assert r.decided_by == "verdict Pass from TEST @ bulk 34"
    assert r.context == ["exit code 1 (EXIT frame @ bulk 95) is context"]


def test_decoded_pass_passes_without_an_exit_frame() -> None:
    """evaluate_vm_result @77af34a2: a missing EXIT frame does not matter once a result
    decoded."""
    r = run(started() + PASS)
    assert r.status is Status.PASS and r.exit_code is None


def test_decoded_pass_passes_after_the_soft_deadline_byte() -> None:
    """Watchdog @1f3b340c: the soft deadline writes 0xD3 and keeps the guest running;
    only the hard-deadline branch sets ``timed_out``."""
    r = run(started() + PASS + W.exit(0), hvc0_h2g=b"\xd3")
    assert r.status is Status.PASS and not r.timed_out
    assert r.context == ["0xD3 soft-deadline wake byte @ hvc0 0 (not a timeout)"]


def test_soft_deadline_byte_without_result_is_not_a_timeout() -> None:
    """Watchdog @1f3b340c: 0xD3 is no timeout, so the no-result reason is not the
    timeout's."""
    r = run(started(), hvc0_h2g=b"\xd3", marks=(POWERED_OFF,))
    assert not r.timed_out and r.reasons == [NO_OUTPUT]


def test_pass_with_timeout_crash_panic_and_scheduler_exit_stays_a_pass() -> None:
    """evaluate_vm_result @77af34a2: ``timed_out``, ``crash_message``, SCDX and the
    kernel-panic latch are not read once a result decoded."""
    r = run(
        started() + W.stdout(b"PANIC: boom\n") + PASS + W.sched_exit(1),
        com1=b"Kernel panic - not syncing: Attempted to kill init!\n",
        marks=(HARD_TIMEOUT,),
    )
    assert r.status is Status.PASS and r.reasons == []
    assert r.timed_out and r.crash_message == "boom" and r.scheduler_died
    assert r.context == [
        "exit code -1 (run loop, no EXIT frame: hard-deadline timeout) is context",
        "hard-deadline timeout is context",
        "crash message is context: boom",
        "scheduler died (exit code 1) is context",
        "kernel panic is context: Kernel panic - not syncing: Attempted to kill init!",
    ]


def test_skip_passes_and_inconclusive_fails() -> None:
    """dispatch.rs @77af34a2 (``ok_to_exit_code``): Skip exits 0; a guest Inconclusive
    makes evaluate_vm_result return Err, which exits 1 like a Fail."""
    skip = W.test_result(encode_assert_result(AssertResult.skip("no smt")))
    assert run(started() + skip + W.exit(0)).status is Status.SKIP
    detail = AssertDetail(DetailKind.OTHER, "too few samples")
    inconclusive = AssertResult(outcomes=(Outcome(OutcomeKind.INCONCLUSIVE, detail),))
    r = run(started() + W.test_result(encode_assert_result(inconclusive)) + W.exit(0))
    assert r.status is Status.FAIL
    assert r.reasons == ["test verdict: Inconclusive: too few samples"]


def test_fail_lists_every_failing_detail() -> None:
    """evaluate_vm_result @77af34a2: a failing result's message lists its details."""
    fail = AssertResult(
        outcomes=(
            Outcome(OutcomeKind.FAIL, AssertDetail(DetailKind.STARVED, "worker 3 starved")),
            Outcome(OutcomeKind.PASS),
            Outcome(OutcomeKind.FAIL, AssertDetail(DetailKind.UNFAIR, "spread 40%")),
        )
    )
    r = run(started() + W.test_result(encode_assert_result(fail)) + W.exit(1))
    assert r.reasons == ["test verdict: Fail: worker 3 starved; spread 40%"]


# ---- 2. no decodable result: upstream's reasons, in its order ------------------------


def test_timeout_comes_before_a_crash() -> None:
    """render_no_result_message @77af34a2: ``timed_out`` is checked first; a crash is then
    only a section of the message."""
    r = run(started() + W.stdout(b"PANIC: boom\n"), marks=(HARD_TIMEOUT,))
    assert r.reasons == [BULK_TIMEOUT]
    assert "crash message is context: boom" in r.context


def test_timeout_names_the_scheduler_exit_from_the_kernel_console() -> None:
    """render_no_result_message @77af34a2 with parse_kmsg_window: the last scx exit event
    on COM1 names the timeout; follow-on lines that speak of sched_ext join the message
    trimmed (their timestamps kept), the first line that does not ends the event; an event
    without a message names the scheduler."""
    com1 = (
        b'[  3.1] sched_ext: BPF scheduler "simple" disabled (runtime error)\n'
        b"[  3.1] sched_ext: simple: scx_bpf_error called\n"
        b"[  3.2] random: crng init done\n"
    )
    r = run(started(), com1=com1, marks=(HARD_TIMEOUT,))
    assert r.reasons == [
        "timed out (scheduler exited: runtime error [  3.1] sched_ext: simple: "
        "scx_bpf_error called)"
    ]
    bare = b'[  3.1] sched_ext: BPF scheduler "qmap" disabled\n'
    assert run(started(), com1=bare, marks=(HARD_TIMEOUT,)).reasons == [
        "timed out (scheduler qmap exited)"
    ]


def test_crash_comes_before_the_scheduler_and_reads_guest_crashed_newline() -> None:
    """collect_results sets crash_message from the output; evaluate_vm_result prints
    ``guest crashed:\\n{crash}`` (ERR_GUEST_CRASHED_PREFIX + LF)."""
    r = run(started() + sched_log(b"scx: up\n") + W.stderr(b"PANIC: panicked at a.rs:1:2:\n"))
    assert r.reasons == ["guest crashed:\npanicked at a.rs:1:2:"]


def test_running_scheduler_without_result() -> None:
    """render_no_result_message @77af34a2: with a scheduler and no console evidence of its
    exit, ERR_NO_TEST_RESULT_FROM_GUEST."""
    r = run(started() + sched_log(b"scx: up\n") + W.exit(0))
    assert r.reasons == [BULK_NO_RESULT]


def test_running_scheduler_exit_from_the_kernel_line_or_the_dump() -> None:
    """render_no_result_message @77af34a2: the last kmsg exit event, else the dump's exit
    reason (extract_exit_from_dump_trace), names the scheduler's exit."""
    kmsg = b'sched_ext: BPF scheduler "simple" disabled (operator request)\n'
    r = run(started() + sched_log(b"x\n"), com1=kmsg)
    assert r.reasons == ["scheduler exited: operator request"]
    dump = (
        b"   kworker-12  [001] ..... 3.5: sched_ext_dump: simple[1] triggered exit kind 1025:\n"
        b"   kworker-12  [001] ..... 3.5: sched_ext_dump:   scx_bpf_error (bad DSQ)\n"
    )
    r = run(started() + sched_log(b"x\n"), com1=dump)
    assert r.reasons == ["scheduler exited: scx_bpf_error (bad DSQ)"]


def test_no_scheduler_and_no_result() -> None:
    """ERR_NO_TEST_FUNCTION_OUTPUT when nothing shows a scheduler (EEVDF)."""
    assert run(started() + W.exit(0)).reasons == [NO_OUTPUT]


def test_legacy_reasons_name_shm_or_com2_and_crash_with_a_space() -> None:
    """0.4.9 eval.rs: ``timed out (no result in SHM or COM2)``; a COM2 crash is found by
    extract_panic_message(output) and printed as ``guest crashed: {msg}``."""
    timed_out = run(com2=b"KTSTR_INIT_STARTED\r\n", profile="ktstr-0.4", marks=(HARD_TIMEOUT,))
    assert timed_out.reasons == ["timed out (no result in SHM or COM2)"]
    crashed = run(com2=b"KTSTR_INIT_STARTED\r\nPANIC: oops\r\n", profile="ktstr-0.4")
    assert crashed.reasons == ["guest crashed: oops"]


# ---- 3. inputs as collect_results builds them -----------------------------------------


def test_crc_bad_stdout_never_reaches_stdout() -> None:
    """collect_results @1f3b340c: ``if !e.crc_ok { continue; }`` before SOUT/SERR."""
    r = run(W.stdout(b"good ") + bad_crc(W.stdout(b"CORRUPT")) + W.stdout(b"end"))
    assert r.stdout == "good end"
    assert [a.kind for a in r.anomalies] == ["crc-mismatch"]


def test_crc_bad_sched_log_never_reaches_the_scheduler_log() -> None:
    """concat_sched_log_chunks @77af34a2 keeps CRC-good SCLG frames only."""
    bulk = (
        build_frame(M.SCHED_LOG, b"===SCHED_OUTPUT_START===\nkept\n")
        + bad_crc(build_frame(M.SCHED_LOG, b"CORRUPT\n"))
        + build_frame(M.SCHED_LOG, b"===SCHED_OUTPUT_END===\n")
    )
    assert run(bulk).sched_log == "kept"


def test_sched_log_is_trimmed_and_absent_without_both_markers_or_content() -> None:
    """parse_sched_output @77af34a2: first START to last END, trimmed; None when a marker
    is missing, END precedes START, or nothing is between."""
    start, end = b"===SCHED_OUTPUT_START===", b"===SCHED_OUTPUT_END==="
    assert run(build_frame(M.SCHED_LOG, start + b"\n  a\n b \n" + end)).sched_log == "a\n b"
    assert run(build_frame(M.SCHED_LOG, start + b"\nno end\n")).sched_log is None
    assert run(build_frame(M.SCHED_LOG, b"no start\n" + end)).sched_log is None
    assert run(build_frame(M.SCHED_LOG, end + b"x" + start)).sched_log is None
    assert run(build_frame(M.SCHED_LOG, start + b" \n\t" + end)).sched_log is None


def test_sched_log_falls_back_to_the_output() -> None:
    """evaluate_vm_result @77af34a2: ``sched_log_input`` is the SCLG text when non-empty,
    otherwise the output."""
    r = run(W.stdout(b"===SCHED_OUTPUT_START===\nfrom stdout\n===SCHED_OUTPUT_END===\n"))
    assert r.sched_log == "from stdout"


def test_crash_is_searched_in_stdout_and_stderr_in_arrival_order_then_com2() -> None:
    """collect_results @1f3b340c: output = CRC-good SOUT and SERR interleaved in arrival
    order, then COM2; crash_message = extract_panic_message(output)."""
    r = run(
        started() + W.stderr(b"PANIC: first\n") + W.stdout(b"PANIC: second\n"),
        com2=b"PANIC: third\r\n",
    )
    assert r.crash_message == "first"
    assert r.provenance["crash_message"][0].channel == "bulk"
    only_com2 = run(started() + W.stdout(b"fine\n"), com2=b"PANIC: third\r\n")
    assert only_com2.crash_message == "third"
    assert only_com2.provenance["crash_message"][0].channel == "com2"


def test_panic_line_in_stdout_is_the_crash_of_a_run_without_result() -> None:
    """The issue's case: a ``PANIC:`` line in the guest's stdout, no result."""
    r = run(started() + W.stdout(b"work\nPANIC: panicked at src/x.rs:9:1:\n"))
    assert r.status is Status.FAIL and r.reasons == ["guest crashed:\npanicked at src/x.rs:9:1:"]


def test_crash_line_must_start_with_panic_in_the_bulk_era() -> None:
    """extract_panic_message @237c19fe: ``strip_prefix("PANIC:")`` on the trimmed line."""
    assert run(started() + W.stdout(b"note: PANIC: not a crash\n")).crash_message is None


def test_legacy_crash_line_contains_panic_anywhere() -> None:
    """0.4.9 output.rs: the first line that contains ``PANIC:``; a line that does not
    start with it is the message whole (trimmed)."""
    r = run(com2=b"KTSTR_INIT_STARTED\r\n  init: PANIC: lost\r\n", profile="ktstr-0.4")
    assert r.crash_message == "init: PANIC: lost"


def test_exit_code_without_exit_frame() -> None:
    """run_bsp_loop @1f3b340c: -1 unless the BSP saw the guest's shutdown (0); the hard
    deadline, an SCDX kill and the panic latch all leave -1. A powered-off guest without
    EXIT gives 0 or -1 upstream, which a transcript cannot tell."""
    assert run(started() + PASS, marks=(HARD_TIMEOUT,)).exit_code == -1
    killed = run(started() + sched_log(b"x\n") + W.sched_exit(1), marks=(KILLED,))
    assert killed.exit_code == -1 and killed.host_killed == "scheduler-exit"
    panic = run(started(), com1=b"Kernel panic - not syncing: Fatal exception\n")
    assert panic.exit_code == -1
    off = run(started(), marks=(POWERED_OFF,))
    assert off.exit_code is None
    assert off.exit_code_source == "unknown: no EXIT frame; upstream's run loop gives 0 or -1"


def test_diagnostics_print_eperm_for_minus_one() -> None:
    """format_console_diagnostics @237c19fe: ``exit_code=-1 (EPERM)``."""
    r = run(started() + sched_log(b"x\n") + W.sched_exit(1), com1=b"boot\n", marks=(KILLED,))
    assert "exit_code=-1 (EPERM)" in r.diagnostics
    assert r.diagnostics.startswith(f"\n\n--- diagnostics ---\nstage: {PAYLOAD_STARTED}\n")


def test_trailing_bytes_after_the_result_are_accepted_and_reported() -> None:
    """parse_assert_result_from_drain @237c19fe: ``postcard::from_bytes`` ignores what
    follows a complete value."""
    payload = encode_assert_result(AssertResult.pass_()) + b"\x00\xff\x07"
    r = run(started() + W.test_result(payload) + W.exit(0))
    assert r.status is Status.PASS
    assert [a.kind for a in r.anomalies] == ["trailing-bytes"]
    assert "3 bytes after a complete AssertResult" in r.anomalies[0].detail


def test_lifecycle_frame_is_classified_by_its_first_byte() -> None:
    """classify_init_stage @237c19fe reads ``payload[0]`` only: a reason that is not
    UTF-8 does not drop the frame."""
    life = build_frame(M.LIFECYCLE, bytes([LifecyclePhase.PAYLOAD_STARTING]) + b"\xff\xfe")
    r = run(W.lifecycle(LifecyclePhase.INIT_STARTED) + life)
    assert [e.phase for e in r.lifecycle] == ["INIT_STARTED", "PAYLOAD_STARTING"]
    assert r.stage == PAYLOAD_STARTED


def test_stage_labels_of_classify_init_stage() -> None:
    """classify_init_stage @237c19fe: PayloadStarting, else any phase, else none; there is
    no label for a run that completed."""
    died = run(W.lifecycle(LifecyclePhase.SCHEDULER_DIED))
    assert died.stage == INIT_STARTED
    assert run(b"").stage == INIT_NOT_STARTED
    fail = AssertResult.fail(AssertDetail(DetailKind.SCHEDULER_CRASHED, "scheduler died"))
    r = run(started() + W.test_result(encode_assert_result(fail)) + W.exit(1))
    assert r.stage == PAYLOAD_STARTED  # even with a verdict


def test_diagnostics_only_where_upstream_prints_them() -> None:
    """evaluate_vm_result @77af34a2: a failing result carries the console block only
    when a detail says the scheduler died."""
    starved = AssertResult.fail(AssertDetail(DetailKind.STARVED, "w3"))
    r = run(started() + W.test_result(encode_assert_result(starved)) + W.exit(1), com1=b"x\n")
    assert r.diagnostics == "" and r.stage is None
    crashed = AssertResult.fail(AssertDetail(DetailKind.SCHEDULER_CRASHED, "gone"))
    r = run(started() + W.test_result(encode_assert_result(crashed)) + W.exit(1), com1=b"x\n")
    assert r.diagnostics.startswith("\n\n--- diagnostics ---\nstage: ")


# ---- 4. legacy 0.4.9 ---------------------------------------------------------------------


def test_legacy_verdict_from_passed_only() -> None:
    """0.4.9 eval.rs: ``if !check_result.passed { bail!(..) }``: ``skipped`` cannot make a
    failing result pass."""
    body = '{"passed": false, "skipped": true, "details": [{"message": "w"}]}'
    lines = ["KTSTR_INIT_STARTED", "===KTSTR_TEST_RESULT_START===", body]
    lines += ["===KTSTR_TEST_RESULT_END===", "KTSTR_EXIT=0"]
    r = run(com2="".join(f"{x}\r\n" for x in lines).encode(), profile="ktstr-0.4")
    assert r.status is Status.FAIL and r.verdict == "Fail"


# ---- 5. the host's kill on SCDX, as a recording shows it -------------------------------


def test_report_json_gives_upstreams_verdict(tmp_path: Path, capsys: object) -> None:
    """The issue's acceptance case through ``ktstr-host report --json``: a decoded Pass
    with EXIT 1, a 0xD3 and trailing bytes passes; CRC-bad SOUT bytes are absent."""
    payload = encode_assert_result(AssertResult.pass_()) + b"\x01"
    bulk = started() + W.stdout(b"ok\n") + bad_crc(W.stdout(b"SECRET\n"))
    bulk += W.test_result(payload) + W.exit(1)
    events: list[Chunk | Mark] = [
        Chunk(1.0, "bulk", "g2h", bulk),
        Chunk(2.0, "hvc0", "h2g", b"\xd3"),
        POWERED_OFF,
    ]
    path = tmp_path / "run.jsonl"
    write_transcript(path, Transcript(Header("ktstr-0.15"), events))
    assert main(["report", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert out["status"] == "pass" and out["stdout"] == "ok\n"
    assert "SECRET" not in json.dumps(out)
