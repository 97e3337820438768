"""Run-result rules (bulk.md 6.4-6.5, serial.md 9), one case each, built by hand."""

from __future__ import annotations

import json

import pytest

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_host.session.result import RunResult, Status
from ktstr_host.session.result_builder import build_run_result
from ktstr_proto.frame import build_frame, build_header
from ktstr_proto.payloads import LifecyclePhase
from ktstr_proto.schemas import AssertResult, encode_assert_result
from ktstr_proto.serial import STAGE_INIT_NOT_STARTED, STAGE_PAYLOAD_STARTED_NO_RESULT
from ktstr_proto.tags import MsgType as M
from ktstr_proto.transcript import Chunk, Header, Mark, Transcript

W = GuestBulkWriter("ktstr-0.15")
PASS = W.test_result(encode_assert_result(AssertResult.pass_()))


def run(
    bulk: bytes = b"",
    com1: bytes = b"",
    com2: bytes = b"",
    profile: str = "ktstr-0.15",
    extra: list[Chunk | Mark] | None = None,
) -> RunResult:
    events: list[Chunk | Mark] = []
    for ch, data in (("bulk", bulk), ("com1", com1), ("com2", com2)):
        if data:
            events.append(Chunk(1.0, ch, "g2h", data))
    events += extra or []
    return build_run_result(Transcript(Header(profile), events))


def bad_crc(frame: bytes) -> bytes:
    return frame[:8] + bytes(4) + frame[12:]


def started() -> bytes:
    return W.lifecycle(LifecyclePhase.INIT_STARTED) + W.lifecycle(LifecyclePhase.PAYLOAD_STARTING)


def test_last_crc_ok_exit_of_exactly_four_bytes_wins() -> None:
    r = run(
        started()
        + PASS
        + W.exit(3)
        + W.exit(0)
        + bad_crc(W.exit(7))
        + build_frame(M.EXIT, bytes(5))
    )
    assert r.exit_code == 0 and r.status is Status.PASS
    # two LIFE frames (34 bytes), TEST (61), EXIT 3 (20): EXIT 0 starts at 115
    assert r.provenance["exit_code"][0].offsets == (115,)
    kinds = [a.kind for a in r.anomalies]
    assert kinds == ["crc-mismatch", "payload-error"]


def test_crc_bad_sched_exit_is_ignored_and_good_one_is_context() -> None:
    r = run(started() + PASS + bad_crc(W.sched_exit(1)) + W.exit(0))
    assert not r.scheduler_died and r.status is Status.PASS
    r = run(started() + PASS + W.sched_exit(9) + W.exit(0))
    assert r.scheduler_died and r.scheduler_exit_code == 9 and r.status is Status.PASS
    assert r.context == ["scheduler died (exit code 9) is context"]


def test_last_crc_ok_test_result_is_the_verdict() -> None:
    fail = W.test_result(encode_assert_result(AssertResult.fail_msg("boom")))
    r = run(started() + fail + PASS + bad_crc(fail) + W.exit(0))
    assert r.verdict == "Pass"
    r = run(started() + PASS + fail + W.exit(0))
    assert r.verdict == "Fail" and r.reasons == ["test verdict: Fail: boom"]


def test_undecodable_test_result_is_reported() -> None:
    r = run(started() + W.test_result(b"\x05garbage") + W.exit(0))
    assert r.verdict is None and r.test_result_error is not None
    assert r.status is Status.FAIL and r.stage == STAGE_PAYLOAD_STARTED_NO_RESULT


def test_e3_result_under_the_015_profile_falls_back() -> None:
    e3 = encode_assert_result(AssertResult.pass_("e3"), "ktstr-0.10")
    r = run(started() + W.test_result(e3) + W.exit(0))
    assert r.verdict == "Pass" and r.status is Status.PASS


def test_skip_verdict_is_not_a_failure() -> None:
    skip = W.test_result(encode_assert_result(AssertResult.skip("no smt")))
    r = run(started() + skip + W.exit(0))
    assert r.status is Status.SKIP and r.status.exit_status == 0


def test_dmesg_joins_crc_ok_non_empty_payloads_with_newlines() -> None:
    r = run(W.dmesg(b"a") + W.dmesg(b"") + bad_crc(W.dmesg(b"x")) + W.dmesg(b"b"))
    assert r.dmesg == "a\nb"


def test_sched_log_between_first_start_and_last_end() -> None:
    bulk = (
        build_frame(M.SCHED_LOG, b"noise\n")
        + W.sched_log(b"line one\n")
        + W.sched_log(b"line two\n")
        + build_frame(M.SCHED_LOG, b"tail")
    )
    r = run(bulk)
    assert r.sched_log is not None
    # upstream slices between the first START and the last END (markers in between
    # kept), then trims
    assert r.sched_log == ("line one\n===SCHED_OUTPUT_END======SCHED_OUTPUT_START===line two")
    assert "noise" not in r.sched_log and "tail" not in r.sched_log


def test_stdout_concatenates_in_order() -> None:
    r = run(W.stdout(b"a" * 5000) + W.stderr(b"err") + W.stdout(b"b"))
    assert r.stdout == "a" * 5000 + "b" and r.stderr == "err"


def test_wprof_reassembly_and_its_failures() -> None:
    chunk = build_frame(M.WPROF_TRACE_CHUNK, b"AB")
    r = run(chunk + chunk + build_frame(M.WPROF_TRACE, b"C"))
    assert r.wprof is not None and r.wprof.data == b"ABABC"
    assert run(chunk + bad_crc(chunk) + build_frame(M.WPROF_TRACE, b"C")).wprof is None
    missing = run(chunk)
    assert missing.wprof is None and missing.anomalies[0].kind == "wprof-dropped"


def test_unknown_tags_and_drops_are_anomalies() -> None:
    r = run(build_frame(0xDEADBEEF, b"x") + build_header(M.EXIT, 0xFFFFFFFF, 0) + b"tail")
    assert [a.kind for a in r.anomalies] == ["unknown-tag", "dropped"]
    # the residual goes through the one-shot parser, which stops at the oversized header
    assert r.anomalies[1].offset == 17 and "oversized" in r.anomalies[1].detail


def test_host_replies_from_the_guest_are_internal_frames() -> None:
    from ktstr_guest.bulk_writer import HostReplyWriter

    r = run(HostReplyWriter().snapshot_reply(1))
    assert r.anomalies[0].kind == "internal-frame"


def test_timeout_from_the_vm_exit_mark() -> None:
    r = run(started(), extra=[Mark(9.0, "vm-exit", {"status": None, "timed_out": True})])
    assert r.timed_out and r.reasons == ["timed out (no result via bulk port or COM2)"]


def test_no_lifecycle_means_init_never_started() -> None:
    r = run(b"")
    assert r.stage == STAGE_INIT_NOT_STARTED
    assert r.reasons == ["test function produced no output (no test result found)"]


def test_exec_mode_uses_the_exec_exit_code() -> None:
    assert run(W.exec_exit(0)).status is Status.PASS
    r = run(W.exec_exit(2))
    assert r.status is Status.FAIL and r.reasons == ["exec command exited with 2"]


def test_kernel_panic_latch_from_com1() -> None:
    r = run(
        started() + PASS + W.exit(0),
        com1=b"[    1.0] Kernel panic - not syncing: Attempted to kill init!\r\n",
    )
    assert r.kernel_panic == "[    1.0] Kernel panic - not syncing: Attempted to kill init!"
    assert r.status is Status.PASS  # a decoded result decides; the panic is context
    assert r.context == [f"kernel panic is context: {r.kernel_panic}"]


def test_com1_capture_window_truncation_is_reported() -> None:
    r = run(started() + PASS + W.exit(0), com1=b"x" * 100 + b"\r\n" + b"y" * (4 * 1024 * 1024))
    assert any(a.kind == "capture-truncated" for a in r.anomalies)


def test_result_json_is_plain_json() -> None:
    r = run(started() + PASS + W.payload_metrics(bytes([0, 0, 0])) + W.exit(0))
    text = json.dumps(r.to_json(), allow_nan=False)
    assert json.loads(text)["payload_metrics"] == [
        {"payload_index": 0, "metrics": [], "exit_code": 0}
    ]


def test_render_mentions_verdict_and_provenance() -> None:
    text = run(started() + PASS + W.exit(0)).render()
    assert text.startswith("ktstr run PASSED  (profile ktstr-0.15)")
    assert "exit code            0   [bulk @ 95]" in text  # 17 + 17 + 61 bytes before it


@pytest.mark.parametrize(
    ("lines", "status", "verdict"),
    [
        (
            [
                "KTSTR_INIT_STARTED",
                "KTSTR_PAYLOAD_STARTING",
                "===KTSTR_TEST_RESULT_START===",
                '{"passed": false, "skipped": false, "details": [{"message": "w"}]}',
                "===KTSTR_TEST_RESULT_END===",
                "KTSTR_EXIT=1",
            ],
            Status.FAIL,
            "Fail",
        ),
        (
            [
                "KTSTR_INIT_STARTED",
                "KTSTR_PAYLOAD_STARTING",
                "===KTSTR_TEST_RESULT_START===",
                '{"passed": true, "skipped": true, "details": []}',
                "===KTSTR_TEST_RESULT_END===",
                "KTSTR_EXIT=0",
            ],
            Status.SKIP,
            "Skip",
        ),
        (
            [
                "KTSTR_INIT_STARTED",
                "KTSTR_PAYLOAD_STARTING",
                "===KTSTR_TEST_RESULT_START===",
                "{not json",
                "===KTSTR_TEST_RESULT_END===",
                "KTSTR_EXIT=0",
            ],
            Status.FAIL,
            None,
        ),
    ],
)
def test_legacy_sentinels(lines: list[str], status: Status, verdict: str | None) -> None:
    com2 = "".join(f"{line}\r\n" for line in lines).encode()
    r = run(com2=com2, profile="ktstr-0.4")
    assert r.status is status and r.verdict == verdict
    assert [e.phase for e in r.lifecycle] == ["INIT_STARTED", "PAYLOAD_STARTING"]
