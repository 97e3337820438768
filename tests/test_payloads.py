"""Fixed payload layouts: sizes, invalid values and clear errors."""

from __future__ import annotations

import pytest

from ktstr_proto.errors import PayloadError, UsageError
from ktstr_proto.payloads import (
    KernAddrs,
    Stimulus,
    decode_fixed,
    decode_i32,
    decode_kern_addrs,
    decode_lifecycle,
    decode_scenario_end,
    decode_snapshot_reply,
    decode_snapshot_request,
    decode_stimulus,
    encode_i32,
    encode_kern_addrs,
    encode_stimulus,
)
from ktstr_proto.tags import MsgType


def test_stimulus_exact_24_from_e4_but_at_least_24_in_e3() -> None:
    raw = encode_stimulus(Stimulus(1, 2, 3, 4, 5, 6, 7))
    with pytest.raises(PayloadError, match="must be 24 bytes, got 25"):
        decode_stimulus(raw + b"x", "ktstr-0.15")
    assert decode_stimulus(raw + b"x", "ktstr-0.10") == Stimulus(1, 2, 3, 4, 5, 6, 7)
    with pytest.raises(PayloadError, match="at least 24"):
        decode_stimulus(raw[:23], "ktstr-0.10")


def test_scenario_end_sizes() -> None:
    with pytest.raises(PayloadError, match="at least 16"):
        decode_scenario_end(bytes(8), "ktstr-0.15")
    assert decode_scenario_end(bytes(8), "ktstr-0.10").total_iterations is None


def test_kern_addrs_bias_and_absent_slots() -> None:
    raw = bytes(24)
    absent = decode_kern_addrs(raw)
    assert absent == KernAddrs(0xFFFFFFFFFFFFFFFF, 0, None) and not absent.phys_base_known
    assert encode_kern_addrs(absent) == raw
    # text = u64::MAX collides with "unknown" (slot 0), as upstream documents
    assert decode_kern_addrs(encode_kern_addrs(KernAddrs(5, 0, 0xFFFFFFFFFFFFFFFF))).text is None
    with pytest.raises(PayloadError, match="must be 24 bytes"):
        decode_kern_addrs(bytes(16))
    assert decode_kern_addrs(bytes(16), "ktstr-bulk-256k") == KernAddrs(0, 0, None)


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x05", b"\xff"])
def test_lifecycle_invalid_phases(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        decode_lifecycle(payload)


def test_lifecycle_bad_utf8_reason_names_the_offset() -> None:
    with pytest.raises(PayloadError, match="offset 3"):
        decode_lifecycle(b"\x04ok\xff")


def test_i32_exact_four_bytes() -> None:
    assert decode_i32(encode_i32(-5)) == -5
    with pytest.raises(PayloadError, match="must be 4 bytes, got 5"):
        decode_i32(bytes(5))
    with pytest.raises(UsageError):
        encode_i32(2**31)


def test_snapshot_request_rules() -> None:
    good = (7).to_bytes(4, "little") + (1).to_bytes(4, "little") + b"tag".ljust(64, b"\0")
    assert decode_snapshot_request(good).tag == "tag"
    with pytest.raises(PayloadError, match="request_id 0"):
        decode_snapshot_request(bytes(4) + good[4:])
    with pytest.raises(PayloadError, match="invalid snapshot kind 0"):
        decode_snapshot_request(good[:4] + bytes(4) + good[8:])
    with pytest.raises(PayloadError, match="72 bytes"):
        decode_snapshot_request(good[:71])


def test_snapshot_reply_sizes_per_profile() -> None:
    reply = (3).to_bytes(4, "little") + (1).to_bytes(4, "little") + bytes(512)
    assert decode_snapshot_reply(reply).request_id == 3
    with pytest.raises(PayloadError, match="520 bytes, got 72"):
        decode_snapshot_reply(reply[:72])
    assert decode_snapshot_reply(reply[:72], "ktstr-0.10").request_id == 3
    with pytest.raises(PayloadError, match="invalid snapshot status 9"):
        decode_snapshot_reply(reply[:4] + (9).to_bytes(4, "little") + bytes(512))


def test_decode_fixed_is_none_for_opaque_tags() -> None:
    assert decode_fixed(MsgType.STDOUT, b"hello") is None
    assert decode_fixed(0xDEADBEEF, b"") is None


def test_encoders_reject_out_of_range_fields() -> None:
    with pytest.raises(UsageError, match="step_index"):
        encode_stimulus(Stimulus(0, 70000, 0, 0, 0, 0, 0))


def test_user_profiles_are_validated_and_loadable(tmp_path: object) -> None:
    import dataclasses
    import json
    from pathlib import Path

    from ktstr_proto.errors import ProfileError
    from ktstr_proto.profiles import KTSTR_0_15, get_profile, load_profiles

    with pytest.raises(ProfileError, match="scenario_end_len must be one of 8, 16"):
        dataclasses.replace(KTSTR_0_15, scenario_end_len=12)  # type: ignore[arg-type]
    path = Path(str(tmp_path)) / "p.json"
    path.write_text(json.dumps({"name": "tiny", "base": "ktstr-0.20", "cap": 4096}))
    (tiny,) = load_profiles(path)
    assert get_profile("tiny") is tiny and tiny.cap == 4096 and tiny.wprof_chunked
    path.write_text(json.dumps({"name": "bad", "capp": 1}))
    with pytest.raises(ProfileError, match="unknown profile field"):
        load_profiles(path)
