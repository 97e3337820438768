"""Properties of the streaming decoder against a naive transcription of upstream."""

from __future__ import annotations

import dataclasses
import zlib
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ktstr_guest.strategies import bulk_streams, splits, valid_frames
from ktstr_host.decode import bulk
from ktstr_host.decode.bulk import BulkDecoder, parse_tlv_stream, scan_tlv_stream
from ktstr_host.decode.events import Dropped, Frame
from ktstr_host.fuzzing.reference import ReferenceAssembler, reference_parse
from ktstr_proto import crc as crcmod
from ktstr_proto.frame import build_frame, build_header
from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.tags import MsgType

SMALL_CAP = 256
PROFILES = {
    name: dataclasses.replace(get_profile(name), name=f"{name}/small", cap=SMALL_CAP)
    for name in ("ktstr-0.15", "ktstr-bulk-256k", "ktstr-0.44")
}
profiles = st.sampled_from(sorted(PROFILES))


def as_ref(events: list[Frame | Dropped]) -> list[tuple[int, bytes, bool]]:
    return [(e.msg_type, bytes(e.payload), e.crc_ok) for e in events if isinstance(e, Frame)]


def frames_of(events: list[Frame | Dropped]) -> list[Frame]:
    assert all(isinstance(e, Frame) for e in events)
    return [e for e in events if isinstance(e, Frame)]


def run_split(profile: Profile, chunks: list[bytes], **kw: object) -> list[Frame | Dropped]:
    d = BulkDecoder(profile, **kw)  # type: ignore[arg-type]
    ref = ReferenceAssembler(profile)
    events: list[Frame | Dropped] = []
    for chunk in chunks:
        got = d.feed(chunk)
        assert as_ref(got) == ref.feed(chunk)
        assert d.pending == ref.pending
        assert d.stats.balanced
        events.extend(got)
    return events


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), profiles)
def test_matches_upstream_for_any_split(data: st.DataObject, name: str) -> None:
    profile = PROFILES[name]
    stream = data.draw(bulk_streams(cap=SMALL_CAP))
    chunks = data.draw(splits(stream))
    run_split(profile, chunks)


@settings(max_examples=150)
@given(st.data(), st.sampled_from(sorted(crcmod.BACKENDS)))
def test_stdlib_and_accelerated_crc_decode_alike(data: st.DataObject, backend: str) -> None:
    stream = data.draw(bulk_streams(cap=SMALL_CAP))
    chunks = data.draw(splits(stream))
    run_split(PROFILES["ktstr-0.15"], chunks, crc=crcmod.BACKENDS[backend])


@settings(max_examples=200)
@given(st.data(), profiles)
def test_any_split_same_events_without_oversized_headers(data: st.DataObject, name: str) -> None:
    profile = PROFILES[name]
    stream = b"".join(data.draw(st.lists(valid_frames(), max_size=10)))
    stream += data.draw(st.binary(max_size=15))  # a short incomplete tail
    whole = frames_of(BulkDecoder(profile).feed(stream))
    parts = frames_of(run_split(profile, data.draw(splits(stream))))
    assert [(f.offset, f.msg_type, bytes(f.payload), f.crc_ok) for f in whole] == [
        (f.offset, f.msg_type, bytes(f.payload), f.crc_ok) for f in parts
    ]


@settings(max_examples=300)
@given(st.binary(max_size=2048), profiles)
def test_garbage_never_raises_and_is_accounted(data: bytes, name: str) -> None:
    d = BulkDecoder(PROFILES[name])
    for i in range(0, len(data), 97):
        d.feed(data[i : i + 97])
    end = d.close()
    stats = d.stats
    assert stats.balanced and stats.pending == 0
    dropped = sum(e.size for e in end)
    assert dropped <= stats.dropped


@settings(max_examples=200)
@given(bulk_streams(cap=SMALL_CAP), profiles)
def test_oneshot_parser_matches_upstream(stream: bytes, name: str) -> None:
    profile = PROFILES[name]
    events = scan_tlv_stream(stream, profile)
    assert as_ref(events) == reference_parse(stream, profile)
    assert sum(e.size for e in events) == len(stream)
    assert [f.offset for f in parse_tlv_stream(stream, profile)] == [
        f.offset for f in events if isinstance(f, Frame)
    ]


@settings(max_examples=200)
@given(bulk_streams(cap=SMALL_CAP), profiles)
def test_frame_offsets_point_at_their_headers(stream: bytes, name: str) -> None:
    d = BulkDecoder(PROFILES[name])
    for e in d.feed(stream):
        if isinstance(e, Frame):
            header = stream[e.offset : e.offset + 16]
            assert int.from_bytes(header[:4], "little") == e.msg_type
            assert stream[e.offset + 16 : e.offset + e.size] == bytes(e.payload)
            assert e.crc_ok == (zlib.crc32(e.payload) == e.crc32)
        else:
            assert stream[e.offset : e.offset + e.size] == e.dropped


@pytest.mark.parametrize("payload", [b"hello", bytes(range(256)) * 2])
def test_payloads_survive_later_feeds(payload: bytes) -> None:
    d = BulkDecoder("ktstr-0.15")
    frame = b"".join([build_header(MsgType.STDOUT, len(payload), zlib.crc32(payload)), payload])
    first = d.feed(bytearray(frame[:10]))
    assert first == []
    (f,) = d.feed(frame[10:] + frame[:3])
    d.feed(frame[3:])
    assert isinstance(f, Frame) and bytes(f.payload) == payload
    assert isinstance(f.payload, bytes) or f.payload.readonly


def _payload_kinds(events: list[Frame | Dropped], small: int) -> None:
    """Every frame follows the rule: ``bytes`` up to ``small`` bytes, else a read-only view."""
    for f in events:
        if isinstance(f, Frame):
            if len(f.payload) <= small:
                assert type(f.payload) is bytes
            else:
                assert isinstance(f.payload, memoryview) and f.payload.readonly


def _bytewise(profile: Profile, stream: bytes) -> list[Frame | Dropped]:
    d = BulkDecoder(profile)
    return [e for i in range(len(stream)) for e in d.feed(stream[i : i + 1])]


@pytest.mark.parametrize("name", ["ktstr-0.15", "ktstr-bulk-256k", "ktstr-0.44"])
def test_payload_type_on_both_sides_of_256_bytes(name: str) -> None:
    prof = get_profile(name)
    at, above = bytes(range(256)), bytes(range(256)) + b"!"
    stream = build_frame(MsgType.STDOUT, at) + build_frame(MsgType.STDOUT, above)
    decoded = {
        "one feed": BulkDecoder(prof).feed(stream),
        "bytewise": _bytewise(prof, stream),
        "one-shot": scan_tlv_stream(stream, prof),
    }
    for how, events in decoded.items():
        got = [(type(f.payload), bytes(f.payload)) for f in frames_of(events)]
        assert got == [(bytes, at), (memoryview, above)], how
        _payload_kinds(events, 256)


@settings(max_examples=150)
@given(st.data(), st.sampled_from(["ktstr-0.15", "ktstr-0.44"]), st.sampled_from([0, 16]))
def test_payload_rule_holds_on_every_path(data: st.DataObject, name: str, small: int) -> None:
    """With the threshold lowered, both payload kinds meet every decoding path (the
    other property tests, capped at 256 bytes, see only ``bytes``)."""
    profile = PROFILES[name]
    stream = data.draw(bulk_streams(cap=SMALL_CAP))
    chunks = data.draw(splits(stream))
    with mock.patch.object(bulk, "SMALL_PAYLOAD", small):
        events = run_split(profile, chunks)
        oneshot = scan_tlv_stream(stream, profile)
    _payload_kinds(events, small)
    _payload_kinds(oneshot, small)
    assert as_ref(oneshot) == reference_parse(stream, profile)


def test_bytearray_input_is_snapshotted() -> None:
    d = BulkDecoder()
    buf = bytearray(b"".join([build_header(MsgType.STDOUT, 2, zlib.crc32(b"ab")), b"ab"]))
    (f,) = d.feed(buf)
    buf[16:18] = b"zz"
    assert isinstance(f, Frame) and bytes(f.payload) == b"ab"


class DecoderMachine(RuleBasedStateMachine):
    """Feeds, garbage, splits and residual takes against the reference assembler."""

    def __init__(self) -> None:
        super().__init__()
        self.profile: Profile = PROFILES["ktstr-0.15"]
        self.decoder = BulkDecoder(self.profile)
        self.ref = ReferenceAssembler(self.profile)
        self.largest_feed = 0

    @precondition(lambda self: self.decoder.stats.fed == 0)
    @rule(name=profiles)
    def choose_profile(self, name: str) -> None:
        self.profile = PROFILES[name]
        self.decoder = BulkDecoder(self.profile)
        self.ref = ReferenceAssembler(self.profile)

    def _feed(self, data: bytes) -> None:
        self.largest_feed = max(self.largest_feed, len(data))
        assert as_ref(self.decoder.feed(data)) == self.ref.feed(data)

    @rule(frame=valid_frames(), cut=st.integers(0, 100))
    def feed_frame_in_two(self, frame: bytes, cut: int) -> None:
        cut = min(cut, len(frame))
        self._feed(frame[:cut])
        self._feed(frame[cut:])

    @rule(garbage=st.binary(max_size=64))
    def feed_garbage(self, garbage: bytes) -> None:
        self._feed(garbage)

    @rule(
        tag=st.sampled_from([int(t) for t in MsgType]),
        length=st.sampled_from([SMALL_CAP + 1, 3 * SMALL_CAP, 0xFFFFFFFF]),
    )
    def feed_oversized_header(self, tag: int, length: int) -> None:
        self._feed(build_header(tag, length, 0))

    @rule(size=st.integers(1, 3 * SMALL_CAP))
    def feed_filler(self, size: int) -> None:
        self._feed(bytes(size))

    @rule()
    def take_residual(self) -> None:
        assert self.decoder.take_residual() == bytes(self.ref.buf)
        self.ref.buf.clear()

    @invariant()
    def accounting_balances(self) -> None:
        assert self.decoder.stats.balanced
        assert self.decoder.pending == self.ref.pending

    @invariant()
    def memory_is_bounded(self) -> None:
        cap = self.profile.cap
        # At rest (between feeds) the buffer never holds more than 2 x cap bytes.
        assert self.decoder.pending <= max(2 * cap, cap + 16)


TestDecoderMachine = DecoderMachine.TestCase
TestDecoderMachine.settings = settings(max_examples=60, stateful_step_count=40)


def test_feeding_str_is_a_usage_error() -> None:
    from ktstr_proto.errors import UsageError

    with pytest.raises(UsageError, match="bytes-like"):
        BulkDecoder().feed("text")  # type: ignore[arg-type]
    d = BulkDecoder()
    d.close()
    with pytest.raises(UsageError, match="after close"):
        d.feed(b"x")


def test_serial_only_profile_has_no_bulk_decoder() -> None:
    from ktstr_proto.errors import ProfileError

    with pytest.raises(ProfileError, match="no bulk channel"):
        BulkDecoder("ktstr-0.4")
    with pytest.raises(ProfileError, match="unknown profile"):
        BulkDecoder("ktstr-9.9")


def test_forward_scan_is_linear_on_many_waiting_headers() -> None:
    """Hostile: 4 MiB of plausible headers that each announce 16 MiB, in 4 KiB feeds.
    Each position is classified once: the scan does one CRC pass per complete
    candidate and none here (no candidate ever completes)."""
    crc_calls = 0

    def counting_crc(buf: object) -> int:
        nonlocal crc_calls
        crc_calls += 1
        return zlib.crc32(memoryview(buf))  # type: ignore[arg-type]

    header = build_header(MsgType.STDOUT, 16 << 20, 0)
    data = header * (1 << 18)
    d = BulkDecoder("ktstr-0.44", crc=counting_crc)
    for i in range(0, len(data), 4096):
        assert d.feed(data[i : i + 4096]) == []
    assert d.pending == len(data) and crc_calls == 0
    scanner = d._scanner
    # every header but the first (the frame being waited for) is indexed once
    assert scanner is not None and scanner.waiting == len(data) // 16 - 1


@pytest.mark.parametrize("profile", ["ktstr-0.15", "ktstr-0.44"])
def test_large_frame_in_small_feeds_is_crc_checked_once(profile: str) -> None:
    """No quadratic rescans: a 1 MiB frame fed 1 KiB at a time costs one CRC pass."""
    crc_bytes = 0

    def counting_crc(buf: object) -> int:
        nonlocal crc_bytes
        view = memoryview(buf)  # type: ignore[arg-type]
        crc_bytes += view.nbytes
        return zlib.crc32(view)

    payload = bytes(range(256)) * 4096
    stream = build_header(MsgType.WPROF_TRACE, len(payload), zlib.crc32(payload)) + payload
    d = BulkDecoder(profile, crc=counting_crc)
    got = [e for i in range(0, len(stream), 1024) for e in d.feed(stream[i : i + 1024])]
    assert len(got) == 1 and isinstance(got[0], Frame) and got[0].crc_ok
    assert crc_bytes == len(payload)
