"""Upstream's pinned host-parser cases (bulk.md sections 6.1-6.3), one test each."""

from __future__ import annotations

import pytest

from ktstr_host.decode.bulk import BulkDecoder, parse_tlv_stream, scan_tlv_stream
from ktstr_host.decode.events import Dropped, DropReason, Frame
from ktstr_proto.frame import build_frame, build_header
from ktstr_proto.profiles import get_profile
from ktstr_proto.tags import MsgType as M

CAP = 16 * 1024 * 1024
U32_MAX = 0xFFFFFFFF


def frames(events: list[Frame | Dropped]) -> list[Frame]:
    return [e for e in events if isinstance(e, Frame)]


# ---- 6.1 one-shot parser ------------------------------------------------------------


def test_oneshot_empty() -> None:
    assert parse_tlv_stream(b"") == []


def test_oneshot_one_exit() -> None:
    (f,) = parse_tlv_stream(build_frame(M.EXIT, (42).to_bytes(4, "little")))
    assert f.tag is M.EXIT and f.crc_ok and bytes(f.payload) == b"\x2a\0\0\0"


def test_oneshot_three_frames_keep_order() -> None:
    data = b"".join(build_frame(M.STDOUT, p) for p in (b"a", b"b", b"c"))
    assert [bytes(f.payload) for f in parse_tlv_stream(data)] == [b"a", b"b", b"c"]


def test_oneshot_truncated_by_two_bytes() -> None:
    data = build_frame(M.EXIT, b"abcdef")[:-2]
    assert parse_tlv_stream(data) == []
    (drop,) = scan_tlv_stream(data)
    assert isinstance(drop, Dropped) and drop.reason is DropReason.TRUNCATED
    assert drop.size == len(data)


def test_oneshot_flipped_payload_byte() -> None:
    bad = bytearray(build_frame(M.EXIT, b"payload"))
    bad[16] ^= 0x01
    got = parse_tlv_stream(bytes(bad) + build_frame(M.EXIT, b"ok"))
    assert [f.crc_ok for f in got] == [False, True]


def test_oneshot_zero_length() -> None:
    (f,) = parse_tlv_stream(build_frame(M.SYS_RDY, b""))
    assert f.crc_ok and bytes(f.payload) == b""


def test_oneshot_u32max_length() -> None:
    assert parse_tlv_stream(build_header(M.EXIT, U32_MAX, 0)) == []


def test_oneshot_cap_plus_one_present() -> None:
    data = build_header(M.EXIT, CAP + 1, 0) + bytes(CAP + 1)
    assert parse_tlv_stream(data) == []
    (drop,) = scan_tlv_stream(data)
    assert isinstance(drop, Dropped) and drop.reason is DropReason.OVERSIZED


def test_oneshot_length_equal_to_cap() -> None:
    (f,) = parse_tlv_stream(build_frame(M.WPROF_TRACE, bytes(CAP)))
    assert f.length == CAP and f.crc_ok


def test_oneshot_valid_then_oversized_then_residue() -> None:
    data = build_frame(M.EXIT, b"x") + build_header(M.EXIT, U32_MAX, 0) + b"residue"
    assert len(parse_tlv_stream(data)) == 1


def test_oneshot_oversized_then_valid() -> None:
    data = build_header(M.EXIT, U32_MAX, 0) + build_frame(M.EXIT, b"x")
    assert parse_tlv_stream(data) == []


def test_oneshot_short_tail_is_reported() -> None:
    data = build_frame(M.EXIT, b"x") + b"abc"
    events = scan_tlv_stream(data)
    assert isinstance(events[-1], Dropped) and events[-1].dropped == b"abc"


# ---- 6.2 streaming assembler, profile ktstr-0.15 ------------------------------------


def test_split_at_header_plus_three() -> None:
    data = build_frame(M.EXIT, b"payload-data")
    d = BulkDecoder()
    assert d.feed(data[:19]) == [] and d.pending == 19
    (f,) = d.feed(data[19:])
    assert isinstance(f, Frame) and bytes(f.payload) == b"payload-data" and d.pending == 0


def test_three_bytes_pending() -> None:
    d = BulkDecoder()
    assert d.feed(b"\xaa\xbb\xcc") == [] and d.pending == 3


def test_empty_feed_is_a_noop() -> None:
    d = BulkDecoder()
    assert d.feed(b"") == [] and d.pending == 0


def test_byte_by_byte_exactly_one_frame() -> None:
    d = BulkDecoder()
    got = [e for b in build_frame(M.EXIT, b"hello-world") for e in d.feed(bytes([b]))]
    assert len(got) == 1 and isinstance(got[0], Frame)
    assert bytes(got[0].payload) == b"hello-world"


def test_crc_flip_continues_walk() -> None:
    bad = bytearray(build_frame(M.EXIT, b"payload"))
    bad[16] ^= 0xFF
    got = BulkDecoder().feed(bytes(bad) + build_frame(M.STIMULUS, b"valid"))
    assert [f.crc_ok for f in frames(got)] == [False, True]


def test_u32max_header_alone_and_no_preallocation() -> None:
    d = BulkDecoder()
    assert d.feed(build_header(M.EXIT, U32_MAX, 0)) == [] and d.pending == 16
    d.feed(b"\xaa" * 65536)
    assert d.pending == 16 + 65536
    assert d._buf.__sizeof__() < 1024 * 1024  # capacity grows only with bytes fed


def test_complete_cap_plus_one_frame_plus_residue_clears_all() -> None:
    d = BulkDecoder()
    data = build_header(M.EXIT, CAP + 1, 0) + b"\xcc" * (CAP + 1) + b"residue"
    (drop,) = d.feed(data)
    assert isinstance(drop, Dropped) and drop.reason is DropReason.OVERSIZED
    assert drop.size == len(data) and d.pending == 0


def test_length_equal_to_cap_accepted() -> None:
    (f,) = BulkDecoder().feed(build_frame(M.STIMULUS, b"\x55" * CAP))
    assert isinstance(f, Frame) and f.length == CAP and f.crc_ok


def test_good_frame_then_u32max_header_and_13_residue_bytes() -> None:
    d = BulkDecoder()
    got = d.feed(
        build_frame(M.EXIT, b"valid") + build_header(M.STIMULUS, U32_MAX, 0) + b"residue-bytes"
    )
    assert len(frames(got)) == 1 and d.pending == 29


def test_residual_above_twice_the_cap_is_cleared() -> None:
    d = BulkDecoder()
    (drop,) = d.feed(build_header(M.STIMULUS, U32_MAX, 0) + bytes(2 * CAP + 1 - 16))
    assert isinstance(drop, Dropped) and drop.reason is DropReason.RESIDUAL_OVERFLOW
    assert d.pending == 0 and drop.size == 2 * CAP + 1


def test_residual_of_exactly_twice_the_cap_is_kept() -> None:
    d = BulkDecoder()
    assert d.feed(build_header(M.STIMULUS, U32_MAX, 0) + bytes(2 * CAP - 16)) == []
    assert d.pending == 2 * CAP


def test_pad_is_reported_never_fatal() -> None:
    (f,) = BulkDecoder().feed(build_frame(M.EXIT, bytes(4), pad=7))
    assert isinstance(f, Frame) and f.pad == 7 and f.crc_ok


def test_take_residual_returns_and_clears() -> None:
    d = BulkDecoder()
    d.feed(build_frame(M.EXIT, b"abcdef")[:10])
    assert len(d.take_residual()) == 10 and d.pending == 0
    assert d.stats.balanced and d.stats.taken == 10


# ---- era A (ktstr-bulk-256k): cap on header arrival, no residual cap ----------------


def test_e1_cap_checked_on_header_arrival() -> None:
    d = BulkDecoder("ktstr-bulk-256k")
    (drop,) = d.feed(build_header(M.EXIT, 256 * 1024 + 1, 0))
    assert isinstance(drop, Dropped) and drop.reason is DropReason.OVERSIZED
    assert d.pending == 0


def test_e1_has_no_residual_cap_and_accepts_cap() -> None:
    prof = get_profile("ktstr-bulk-256k")
    assert prof.residual_limit is None
    (f,) = BulkDecoder(prof).feed(build_frame(M.PROFRAW, bytes(prof.cap)))
    assert isinstance(f, Frame) and f.crc_ok


# ---- 6.3 forward scan (ktstr-0.44) --------------------------------------------------
# Upstream pins these with SchedStdout/AttachAttempt frames, whose tag values are not
# in the fact sheet; known tags of the same shape stand in for them.


def test_e7_abandoned_prefix_then_retry_in_one_feed() -> None:
    abandoned = build_frame(M.STDOUT, b"\x5a" * 128)
    retry = build_frame(M.LIFECYCLE, b"\x01")
    d = BulkDecoder("ktstr-0.44")
    got = d.feed(abandoned[: 16 + 11] + retry)
    assert [type(e) for e in got] == [Dropped, Frame]
    assert isinstance(got[0], Dropped) and got[0].reason is DropReason.SCAN_SKIP
    assert got[0].size == 27
    assert isinstance(got[1], Frame) and got[1].tag is M.LIFECYCLE and got[1].crc_ok
    assert d.pending == 0


def test_e7_retry_split_over_two_feeds() -> None:
    abandoned = build_frame(M.STDERR, b"\xa5" * 256)
    retry = build_frame(M.LIFECYCLE, b"\x04reason")
    half = len(retry) // 2
    d = BulkDecoder("ktstr-0.44")
    assert d.feed(abandoned[: 16 + 7] + retry[:half]) == []
    got = d.feed(retry[half:])
    assert [f.tag for f in frames(got)] == [M.LIFECYCLE] and d.pending == 0


def test_without_scan_the_retry_is_swallowed() -> None:
    abandoned = build_frame(M.STDOUT, b"\x5a" * 128)
    retry = build_frame(M.LIFECYCLE, b"\x01")
    d = BulkDecoder("ktstr-0.20")
    assert d.feed(abandoned[: 16 + 11] + retry) == []
    assert d.pending == 27 + len(retry)


@pytest.mark.parametrize("profile", ["ktstr-0.15", "ktstr-0.44"])
def test_crc_bad_frame_without_inner_valid_frame_is_emitted(profile: str) -> None:
    bad = bytearray(build_frame(M.EXIT, b"payload"))
    bad[17] ^= 1
    (f,) = BulkDecoder(profile).feed(bytes(bad))
    assert isinstance(f, Frame) and not f.crc_ok


def test_e7_crc_bad_frame_hiding_a_valid_frame_resyncs() -> None:
    inner = build_frame(M.EXIT, bytes(4))
    outer = build_header(M.STDOUT, len(inner) + 4, 0) + b"\0\0\0\0" + inner
    got = BulkDecoder("ktstr-0.44").feed(outer)
    assert [type(e) for e in got] == [Dropped, Frame]
    assert isinstance(got[1], Frame) and got[1].tag is M.EXIT and got[1].offset == 20


def test_e7_forward_scan_ignores_rawo_which_left_the_enum_in_e6() -> None:
    stuck = build_header(M.STDOUT, 100, 0) + b"abc"
    d = BulkDecoder("ktstr-0.44")
    assert d.feed(stuck + build_frame(M.RAW_PAYLOAD_OUTPUT, b"hello")) == []
    assert d.pending == 19 + 21
    got = BulkDecoder("ktstr-0.44").feed(stuck + build_frame(M.EXIT, bytes(4)))
    assert [type(e) for e in got] == [Dropped, Frame]


def test_e7_forward_scan_ignores_kadr_which_from_wire_never_knew() -> None:
    """Upstream's forward scan (``src/vmm/bulk.rs``, ktstr 0.44) accepts a candidate only
    when ``MsgType::from_wire`` knows its tag, and ``from_wire`` has no KernAddrs arm in
    any stored revision. Input found by a differential run against upstream's assembler
    (issue 9): a stray 0x00, a CRC-good KADR at 1, an empty SCST at 41, in one feed.
    Upstream drops 41 bytes and emits the SCST at 41."""
    data = bytes.fromhex(
        "005244414b18000000a3f54426000000000100000100000000000000008088ffff01000081"
        "ffffffff54534353000000000000000000000000"
    )
    got = BulkDecoder("ktstr-0.44").feed(data)
    assert [type(e) for e in got] == [Dropped, Frame]
    drop, frame = got
    assert isinstance(drop, Dropped) and drop.reason is DropReason.SCAN_SKIP
    assert (drop.offset, drop.size) == (0, 41)
    assert isinstance(frame, Frame) and frame.tag is M.SCENARIO_START and frame.offset == 41
    assert frame.crc_ok and frame.length == 0
