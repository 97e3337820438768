"""Frame spec: the bulk.md section 8 test vectors, byte for byte, and the header spec."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_proto import crc as crcmod
from ktstr_proto.errors import UsageError
from ktstr_proto.frame import (
    Frame,
    FrameHeader,
    build_frame,
    build_header,
    parse_header,
)
from ktstr_proto.payloads import KernAddrs, LifecyclePhase, SnapshotKind, Stimulus
from ktstr_proto.tags import MsgType


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


W = GuestBulkWriter("ktstr-0.15")
W10 = GuestBulkWriter("ktstr-0.10")

# (name, bytes built by the guest writer, expected hex copied from bulk.md section 8)
VECTORS = [
    ("EXIT 0", W.exit(0), "54 49 58 45 04 00 00 00 1c df 44 21 00 00 00 00 00 00 00 00"),
    ("EXIT 1", W.exit(1), "54 49 58 45 04 00 00 00 79 b8 f8 99 00 00 00 00 01 00 00 00"),
    ("EXIT -1", W.exit(-1), "54 49 58 45 04 00 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff"),
    ("EXIT 42", W.exit(42), "54 49 58 45 04 00 00 00 46 90 cb ee 00 00 00 00 2a 00 00 00"),
    ("SYS_RDY", W.sys_rdy(), "59 44 52 53 00 00 00 00 00 00 00 00 00 00 00 00"),
    ("SCENARIO_START", W.scenario_start(), "54 53 43 53 00 00 00 00 00 00 00 00 00 00 00 00"),
    (
        "STDOUT hello",
        W.stdout(b"hello\n"),
        "54 55 4f 53 06 00 00 00 20 30 3a 36 00 00 00 00 68 65 6c 6c 6f 0a",
    ),
    (
        "LIFECYCLE InitStarted",
        W.lifecycle(LifecyclePhase.INIT_STARTED),
        "45 46 49 4c 01 00 00 00 1b df 05 a5 00 00 00 00 01",
    ),
    (
        "LIFECYCLE 4 verifier rejected",
        W.lifecycle(4, "verifier rejected"),
        "45 46 49 4c 12 00 00 00 ff 17 21 cd 00 00 00 00 04 76 65 72 69 66 69 65 72 20 72 65"
        " 6a 65 63 74 65 64",
    ),
    (
        "SCHED_EXIT 1",
        W.sched_exit(1),
        "58 44 43 53 04 00 00 00 79 b8 f8 99 00 00 00 00 01 00 00 00",
    ),
    (
        "SCENARIO_END E4",
        W.scenario_end(1234, 5678),
        "4e 45 43 53 10 00 00 00 55 f7 31 9d 00 00 00 00 d2 04 00 00 00 00 00 00 2e 16 00 00"
        " 00 00 00 00",
    ),
    (
        "SCENARIO_END E3",
        W10.scenario_end(1234),
        "4e 45 43 53 08 00 00 00 1b 8a 55 d5 00 00 00 00 d2 04 00 00 00 00 00 00",
    ),
    (
        "STIMULUS",
        W.stimulus(Stimulus(1500, 1, 3, 5, 2, 8, 100000)),
        "4d 49 54 53 18 00 00 00 dc 5d 68 17 00 00 00 00 dc 05 00 00 01 00 03 00 05 00 00 00"
        " 02 00 08 00 a0 86 01 00 00 00 00 00",
    ),
    (
        "KERN_ADDRS",
        W.kern_addrs(KernAddrs(0x1111222233334444, 0xAAAABBBBCCCCDDDD, 0x5555666677778888)),
        "52 44 41 4b 18 00 00 00 69 66 b6 58 00 00 00 00 45 44 33 33 22 22 11 11 dd dd cc cc"
        " bb bb aa aa 89 88 77 77 66 66 55 55",
    ),
    (
        "SNAPSHOT_REQUEST",
        W.snapshot_request(SnapshotKind.CAPTURE, "hello!", request_id=7),
        "51 52 4e 53 48 00 00 00 88 92 18 f1 00 00 00 00 07 00 00 00 01 00 00 00 68 65 6c 6c"
        " 6f 21" + " 00" * 58,
    ),
]


@pytest.mark.parametrize(("name", "built", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_section8_vectors(name: str, built: bytes, expected: str) -> None:
    assert built == hx(expected)


def test_snapshot_request_is_88_bytes_with_documented_crc() -> None:
    frame = W.snapshot_request(SnapshotKind.CAPTURE, "hello!", request_id=7)
    assert len(frame) == 88
    assert struct.unpack_from("<I", frame, 8)[0] == 0xF1189288


def test_negative_vectors_are_framable() -> None:
    assert build_header(MsgType.EXIT, 4, 0) + bytes(4) == hx(
        "54 49 58 45 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    )
    assert build_header(MsgType.STIMULUS, 0xFFFFFFFF, 0) == hx(
        "4d 49 54 53 ff ff ff ff 00 00 00 00 00 00 00 00"
    )


@pytest.mark.parametrize("backend", sorted(crcmod.BACKENDS))
@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"hello world", 0x0D4A1185),
        (bytes(32), 0x190A55AD),
        (b"\xff" * 32, 0xFF6CAB0B),
        (bytes(range(32)), 0x91267E8A),
        (b"", 0),
        (b"123456789", 0xCBF43926),
        (bytes(4), 0x2144DF1C),
        (b"\x01\0\0\0", 0x99F8B879),
        (b"\xff" * 4, 0xFFFFFFFF),
    ],
)
def test_crc_vectors(backend: str, data: bytes, value: int) -> None:
    assert crcmod.BACKENDS[backend](data) == value


@given(st.binary(max_size=4096))
def test_crc_backends_agree(data: bytes) -> None:
    for fn in crcmod.BACKENDS.values():
        assert fn(data) == zlib.crc32(data)


def test_unknown_crc_backend_is_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown CRC backend"):
        crcmod.select_backend("nope")


@given(st.binary(min_size=16, max_size=16))
def test_struct_path_agrees_with_construct_spec(raw: bytes) -> None:
    parsed = FrameHeader.parse(raw)
    assert struct.unpack("<IIII", raw) == (parsed.msg_type, parsed.length, parsed.crc32, parsed.pad)
    header = parse_header(raw)
    assert (header.msg_type, header.length, header.crc32, header.pad) == struct.unpack("<IIII", raw)
    assert FrameHeader.build(dict(parsed)) == raw


@given(st.integers(0, 0xFFFFFFFF), st.binary(max_size=300), st.integers(0, 0xFFFFFFFF))
def test_build_frame_matches_struct_layout(msg_type: int, payload: bytes, pad: int) -> None:
    frame = build_frame(msg_type, payload, pad=pad)
    assert frame[:16] == struct.pack("<IIII", msg_type, len(payload), zlib.crc32(payload), pad)
    assert frame[16:] == payload
    parsed = Frame.parse(frame)
    assert parsed.payload == payload and parsed.crc32 == zlib.crc32(payload)


@pytest.mark.parametrize("bad", [-1, 1 << 32, 1.5, "EXIT", True])
def test_build_frame_rejects_bad_msg_type(bad: object) -> None:
    with pytest.raises(UsageError):
        build_frame(bad, b"")  # type: ignore[arg-type]


def test_build_frame_rejects_non_bytes_payload() -> None:
    with pytest.raises(UsageError, match="bytes-like"):
        build_frame(1, "text")  # type: ignore[arg-type]


def test_parse_header_needs_16_bytes() -> None:
    with pytest.raises(UsageError, match="16 bytes"):
        parse_header(b"\0" * 15)
