"""Transcript format v1: round trips and every malformed-file error."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktstr_host.transcripts.io import (
    Transcript,
    TranscriptReader,
    TranscriptWriter,
    read_transcript,
    write_transcript,
)
from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Header, Mark, TranscriptError

CHANNELS = ["bulk", "com1", "com2", "hvc0"]


@st.composite
def transcripts(draw: st.DrawFn) -> Transcript:
    n = draw(st.integers(0, 12))
    times = sorted(draw(st.lists(st.floats(0, 1e4), min_size=n, max_size=n)))
    events: list[Chunk | Mark] = []
    for raw_t in times:
        t = round(raw_t, 6)
        if draw(st.integers(0, 5)) == 0:
            events.append(Mark(t, draw(st.text(max_size=8)), {"k": draw(st.integers())}))
            continue
        ch = draw(st.sampled_from(CHANNELS))
        direction = "g2h" if ch in ("com1", "com2") else draw(st.sampled_from(["g2h", "h2g"]))
        data = draw(
            st.one_of(
                st.binary(min_size=1, max_size=64), st.text(min_size=1, max_size=32).map(str.encode)
            )
        )
        events.append(Chunk(t, ch, direction, data))  # type: ignore[arg-type]
    return Transcript(Header("ktstr-0.15", meta={"scenario": "x"}), events)


@settings(max_examples=150)
@given(transcripts(), st.booleans())
def test_any_bytes_round_trip(
    tmp_path_factory: pytest.TempPathFactory, t: Transcript, gz: bool
) -> None:
    path = tmp_path_factory.mktemp("tr") / ("t.jsonl.gz" if gz else "t.jsonl")
    write_transcript(path, t)
    back = read_transcript(path)
    assert back.header == t.header
    assert back.events == t.events


def test_text_channels_stay_readable_and_binary_is_base64(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with TranscriptWriter(path, Header("ktstr-0.15")) as w:
        w.chunk(0.5, "com1", "g2h", b"hello\r\n")
        w.chunk(0.6, "com1", "g2h", b"\xff\xfe")
        w.chunk(0.7, "bulk", "g2h", b"TIXE")
    lines = path.read_text().splitlines()
    assert json.loads(lines[1]) == {"t": 0.5, "ch": "com1", "dir": "g2h", "text": "hello\r\n"}
    assert json.loads(lines[2])["b64"] == "//4="
    assert json.loads(lines[3])["b64"] == "VElYRQ=="


def header_line(**over: object) -> str:
    doc: dict[str, object] = {
        "format": "ktstr-transcript",
        "version": 1,
        "profile": "ktstr-0.15",
        "channels": {
            "com1": {"kind": "text", "direction": "g2h"},
            "bulk": {"kind": "binary", "direction": "both"},
        },
    }
    doc.update(over)
    return json.dumps(doc)


OK_EVENT = '{"t": 1, "ch": "com1", "dir": "g2h", "text": "x"}'


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        ([], 1, "empty file"),
        (["{not json"], 1, "invalid JSON"),
        (["[1, 2]"], 1, "expected a JSON object"),
        ([json.dumps({"format": "pcap"})], 1, "not a ktstr transcript"),
        ([header_line(version=2)], 1, "version 2 is newer than this ktstr-py supports (1)"),
        ([header_line(version="1")], 1, "field 'version' must be int"),
        ([header_line(channels={"x": {"kind": "weird", "direction": "g2h"}})], 1, "kind must"),
        (
            [header_line(), OK_EVENT, '{"t": 0.5, "ch": "com1", "dir": "g2h", "text": "y"}'],
            3,
            "time goes backwards",
        ),
        ([header_line(), '{"t": -1, "ch": "com1", "dir": "g2h", "text": "y"}'], 2, ">= 0"),
        (
            [header_line(), '{"t": 1, "ch": "com9", "dir": "g2h", "text": "y"}'],
            2,
            "unknown channel 'com9'",
        ),
        (
            [header_line(), '{"t": 1, "ch": "com1", "dir": "h2g", "text": "y"}'],
            2,
            "does not carry h2g",
        ),
        (
            [header_line(), '{"t": 1, "ch": "com1", "dir": "up", "text": "y"}'],
            2,
            "direction must be",
        ),
        (
            [header_line(), '{"t": 1, "ch": "bulk", "dir": "g2h", "b64": "!!"}'],
            2,
            "not valid base64",
        ),
        (
            [header_line(), '{"t": 1, "ch": "bulk", "dir": "g2h", "b64": "AA==", "text": "a"}'],
            2,
            "exactly one of",
        ),
        ([header_line(), '{"t": 1, "ch": "bulk", "dir": "g2h"}'], 2, "exactly one of"),
        ([header_line(), '{"ch": "bulk", "dir": "g2h", "b64": ""}'], 2, "missing field 't'"),
        ([header_line(), ""], 2, "empty line"),
        (
            [header_line(), '{"t": 1, "ch": "com1", "dir": "g2h", "text": "\\ud800"}'],
            2,
            "lone surrogate",
        ),
        ([header_line(), '{"t": 1, "mark": "x", "data": 3}'], 2, "mark data must be"),
    ],
)
def test_malformed_files_name_line_and_problem(
    tmp_path: Path, lines: list[str], line: int, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(x + "\n" for x in lines))
    with pytest.raises(TranscriptError) as info:
        read_transcript(path)
    assert info.value.line == line
    assert message in str(info.value)


def test_not_utf8_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(header_line().encode() + b"\n\xff\xfe\n")
    with pytest.raises(TranscriptError, match="line 2: not UTF-8"):
        read_transcript(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    body = header_line() + "\n"
    events = [
        f'{{"t": {i}, "ch": "bulk", "dir": "g2h", "b64": "{"QUJD" * (i % 50 + 1)}"}}'
        for i in range(2000)
    ]
    data = gzip.compress((body + "\n".join(events) + "\n").encode())
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TranscriptError, match="gzip stream ends before its end marker"):
        list(TranscriptReader(path, strict=True))
    cut = read_transcript(path)  # not strict: the whole lines before the cut stand
    assert cut.truncated is not None and "end marker" in cut.truncated
    assert 0 < len(cut.events) < len(events)
    assert [e.t for e in cut.events] == list(range(len(cut.events)))
    assert all(isinstance(e, Chunk) and e.data == b"ABC" * (int(e.t) % 50 + 1) for e in cut.events)


def test_overlong_line_is_refused_without_loading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text(
        header_line()
        + "\n"
        + '{"t": 1, "ch": "com1", "dir": "g2h", "text": "'
        + "a" * 5000
        + '"}\n'
    )
    with pytest.raises(TranscriptError, match="line 2: line longer than 1000 bytes"):
        list(TranscriptReader(path, max_line=1000))


def test_streaming_reader_yields_lazily() -> None:
    body = header_line() + "\n" + OK_EVENT + "\n" + "{broken\n"
    reader = TranscriptReader(io.BufferedReader(io.BytesIO(body.encode())))
    it = iter(reader)
    assert isinstance(next(it), Chunk)
    with pytest.raises(TranscriptError, match="line 3"):
        next(it)


def test_missing_file_and_directory_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        read_transcript(tmp_path / "nope.jsonl")
    with pytest.raises(UsageError, match="is a directory"):
        read_transcript(tmp_path)


def test_writer_rejects_bad_events(tmp_path: Path) -> None:
    with TranscriptWriter(tmp_path / "t.jsonl", Header("ktstr-0.15")) as w:
        w.chunk(1.0, "com1", "g2h", b"a")
        with pytest.raises(UsageError, match="backwards"):
            w.chunk(0.5, "com1", "g2h", b"a")
        with pytest.raises(UsageError, match="not in the transcript's channel table"):
            w.chunk(2.0, "com7", "g2h", b"a")
        with pytest.raises(UsageError, match="does not carry"):
            w.chunk(2.0, "com1", "h2g", b"a")


def test_channel_bytes_concatenates_per_direction() -> None:
    t = Transcript(
        Header("ktstr-0.15"),
        [
            Chunk(0, "bulk", "g2h", b"ab"),
            Chunk(1, "bulk", "h2g", b"X"),
            Chunk(2, "bulk", "g2h", b"cd"),
            Mark(3, "vm-exit", {"status": 0}),
        ],
    )
    assert t.channel_bytes("bulk") == b"abcd" and t.channel_bytes("bulk", "h2g") == b"X"
    assert t.mark("vm-exit") == Mark(3, "vm-exit", {"status": 0})
