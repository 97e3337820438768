"""The sliding-window CRC of the ``ktstr-0.44`` forward scan against the naive model."""

from __future__ import annotations

import dataclasses
import zlib
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ktstr_guest.strategies import splits, valid_frames
from ktstr_host.decode import forward_scan
from ktstr_host.decode.bulk import BulkDecoder
from ktstr_host.decode.events import Frame
from ktstr_host.decode.forward_scan import WindowCrc
from ktstr_host.fuzzing.reference import ReferenceAssembler
from ktstr_proto import crc as crcmod
from ktstr_proto.crc import crc32, crc32_shifter
from ktstr_proto.frame import build_header
from ktstr_proto.profiles import get_profile
from ktstr_proto.tags import MsgType

CAP = 64
PROFILE = dataclasses.replace(get_profile("ktstr-0.44"), name="ktstr-0.44/window", cap=CAP)


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_shifter_combines_crcs(a: bytes, b: bytes) -> None:
    assert zlib.crc32(a + b) == crc32_shifter(len(b))(zlib.crc32(a)) ^ zlib.crc32(b)


@given(
    st.binary(min_size=64, max_size=400),
    st.lists(st.tuples(st.integers(0, 399), st.integers(0, 63)), max_size=40),
    st.integers(0, 32),
)
def test_window_crc_is_exact_for_any_query_order(
    data: bytes, queries: list[tuple[int, int]], cut: int
) -> None:
    """Ascending, descending, repeated and re-anchored windows all equal a direct CRC,
    also after the buffer lost its first ``cut`` bytes."""
    window = WindowCrc(zlib.crc32)
    mv = memoryview(data)
    with mock.patch.object(forward_scan, "WINDOW_MIN", 0):
        for q, n in queries:
            a = min(q, len(data) - n)
            assert window(mv, 0, a, n) == zlib.crc32(data[a : a + n])
        tail = mv[cut:]
        for q, n in queries:
            a = max(cut, min(q, len(data) - n))
            assert window(tail, cut, a, n) == zlib.crc32(data[a : a + n])


@st.composite
def equal_length_streams(draw: st.DrawFn) -> bytes:
    """Runs of plausible headers that all announce one length, some with the right
    CRC for what follows them, mixed with valid frames and garbage."""
    length = draw(st.sampled_from([4, 8, 16, 24, CAP]))
    tag = draw(st.sampled_from([MsgType.STDOUT, MsgType.EXIT, MsgType.TEST_RESULT]))
    parts: list[bytes] = []
    for kind in draw(st.lists(st.sampled_from(["hdr", "frame", "junk", "good"]), max_size=30)):
        if kind == "hdr":
            parts.append(build_header(tag, length, draw(st.integers(0, 2**32 - 1))))
        elif kind == "frame":
            parts.append(draw(valid_frames(max_payload=CAP, unknown_tags=False)))
        elif kind == "junk":
            parts.append(draw(st.binary(max_size=20)))
        else:
            payload = draw(st.binary(min_size=length, max_size=length))
            parts.append(build_header(tag, length, zlib.crc32(payload)) + payload)
    return b"".join(parts)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_sliding_scan_matches_the_naive_assembler(data: st.DataObject) -> None:
    stream = data.draw(equal_length_streams())
    chunks = data.draw(splits(stream))
    with mock.patch.object(forward_scan, "WINDOW_MIN", 0):
        d = BulkDecoder(PROFILE, crc=crc32)
        ref = ReferenceAssembler(PROFILE)
        for chunk in chunks:
            got = [
                (e.msg_type, bytes(e.payload), e.crc_ok)
                for e in d.feed(chunk)
                if isinstance(e, Frame)
            ]
            assert got == ref.feed(chunk)
            assert d.pending == ref.pending


def test_equal_length_candidates_cost_no_full_crc_each() -> None:
    """4096 plausible headers announcing 64 KiB complete one after the other: the
    window slides, so the CRC work stays near the bytes fed, not 4096 x 64 KiB."""
    crc_bytes = 0

    def counting(buf: object, value: int = 0) -> int:
        nonlocal crc_bytes
        view = memoryview(buf)  # type: ignore[arg-type]
        crc_bytes += view.nbytes
        return zlib.crc32(view, value)

    length = 64 * 1024
    data = build_header(MsgType.STDOUT, length, 1) * 4096 + bytes(length)
    with mock.patch.dict(crcmod.BACKENDS, {"counting": counting}):
        d = BulkDecoder(dataclasses.replace(PROFILE, cap=length), crc=counting)
        for i in range(0, len(data), 4096):
            d.feed(data[i : i + 4096])
    assert crc_bytes < 8 * len(data)
