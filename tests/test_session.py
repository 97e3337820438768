"""RunSession: bytes in per channel, events out, the result at any moment, bounded."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_host.cli import main
from ktstr_host.decode.bounded_text import TEXT_HEAD, TEXT_TAIL
from ktstr_host.decode.events import Dropped, DropReason, Frame
from ktstr_host.decode.serial import DumpLine, DumpStart
from ktstr_host.session.run_session import RawData, RunSession
from ktstr_host.transcripts.io import write_transcript
from ktstr_proto.errors import UsageError
from ktstr_proto.frame import build_frame
from ktstr_proto.payloads import LifecyclePhase
from ktstr_proto.schemas import AssertResult, encode_assert_result
from ktstr_proto.tags import MsgType
from ktstr_proto.transcript import Chunk, Header, Mark, Transcript

W = GuestBulkWriter("ktstr-0.15")
PASS = W.test_result(encode_assert_result(AssertResult.pass_()))
STARTED = W.lifecycle(LifecyclePhase.INIT_STARTED) + W.lifecycle(LifecyclePhase.PAYLOAD_STARTING)


def test_events_are_tagged_with_their_channel_direction_and_time() -> None:
    s = RunSession("ktstr-0.15")
    bulk = s.feed("bulk", W.sys_rdy(), 1.5)
    assert [(e.channel, e.direction, e.t) for e in bulk] == [("bulk", "g2h", 1.5)]
    assert isinstance(bulk[0].event, Frame) and bulk[0].event.label == "SRDY"
    com1 = s.feed("com1", b"   task-1 [000] 1.0: sched_ext_dump: Debug dump triggered by SysRq-D\n")
    assert [type(e.event) for e in com1] == [DumpStart, DumpLine]
    (wake,) = s.feed("hvc0", b"\xd1", 2.0, "h2g")
    assert wake.event == RawData(0, b"\xd1") and wake.direction == "h2g"


def test_host_replies_on_bulk_are_decoded_and_leave_the_result_alone() -> None:
    s = RunSession("ktstr-0.15")
    s.feed("bulk", PASS + W.exit(0), 1.0)
    before = s.result().to_json()
    reply = build_frame(MsgType.SNAPSHOT_REPLY, b"\x01\x00\x00\x00")
    (ev,) = s.feed("bulk", reply + reply[:10], 2.0, "h2g")  # one reply and a cut one
    assert (ev.channel, ev.direction, ev.t) == ("bulk", "h2g", 2.0)
    assert isinstance(ev.event, Frame) and ev.event.tag == MsgType.SNAPSHOT_REPLY
    assert ev.event.offset == 0 and bytes(ev.event.payload) == b"\x01\x00\x00\x00"
    assert s.result().to_json() == before
    (cut,) = s.close()  # the guest->host stream ended whole: only the cut reply is left
    assert (cut.direction, type(cut.event)) == ("h2g", Dropped)
    assert isinstance(cut.event, Dropped) and cut.event.offset == len(reply)
    assert cut.event.dropped == reply[:10] and cut.event.reason == DropReason.TRUNCATED


def test_result_at_any_moment_and_after_close() -> None:
    s = RunSession()
    s.feed("bulk", STARTED)
    early = s.result()
    assert early.status.value == "fail" and early.verdict is None
    s.feed("bulk", PASS + W.exit(0))
    assert s.result().status.value == "pass"  # before close, already decided
    s.mark("vm-exit", 3.0, status=0, timed_out=False)
    assert s.close() == [] and s.result().status.value == "pass"
    with pytest.raises(UsageError, match="after close"):
        s.feed("bulk", b"x")


def test_a_partial_frame_is_reported_at_close() -> None:
    s = RunSession()
    frame = W.stdout(b"x" * 100)
    s.feed("bulk", frame[:40])
    assert s.result().anomalies == []  # still pending: it may complete
    s.close()
    (drop,) = s.result().anomalies
    assert drop.kind == "dropped" and "40 bytes" in drop.detail


def test_large_stdout_keeps_head_and_tail_and_still_finds_the_crash() -> None:
    s = RunSession()
    s.feed("bulk", STARTED)
    filler = b"y" * 4095 + b"\n"
    for _ in range(1024):  # 4 MiB of ordinary lines
        s.feed("bulk", W.stdout(filler))
    s.feed("bulk", W.stdout(b"PANIC: deep in the middle\n"))
    for _ in range(1024):
        s.feed("bulk", W.stdout(filler))
    s.close()
    r = s.result()
    assert r.reasons == ["guest crashed:\ndeep in the middle"]
    total = 2048 * 4096 + 26
    assert r.omitted == {"stdout": total - TEXT_HEAD - TEXT_TAIL}
    assert "bytes left out here" in r.stdout and len(r.stdout) < TEXT_HEAD + TEXT_TAIL + 200
    assert json.loads(json.dumps(r.to_json()))["omitted"] == r.omitted


def test_sched_log_markers_far_apart_are_found() -> None:
    s = RunSession()
    s.feed("bulk", STARTED + W.exit(0))
    log = b"scx: line\n" * 400_000  # 4 MB between the markers
    s.feed("bulk", W.sched_log(log))
    s.close()
    r = s.result()
    assert r.sched_log is not None and r.sched_log.startswith("scx: line")
    assert r.sched_log.endswith("scx: line") and r.omitted["sched_log"] > 0


def test_full_dir_gets_every_byte(tmp_path: Path) -> None:
    out = tmp_path / "full"
    s = RunSession(full_dir=out)
    chunks = [bytes([65 + i % 26]) * 4096 for i in range(1000)]
    s.feed("bulk", STARTED + b"".join(W.stdout(c) for c in chunks) + W.sched_log(b"log\n"))
    s.close()
    assert (out / "stdout.txt").read_bytes() == b"".join(chunks)
    # the bytes from the first START marker to the last END marker
    assert (out / "sched_log.txt").read_bytes() == b"log\n"
    assert not list(out.glob("*.part"))
    with pytest.raises(UsageError, match="not empty"):
        RunSession(full_dir=out)
    RunSession(full_dir=out, force=True)


def test_report_full_and_streaming_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = Transcript(
        Header("ktstr-0.15"),
        [
            Chunk(1.0, "bulk", "g2h", STARTED + W.stdout(b"hello\n") + PASS + W.exit(0)),
            Mark(2.0, "vm-exit", {"status": 0, "timed_out": False}),
        ],
    )
    path = tmp_path / "t.jsonl.gz"
    write_transcript(path, t)
    assert main(["report", str(path), "--json", "--full", str(tmp_path / "f")]) == 0
    assert json.loads(capsys.readouterr().out)["stdout"] == "hello\n"
    assert (tmp_path / "f" / "stdout.txt").read_bytes() == b"hello\n"
    assert main(["report", str(path), "--full", str(tmp_path / "f")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_legacy_profile_routes_com2_lines_to_the_sentinel_reader() -> None:
    s = RunSession("ktstr-0.4")
    s.feed("com2", b"KTSTR_INIT_STARTED\r\nKTSTR_EXIT=0\r\n")
    s.feed("bulk", b"ignored")  # no bulk port in 0.4.9: counted, kept raw
    s.close()
    r = s.result()
    assert [e.phase for e in r.lifecycle] == ["INIT_STARTED"] and r.exit_code == 0
    assert r.bulk_bytes == 7


def test_results_cross_processes() -> None:
    s = RunSession()
    s.feed("bulk", STARTED + W.stdout(b"abc") + PASS)
    s.close()
    r = s.result()
    assert pickle.loads(pickle.dumps(r)).to_json() == r.to_json()
