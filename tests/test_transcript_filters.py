"""Filters applied before a recording is written; hexdumps of mismatches."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ktstr_host.decode.hexdump import hexdump
from ktstr_host.transcripts.filters import drop_channels, redact, trim
from ktstr_host.transcripts.recorders import parse_live
from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Header, Mark, Transcript


def transcript(*events: Chunk | Mark, meta: dict[str, object] | None = None) -> Transcript:
    return Transcript(Header("ktstr-0.15", meta=meta or {}), list(events))


def test_redaction_spans_chunks_and_keeps_times() -> None:
    t = transcript(
        Chunk(0.1, "com1", "g2h", b"login from host-"),
        Chunk(0.2, "com1", "g2h", b"42.lan ok\n"),
        Chunk(0.3, "bulk", "g2h", b"host-42.lan"),
        Mark(0.4, "note", {"where": ["host-42.lan"]}),
        meta={"cmd": "qemu -kernel /home/bob/vmlinuz"},
    )
    out = redact(t, {r"host-\d+\.lan": "H", r"/home/\w+": "~"})
    assert out.events == [
        Chunk(0.1, "com1", "g2h", b"login from H"),
        Chunk(0.2, "com1", "g2h", b" ok\n"),
        Chunk(0.3, "bulk", "g2h", b"host-42.lan"),  # binary channels are left alone
        Mark(0.4, "note", {"where": ["H"]}),
    ]
    assert out.header.meta == {"cmd": "qemu -kernel ~/vmlinuz"}
    assert t.chunks[0].data == b"login from host-"  # the input is unchanged


def test_redaction_drops_chunks_it_empties() -> None:
    t = transcript(Chunk(0.1, "com2", "g2h", b"secret"), Chunk(0.2, "com2", "g2h", b"!"))
    assert redact(t, [r"secret"]).events == [
        Chunk(0.1, "com2", "g2h", b"<redacted>"),
        Chunk(0.2, "com2", "g2h", b"!"),
    ]
    assert redact(t, {"secret": ""}).events == [Chunk(0.2, "com2", "g2h", b"!")]


@given(
    st.lists(
        st.text(alphabet="ab\n", min_size=1, max_size=8).map(str.encode), min_size=1, max_size=8
    ),
)
def test_redaction_equals_redacting_the_whole_stream(parts: list[bytes]) -> None:
    t = transcript(*(Chunk(i / 10, "com1", "g2h", p) for i, p in enumerate(parts)))
    out = redact(t, {"ab+": "X"})
    joined = b"".join(parts).decode()
    assert out.channel_bytes("com1") == re.sub("ab+", "X", joined).encode()


def test_bad_redaction_rules_are_usage_errors() -> None:
    t = transcript()
    with pytest.raises(UsageError, match="bad regex"):
        redact(t, ["("])
    with pytest.raises(UsageError, match="matches the empty string"):
        redact(t, ["x*"])
    with pytest.raises(UsageError, match="no channel 'com9'"):
        redact(t, ["x"], channels=["com9"])


def test_drop_channels_removes_chunks_and_table_entries() -> None:
    t = transcript(Chunk(0.1, "com1", "g2h", b"a"), Chunk(0.2, "com2", "g2h", b"b"))
    out = drop_channels(t, ["com2"])
    assert out.events == [Chunk(0.1, "com1", "g2h", b"a")]
    assert "com2" not in out.header.channels and "com2" in t.header.channels
    with pytest.raises(UsageError, match="no channel com9"):
        drop_channels(t, ["com9"])


def test_trim_keeps_a_window_and_shifts_it_to_zero() -> None:
    t = transcript(
        Chunk(0.5, "com1", "g2h", b"a"),
        Chunk(1.5, "com1", "g2h", b"b"),
        Mark(2.5, "vm-exit", {"status": 0, "timed_out": False}),
    )
    assert trim(t, start=1.0, end=2.0).events == [Chunk(0.5, "com1", "g2h", b"b")]
    with pytest.raises(UsageError):
        trim(t, start=2.0, end=1.0)


def test_hexdump_marks_the_byte_in_both_columns() -> None:
    assert hexdump(b"ABC\x00", 0x1E, mark=0x20) == [
        "00000010                                            41 42  |              AB|",
        "00000020  43 00                                            |C.              |",
        "          ^^                                                ^",
    ]
    assert hexdump(b"", 5) == ["(nothing)"]


def test_parse_live_sources() -> None:
    assert parse_live("com1=socket://127.0.0.1:9 bulk=file:a=b.bin") == {
        "com1": "socket://127.0.0.1:9",
        "bulk": "file:a=b.bin",
    }
    with pytest.raises(UsageError, match="given twice"):
        parse_live("com1=file:a com1=file:b")
