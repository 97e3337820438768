"""Guest writer -> decoder round trips for every message, per profile."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktstr_guest.bulk_writer import (
    SCHED_LOG_CHUNK_BYTES,
    SCHED_OUTPUT_END,
    SCHED_OUTPUT_START,
    STDIO_CHUNK_BYTES,
    GuestBulkWriter,
    HostReplyWriter,
)
from ktstr_host.decode.bulk import BulkDecoder
from ktstr_host.decode.events import Frame
from ktstr_proto.errors import UsageError
from ktstr_proto.payloads import (
    KernAddrs,
    Lifecycle,
    LifecyclePhase,
    ScenarioEnd,
    SnapshotKind,
    SnapshotReply,
    SnapshotRequest,
    SnapshotStatus,
    Stimulus,
    decode_fixed,
)
from ktstr_proto.profiles import get_profile
from ktstr_proto.tags import MsgType as M

BULK_PROFILES = ["ktstr-0.15", "ktstr-0.10", "ktstr-bulk-256k", "ktstr-0.20", "ktstr-0.44"]


def decode(data: bytes, profile: str) -> list[Frame]:
    events = BulkDecoder(profile).feed(data)
    assert all(isinstance(e, Frame) and e.crc_ok and e.pad == 0 for e in events)
    return [e for e in events if isinstance(e, Frame)]


i32 = st.integers(-(2**31), 2**31 - 1)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
stimuli = st.builds(Stimulus, u32, u16, u16, u32, u16, u16, u64)


@pytest.mark.parametrize("profile", BULK_PROFILES)
@settings(max_examples=40)
@given(code=i32)
def test_exit_codes_round_trip(profile: str, code: int) -> None:
    w = GuestBulkWriter(profile)
    for build, tag in ((w.exit, M.EXIT), (w.sched_exit, M.SCHED_EXIT), (w.exec_exit, M.EXEC_EXIT)):
        (f,) = decode(build(code), profile)
        assert f.tag is tag and decode_fixed(f.msg_type, f.payload, profile) == code


@pytest.mark.parametrize("profile", BULK_PROFILES)
@settings(max_examples=40)
@given(step=stimuli, elapsed=u64, iters=u64)
def test_scenario_messages_round_trip(
    profile: str, step: Stimulus, elapsed: int, iters: int
) -> None:
    w = GuestBulkWriter(profile)
    prof = get_profile(profile)
    data = (
        w.scenario_start()
        + w.stimulus(step)
        + w.scenario_pause()
        + w.scenario_resume()
        + w.scenario_end(elapsed, iters)
    )
    frames = decode(data, profile)
    assert [f.tag for f in frames] == [
        M.SCENARIO_START,
        M.STIMULUS,
        M.SCENARIO_PAUSE,
        M.SCENARIO_RESUME,
        M.SCENARIO_END,
    ]
    assert decode_fixed(M.STIMULUS, frames[1].payload, profile) == step
    end = decode_fixed(M.SCENARIO_END, frames[4].payload, profile)
    expected_iters = iters if prof.scenario_end_len == 16 else None
    assert end == ScenarioEnd(elapsed, expected_iters)
    if prof.step_end:
        (f,) = decode(w.step_end(step), profile)
        assert f.tag is M.STEP_END and decode_fixed(f.msg_type, f.payload, profile) == step
    else:
        with pytest.raises(UsageError, match="no StepEnd"):
            w.step_end(step)


@pytest.mark.parametrize("profile", BULK_PROFILES)
def test_lifecycle_kern_addrs_sys_rdy(profile: str) -> None:
    w = GuestBulkWriter(profile)
    prof = get_profile(profile)
    addrs = KernAddrs(0x1000000, 0xFFFF888000000000, 0xFFFFFFFF81000000)
    frames = decode(
        w.lifecycle(LifecyclePhase.INIT_STARTED)
        + w.lifecycle(4, "timeout")
        + w.kern_addrs(addrs)
        + w.sys_rdy(),
        profile,
    )
    assert decode_fixed(M.LIFECYCLE, frames[0].payload) == Lifecycle(LifecyclePhase.INIT_STARTED)
    assert decode_fixed(M.LIFECYCLE, frames[1].payload) == Lifecycle(
        LifecyclePhase.SCHEDULER_NOT_ATTACHED, "timeout"
    )
    got = decode_fixed(M.KERN_ADDRS, frames[2].payload, profile)
    assert frames[2].length == prof.kern_addrs_len
    want = (
        addrs if prof.kern_addrs_len == 24 else KernAddrs(addrs.phys_base, addrs.page_offset_base)
    )
    assert got == want
    assert frames[3].tag is M.SYS_RDY and frames[3].length == 0


def test_lifecycle_rejects_invalid_phase() -> None:
    with pytest.raises(UsageError, match=r"1\.\.4"):
        GuestBulkWriter().lifecycle(0)


@settings(max_examples=30)
@given(data=st.binary(max_size=3 * STDIO_CHUNK_BYTES + 7))
def test_stdout_stderr_split_into_4096_byte_frames(data: bytes) -> None:
    w = GuestBulkWriter()
    for build, tag in ((w.stdout, M.STDOUT), (w.stderr, M.STDERR)):
        frames = decode(build(data), "ktstr-0.15")
        assert all(f.tag is tag and 0 < f.length <= STDIO_CHUNK_BYTES for f in frames)
        assert b"".join(bytes(f.payload) for f in frames) == data
        assert len(frames) == -(-len(data) // STDIO_CHUNK_BYTES)


def test_sched_log_is_bracketed_and_chunked() -> None:
    log = (b"line\n" * 30000)[: 2 * SCHED_LOG_CHUNK_BYTES + 5]
    frames = decode(GuestBulkWriter().sched_log(log), "ktstr-0.15")
    assert all(f.tag is M.SCHED_LOG for f in frames)
    assert [f.length for f in frames] == [
        len(SCHED_OUTPUT_START),
        65536,
        65536,
        5,
        len(SCHED_OUTPUT_END),
    ]
    assert bytes(frames[0].payload) == SCHED_OUTPUT_START
    assert bytes(frames[-1].payload) == SCHED_OUTPUT_END
    assert b"".join(bytes(f.payload) for f in frames[1:-1]) == log


def test_sched_log_missing_or_not_utf8_sends_only_markers() -> None:
    w = GuestBulkWriter()
    for log in (None, b"\xff\xfe bad utf-8"):
        frames = decode(w.sched_log(log), "ktstr-0.15")
        assert [bytes(f.payload) for f in frames] == [SCHED_OUTPUT_START, SCHED_OUTPUT_END]


@pytest.mark.parametrize(
    ("profile", "size", "shape"),
    [
        ("ktstr-0.15", 100, ["WPRF"]),
        ("ktstr-0.20", 0, ["WPRF"]),
        ("ktstr-0.20", 256, ["WPRF"]),
        ("ktstr-0.20", 257, ["WPRC", "WPRF"]),
        ("ktstr-0.20", 512, ["WPRC", "WPRF"]),
        ("ktstr-0.20", 513, ["WPRC", "WPRC", "WPRF"]),
    ],
)
def test_wprof_shapes(profile: str, size: int, shape: list[str]) -> None:
    import dataclasses

    prof = dataclasses.replace(get_profile(profile), name=f"{profile}-small", cap=256)
    trace = bytes(i % 251 for i in range(size))
    frames = decode(GuestBulkWriter(prof).wprof(trace), prof)  # type: ignore[arg-type]
    assert [f.label for f in frames] == shape
    assert all(f.length == 256 for f in frames[:-1])
    assert b"".join(bytes(f.payload) for f in frames) == trace


def test_opaque_and_postcard_messages() -> None:
    w = GuestBulkWriter("ktstr-0.15")
    data = (
        w.dmesg(b"kernel log")
        + w.probe_output(b"{}")
        + w.profraw(b"\x81\x72")
        + w.test_result(bytes(45))
        + w.payload_metrics(b"\0\0\0")
        + w.raw_payload_output(b"\0" * 8)
        + w.kernel_op_request(b"\x01\x01\x00")
        + w.sched_log_text("spawn failed")
    )
    assert [f.label for f in decode(data, "ktstr-0.15")] == [
        "DMSG",
        "PROB",
        "PRAW",
        "TEST",
        "PMET",
        "RAWO",
        "KORQ",
        "SCLG",
    ]
    with pytest.raises(UsageError, match="no RawPayloadOutput"):
        GuestBulkWriter("ktstr-0.44").raw_payload_output(b"")
    with pytest.raises(UsageError, match="no SchedSwapNotify"):
        GuestBulkWriter("ktstr-0.15").sched_swap_notify()
    (f,) = decode(GuestBulkWriter("ktstr-0.20").sched_swap_notify(), "ktstr-0.20")
    assert f.tag is M.SCHED_SWAP_NOTIFY


@pytest.mark.parametrize("profile", BULK_PROFILES)
def test_snapshot_rpc_round_trip(profile: str) -> None:
    w = GuestBulkWriter(profile)
    host = HostReplyWriter(profile)
    first, second = w.snapshot_request(1, "t" * 80), w.snapshot_request(2, "watch")
    frames = decode(first + second, profile)
    assert decode_fixed(M.SNAPSHOT_REQUEST, frames[0].payload) == SnapshotRequest(
        1, SnapshotKind.CAPTURE, "t" * 64
    )
    assert decode_fixed(M.SNAPSHOT_REQUEST, frames[1].payload) == SnapshotRequest(
        2, SnapshotKind.WATCH, "watch"
    )
    (reply,) = decode(host.snapshot_reply(2, SnapshotStatus.ERR, "no such map"), profile)
    assert reply.length == get_profile(profile).snapshot_reply_len
    assert decode_fixed(M.SNAPSHOT_REPLY, reply.payload, profile) == SnapshotReply(
        2, SnapshotStatus.ERR, "no such map"
    )
    (korp,) = decode(host.kernel_op_reply(b"\x01\x01\x00\x00"), profile)
    assert korp.tag is M.KERNEL_OP_REPLY


def test_request_ids_start_at_one_and_skip_zero() -> None:
    w = GuestBulkWriter()
    assert [w.next_request_id() for _ in range(2)] == [1, 2]
    w._next_request_id = 0xFFFFFFFF
    assert [w.next_request_id(), w.next_request_id()] == [0xFFFFFFFF, 1]


def test_serial_profile_has_no_bulk_writer() -> None:
    with pytest.raises(UsageError, match="no bulk channel"):
        GuestBulkWriter("ktstr-0.4")
