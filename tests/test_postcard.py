"""Postcard v1 primitives: varint / zigzag edges, strict bool / Option / UTF-8, hostile
lengths, collections, enums, and PayloadError offsets (payloads.md sections 2 and 7)."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktstr_proto.errors import PayloadError, UsageError
from ktstr_proto.postcard import (
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    BoolByte,
    Bytes,
    Map,
    Option,
    Seq,
    Set,
    String,
    VarUInt,
    build,
    encode_varint,
    field_path,
    parse_exact,
    record,
    unit_enum,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def parse(layout: Any, data: bytes) -> Any:
    return parse_exact(layout, data, "test")


def parse_error(layout: Any, data: bytes) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        parse(layout, data)
    return info.value


# ---- varints -------------------------------------------------------------------------

VARINTS = [
    (U16, 0, "00"),
    (U16, 1, "01"),
    (U16, 127, "7f"),
    (U16, 128, "80 01"),
    (U16, 300, "ac 02"),
    (U16, 0x1234, "b4 24"),
    (U16, 16383, "ff 7f"),
    (U16, 16384, "80 80 01"),
    (U16, 0xFFFF, "ff ff 03"),
    (U32, 0xFFFFFFFF, "ff ff ff ff 0f"),
    (U32, 2**28, "80 80 80 80 01"),
    (U64, 2**63, "80 80 80 80 80 80 80 80 80 01"),
    (U64, 2**64 - 1, "ff ff ff ff ff ff ff ff ff 01"),
]


@pytest.mark.parametrize(("layout", "value", "wire"), VARINTS)
def test_varint_edges(layout: Any, value: int, wire: str) -> None:
    assert build(layout, value, "test") == hx(wire)
    assert parse(layout, hx(wire)) == value


@pytest.mark.parametrize(
    ("layout", "wire", "reason"),
    [
        (U16, "ff ff 04", "overflows u16"),
        (U16, "80 80 80 00", "longer than 3 bytes"),
        (U32, "ff ff ff ff 10", "overflows u32"),
        (U32, "80 80 80 80 80 00", "longer than 5 bytes"),
        (U64, "ff ff ff ff ff ff ff ff ff 02", "overflows u64"),
        (U64, "80 80 80 80 80 80 80 80 80 80 00", "longer than 10 bytes"),
        (U64, "80 80", "unexpected end"),
        (U64, "", "unexpected end"),
    ],
)
def test_varint_rejects_overflow_overlength_and_truncation(
    layout: Any, wire: str, reason: str
) -> None:
    err = parse_error(layout, hx(wire))
    assert reason in str(err)
    assert err.offset == 0


def test_varint_redundant_zero_group_follows_postcard() -> None:
    # postcard::from_bytes accepts 80 00 as 0; the canonical flag rejects it.
    assert parse(U64, hx("80 00")) == 0
    assert parse(U16, hx("ff 80 00")) == 0x7F
    err = parse_error(VarUInt(64, canonical=True), hx("80 00"))
    assert "non-canonical" in str(err)


@pytest.mark.parametrize(("layout", "bits"), [(U16, 16), (U32, 32), (U64, 64)])
def test_varint_build_range(layout: Any, bits: int) -> None:
    for bad in (-1, 2**bits):
        with pytest.raises(UsageError):
            build(layout, bad, "test")
    with pytest.raises(UsageError):
        build(layout, True, "test")
    with pytest.raises(UsageError):
        build(layout, 1.0, "test")


@given(st.integers(0, 2**64 - 1))
def test_u64_round_trip_and_length(value: int) -> None:
    wire = build(U64, value, "test")
    assert len(wire) == max(1, math.ceil(value.bit_length() / 7))
    assert parse(U64, wire) == value


ZIGZAG = [
    (I64, 0, "00"),
    (I64, -1, "01"),
    (I64, 1, "02"),
    (I64, -2, "03"),
    (I64, 12345, "f2 c0 01"),
    (I32, -1, "01"),
    (I32, 2**31 - 1, "fe ff ff ff 0f"),
    (I32, -(2**31), "ff ff ff ff 0f"),
    (I16, -(2**15), "ff ff 03"),
    (I16, 2**15 - 1, "fe ff 03"),
    (I64, 2**63 - 1, "fe ff ff ff ff ff ff ff ff 01"),
    (I64, -(2**63), "ff ff ff ff ff ff ff ff ff 01"),
]


@pytest.mark.parametrize(("layout", "value", "wire"), ZIGZAG)
def test_zigzag_edges(layout: Any, value: int, wire: str) -> None:
    assert build(layout, value, "test") == hx(wire)
    assert parse(layout, hx(wire)) == value


@pytest.mark.parametrize(("layout", "bits"), [(I16, 16), (I32, 32), (I64, 64)])
def test_zigzag_build_range(layout: Any, bits: int) -> None:
    for bad in (-(2 ** (bits - 1)) - 1, 2 ** (bits - 1)):
        with pytest.raises(UsageError):
            build(layout, bad, "test")


@given(st.integers(-(2**31), 2**31 - 1))
def test_i32_round_trip(value: int) -> None:
    assert parse(I32, build(I32, value, "test")) == value


def test_i32_rejects_u32_overflow() -> None:
    assert "overflows u32" in str(parse_error(I32, hx("ff ff ff ff 1f")))


# ---- fixed-size scalars --------------------------------------------------------------


def test_raw_bytes_and_floats() -> None:
    assert build(U8, 255, "t") == b"\xff"
    assert build(I8, -1, "t") == b"\xff"
    assert parse(I8, b"\x80") == -128
    assert build(F64, 1.0, "t") == hx("00 00 00 00 00 00 f0 3f")
    assert build(F64, 0.0, "t") == bytes(8)
    assert build(F32, 1.0, "t") == hx("00 00 80 3f")
    assert parse(F32, hx("00 00 80 3f")) == 1.0
    with pytest.raises(UsageError):
        build(F32, 1e39, "t")
    with pytest.raises(UsageError):
        build(U8, 256, "t")
    with pytest.raises(UsageError):
        build(I8, 128, "t")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_f64_is_bit_exact(value: float) -> None:
    wire = build(F64, value, "t")
    assert wire == struct.pack("<d", value)
    assert struct.pack("<d", parse(F64, wire)) == wire


def test_f64_truncated_reports_offset() -> None:
    err = parse_error(F64, bytes(7))
    assert err.offset == 0
    assert "needs 8 bytes, 7 left" in str(err)


def test_bool_is_strict() -> None:
    assert parse(BoolByte, b"\x00") is False
    assert parse(BoolByte, b"\x01") is True
    err = parse_error(BoolByte, b"\x02")
    assert "0x02" in str(err)
    assert err.offset == 0
    with pytest.raises(UsageError):
        build(BoolByte, 1, "t")


def test_option_tags() -> None:
    opt = Option(U32)
    assert parse(opt, b"\x00") is None
    assert parse(opt, b"\x01\x05") == 5
    assert build(opt, None, "t") == b"\x00"
    assert build(opt, 5, "t") == b"\x01\x05"
    err = parse_error(opt, b"\x02\x05")
    assert "invalid Option tag 0x02" in str(err)
    assert err.offset == 0


# ---- strings and bytes ---------------------------------------------------------------


def test_string_utf8() -> None:
    assert build(String, "no smt", "t") == hx("06 6e 6f 20 73 6d 74")
    assert parse(String, hx("02 c3 a9")) == "é"
    assert build(String, "", "t") == b"\x00"
    err = parse_error(String, hx("03 61 c3 28"))
    assert "not valid UTF-8" in str(err)
    assert err.offset == 2  # the bad sequence starts at the 2nd string byte
    # CESU-style encoded surrogate: Rust's from_utf8 rejects it, so must we.
    assert "UTF-8" in str(parse_error(String, hx("03 ed a0 80")))
    with pytest.raises(UsageError):
        build(String, "\ud800", "t")


def test_hostile_lengths_fail_before_reading() -> None:
    huge = encode_varint(2**63)
    for layout in (String, Bytes, Seq(U8), Map(String, U8), Set(U64)):
        err = parse_error(layout, huge + b"abc")
        assert "announces" in str(err)
        assert err.offset == 0
    # a count that needs 8 bytes per element is checked against that minimum
    err = parse_error(Seq(F64), hx("02") + bytes(15))
    assert "at least 16 bytes" in str(err)


def test_bytes() -> None:
    assert build(Bytes, b"\x00\xff", "t") == hx("02 00 ff")
    assert parse(Bytes, hx("02 00 ff")) == b"\x00\xff"
    with pytest.raises(UsageError):
        build(Bytes, "text", "t")


# ---- collections ---------------------------------------------------------------------


def test_seq_decodes_to_tuple_and_reports_element_path() -> None:
    assert parse(Seq(U64), hx("03 01 80 01 00")) == (1, 128, 0)
    assert parse(Seq(F64), hx("01 00 00 00 00 00 00 f0 3f")) == (1.0,)
    assert parse(Seq(String), hx("02 01 61 00")) == ("a", "")
    err = parse_error(Seq(U64), hx("03 01 80 81 00"))
    assert err.field == "[2]"
    assert err.offset == 5
    err = parse_error(Seq(Option(U8)), hx("02 00 07"))
    assert err.field == "[1]"
    assert err.offset == 2
    with pytest.raises(UsageError):
        build(Seq(U8), "ab", "t")


def test_map_sorted_on_build_last_key_wins_on_parse() -> None:
    layout = Map(String, U8)
    assert build(layout, {"b": 2, "a": 1}, "t") == hx("02 01 61 01 01 62 02")
    assert parse(layout, hx("02 01 62 02 01 61 01")) == {"b": 2, "a": 1}
    assert parse(layout, hx("02 01 61 01 01 61 02")) == {"a": 2}
    err = parse_error(Map(String, Option(U8)), hx("01 01 61 05"))
    assert err.field == "['a']"
    assert err.offset == 3


def test_set_sorted_on_build_duplicates_collapse() -> None:
    assert build(Set(U64), frozenset({300, 2, 1}), "t") == hx("03 01 02 ac 02")
    assert parse(Set(U64), hx("03 02 01 02")) == frozenset({1, 2})


def test_unit_enum_and_record_paths() -> None:
    colour = unit_enum("Colour", ["Red", "Green"])
    assert parse(colour, b"\x01") == "Green"
    assert build(colour, "Red", "t") == b"\x00"
    err = parse_error(colour, b"\x02")
    assert "unknown Colour variant index 2" in str(err)
    with pytest.raises(UsageError):
        build(colour, "Blue", "t")

    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    layout = Seq(record(Point, "x" / U16, "y" / Option(String)))
    err = parse_error(layout, hx("01 05 01 02 61"))
    assert err.field == "[0].y"
    assert err.offset == 3
    assert "string length announces 2" in str(err)


def test_trailing_bytes_are_an_error() -> None:
    err = parse_error(U64, hx("01 00"))
    assert "1 trailing bytes" in str(err)
    assert err.offset == 1


def test_field_path_formatting() -> None:
    assert field_path("(parsing) -> stats -> cgroups -> [2] -> spread") == "stats.cgroups[2].spread"
    assert field_path("(parsing)") is None
    assert field_path(None) is None


def test_parse_exact_needs_bytes() -> None:
    with pytest.raises(UsageError):
        parse_exact(U8, "00", "t")  # type: ignore[arg-type]


# ---- garbage -------------------------------------------------------------------------

NESTED = Seq(Map(String, Option(Seq(I64))))


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_garbage_never_raises_anything_but_payload_error(data: bytes) -> None:
    for layout in (U64, I32, String, NESTED, Set(U16)):
        try:
            parse(layout, data)
        except PayloadError as exc:
            assert exc.offset is not None
