"""Events cross processes: pickle round trips of bulk frames, drops and serial events."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from multiprocessing.reduction import ForkingPickler

from hypothesis import given

from ktstr_guest.strategies import bulk_streams
from ktstr_host.decode.bulk import BulkDecoder, scan_tlv_stream
from ktstr_host.decode.events import Dropped, Frame
from ktstr_host.decode.serial import decode_serial
from ktstr_proto.frame import build_frame
from ktstr_proto.profiles import get_profile
from ktstr_proto.tags import MsgType

from .test_serial import MIXED


def _round_trips(obj: object) -> list[object]:
    plain = [
        pickle.loads(pickle.dumps(obj, protocol=p)) for p in range(pickle.HIGHEST_PROTOCOL + 1)
    ]
    return [*plain, ForkingPickler.loads(ForkingPickler.dumps(obj)), copy.deepcopy(obj)]


def test_frame_pickles_with_a_copy_of_its_payload() -> None:
    long = bytes(range(256)) + b"!"  # one byte over SMALL_PAYLOAD: a view
    data = bytearray(
        build_frame(MsgType.STDOUT, b"hello")
        + build_frame(0x1234, b"\x00\xff")
        + build_frame(MsgType.STDERR, long)
    )
    frames = BulkDecoder().feed(data)
    for frame in frames:
        assert isinstance(frame, Frame)
        for back in _round_trips(frame):
            assert isinstance(back, Frame)
            assert back == frame
            assert back.tag is frame.tag  # MsgType.STDOUT, None, MsgType.STDERR
            assert type(back.payload) is type(frame.payload)
            if isinstance(back.payload, memoryview):
                assert back.payload.readonly
                assert isinstance(frame.payload, memoryview)
                assert back.payload.obj is not frame.payload.obj  # a copy, not a view of ours
    assert [f.tag for f in frames if isinstance(f, Frame)] == [
        MsgType.STDOUT,
        None,
        MsgType.STDERR,
    ]
    assert [type(f.payload) for f in frames if isinstance(f, Frame)] == [bytes, bytes, memoryview]
    assert bytes(_round_trips(frames[0])[0].payload) == b"hello"  # type: ignore[attr-defined]
    assert bytes(_round_trips(frames[2])[0].payload) == long  # type: ignore[attr-defined]


def test_bad_crc_frame_keeps_its_header_fields() -> None:
    good = build_frame(MsgType.EXIT, b"\x01\x00\x00\x00")
    bad = good[:8] + b"\x00\x00\x00\x00" + good[12:]
    (frame,) = BulkDecoder().feed(bad)
    assert isinstance(frame, Frame) and not frame.crc_ok
    (back,) = {pickle.loads(pickle.dumps(frame))}
    assert (back.crc_ok, back.crc32, back.pad, back.offset) == (False, 0, 0, 0)


SMALL = dataclasses.replace(get_profile("ktstr-0.15"), name="small", cap=256)


@given(bulk_streams(cap=SMALL.cap))
def test_any_decoded_stream_round_trips(stream: bytes) -> None:
    events = scan_tlv_stream(stream, SMALL)
    for back in _round_trips(events):
        assert back == events
        assert [type(e) for e in back] == [type(e) for e in events]


def test_drops_and_serial_events_pickle() -> None:
    events = scan_tlv_stream(build_frame(MsgType.STDOUT, b"x") + b"\x01\x02")
    assert isinstance(events[-1], Dropped)
    assert pickle.loads(pickle.dumps(events)) == events
    serial = decode_serial(MIXED, "com1")
    assert len({type(e) for e in serial}) >= 8
    for back in _round_trips(serial):
        assert back == serial
