"""Transcript export: pcapng layout and round trips, raw per-lane files, the CLI."""

from __future__ import annotations

import calendar
import io
import json
import math
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktstr_host.cli import main
from ktstr_host.export.common import OutputExistsError
from ktstr_host.export.pcapng import export_pcapng, write_pcapng
from ktstr_host.export.pcapng_read import PcapngError, read_pcapng
from ktstr_host.export.raw import export_raw
from ktstr_host.transcripts.io import Transcript, write_transcript
from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import (
    DIRECTIONS,
    STANDARD_CHANNELS,
    ChannelSpec,
    Chunk,
    Header,
    Mark,
    TranscriptError,
    encode_header,
)

STARTS = ["", "2025-03-01T12:00:00Z", "2024-02-29T23:59:59.999999+02:00", "2000-01-01T00:00:00"]
EXTRA = {"x-1": ChannelSpec("binary", "h2g", "extra"), "t.2": ChannelSpec("text", "both", "")}


@st.composite
def transcripts(draw: st.DrawFn) -> Transcript:
    table = dict(STANDARD_CHANNELS)
    if draw(st.booleans()):
        table.update(EXTRA)
    lanes = [(ch, d) for ch, spec in table.items() for d in DIRECTIONS if spec.allows(d)]
    times = sorted(draw(st.lists(st.floats(0, 1e5), max_size=12)))
    events: list[Chunk | Mark] = []
    for raw_t in times:
        t = round(raw_t, 6)
        if draw(st.integers(0, 4)) == 0:
            data = draw(st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=6)))
            events.append(Mark(t, draw(st.text(max_size=8)), data))
        else:
            ch, d = draw(st.sampled_from(lanes))
            events.append(Chunk(t, ch, d, draw(st.binary(min_size=1, max_size=40))))
    header = Header("ktstr-0.15", table, started_at=draw(st.sampled_from(STARTS)))
    return Transcript(header, events)


def base_us(started_at: str) -> int:
    if not started_at:
        return 0
    when = datetime.fromisoformat(started_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return calendar.timegm(when.utctimetuple()) * 1_000_000 + when.microsecond


def saved(tmp: Path, t: Transcript) -> Path:
    path = tmp / "t.jsonl.gz"
    write_transcript(path, t)
    return path


# ---- pcapng ------------------------------------------------------------------------


@settings(max_examples=120)
@given(transcripts())
def test_pcapng_round_trip(tmp_path_factory: pytest.TempPathFactory, t: Transcript) -> None:
    tmp = tmp_path_factory.mktemp("pcap")
    src = saved(tmp, t)
    stats = export_pcapng(src, tmp / "t.pcapng")
    pcap = read_pcapng((tmp / "t.pcapng").read_bytes())
    names = [i.name for i in pcap.interfaces]
    assert names[-1] == "marks"
    assert len(set(names)) == len(names)
    assert all(i.units_per_second == 10**6 for i in pcap.interfaces)
    base = base_us(t.header.started_at)
    assert stats.packets == len(pcap.packets) == len(t.events)
    for event, packet in zip(t.events, pcap.packets, strict=True):
        assert pcap.timestamp_us(packet) == base + round(event.t * 1_000_000)
        name = names[packet.interface_id]
        if isinstance(event, Chunk):
            assert name == f"{event.channel}.{event.direction}"
            assert packet.flags == (1 if event.direction == "g2h" else 2)
            assert packet.data == event.data
            assert packet.original_length == len(event.data)
        else:
            assert name == "marks"
            assert json.loads(packet.data) == {"mark": event.name, "data": event.data}
            assert packet.comments[0].startswith(f"mark {event.name}")


@settings(max_examples=60)
@given(transcripts(), st.integers(1, 9))
def test_long_chunks_split_into_packets(t: Transcript, max_packet: int) -> None:
    out = io.BytesIO()
    write_pcapng(t.header, t.events, out, max_packet=max_packet)
    pcap = read_pcapng(out.getvalue())
    names = [i.name for i in pcap.interfaces]
    assert all(i.snaplen == max_packet for i in pcap.interfaces)
    assert all(len(p.data) <= max_packet for p in pcap.packets)
    pieces = sum(math.ceil(len(c.data) / max_packet) for c in t.chunks)
    assert len(pcap.packets) == pieces + sum(
        1 for p in pcap.packets if names[p.interface_id] == "marks"
    )
    for ch, spec in t.header.channels.items():
        for d in DIRECTIONS:
            if spec.allows(d):
                lane = [p.data for p in pcap.packets if names[p.interface_id] == f"{ch}.{d}"]
                assert b"".join(lane) == t.channel_bytes(ch, d)


def test_byte_layout_of_a_tiny_transcript() -> None:
    header = Header("p", {"c": ChannelSpec("text", "g2h", "D")}, started_at="1970-01-01T00:00:01Z")
    out = io.BytesIO()
    write_pcapng(header, [Chunk(0.5, "c", "g2h", b"hi"), Mark(2.0, "m")], out)
    comment = b"ktstr transcript v1, profile p, started_at 1970-01-01T00:00:01Z"  # 63 bytes
    h = bytes.fromhex
    shb = (
        h("0a0d0d0a 78000000")  # SHB, total length 120
        + h("4d3c2b1a 0100 0000 ffffffffffffffff")  # byte-order magic, 1.0, length unknown
        + h("0100 3f00") + comment + h("00")  # opt_comment, 63 bytes + 1 pad
        + h("0400 0f00") + b"ktstr-py export" + h("00")  # shb_userappl, 15 + 1 pad
        + h("00000000 78000000")  # opt_endofopt, total length again
    )  # fmt: skip
    idb_lane = (
        h("01000000 40000000")  # IDB, total length 64
        + h("9300 0000 00000400")  # LINKTYPE_USER0, reserved, snaplen 262144
        + h("0200 0500") + b"c.g2h" + h("000000")  # if_name
        + h("0300 0e00") + b"D, guest->host" + h("0000")  # if_description
        + h("0900 0100 06000000")  # if_tsresol = 6
        + h("00000000 40000000")
    )  # fmt: skip
    idb_marks = (
        h("01000000 48000000")  # IDB, total length 72
        + h("9400 0000 00000400")  # LINKTYPE_USER1: the channel after the last
        + h("0200 0500") + b"marks" + h("000000")
        + h("0300 1600") + b"ktstr transcript marks" + h("0000")
        + h("0900 0100 06000000")
        + h("00000000 48000000")
    )  # fmt: skip
    epb_chunk = (
        h("06000000 30000000")  # EPB, total length 48
        + h("00000000 00000000 60e31600")  # interface 0, t = 1.5 s = 1500000 us
        + h("02000000 02000000") + b"hi" + h("0000")  # captured, original, data, pad
        + h("0200 0400 01000000")  # epb_flags: inbound
        + h("00000000 30000000")
    )  # fmt: skip
    mark_json = b'{"mark":"m","data":{}}'  # 22 bytes
    epb_mark = (
        h("06000000 48000000")  # EPB, total length 72
        + h("01000000 00000000 c0c62d00")  # interface 1, t = 3 s
        + h("16000000 16000000") + mark_json + h("0000")
        + h("0100 0600") + b"mark m" + h("0000")  # opt_comment "mark m"
        + h("00000000 48000000")
    )  # fmt: skip
    expected = shb + idb_lane + idb_marks + epb_chunk + epb_mark
    assert len(expected) == 120 + 64 + 72 + 48 + 72
    assert out.getvalue() == expected
    pcap = read_pcapng(expected)
    assert pcap.section.strings(1) == [comment.decode()]
    assert [(i.linktype, i.name, i.description) for i in pcap.interfaces] == [
        (147, "c.g2h", "D, guest->host"),
        (148, "marks", "ktstr transcript marks"),
    ]


def test_export_refuses_existing_output_and_leaves_nothing_on_error(tmp_path: Path) -> None:
    src = saved(tmp_path, Transcript(Header("p"), [Chunk(1.0, "bulk", "h2g", b"x")]))
    target = tmp_path / "out.pcapng"
    target.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="already exists"):
        export_pcapng(src, target)
    assert target.read_bytes() == b"keep"
    export_pcapng(src, target, overwrite=True)
    assert len(read_pcapng(target.read_bytes()).packets) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(encode_header(Header("p")) + '\n{"t": 1, "ch": "nope"}\n')
    with pytest.raises(TranscriptError, match="line 2: unknown channel"):
        export_pcapng(bad, tmp_path / "new.pcapng")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "out.pcapng", "t.jsonl.gz"]


@pytest.mark.parametrize(
    ("started_at", "message"),
    [("yesterday", "not an ISO 8601 time"), ("1969-12-31T23:59:59Z", "before 1970")],
)
def test_bad_started_at(started_at: str, message: str) -> None:
    with pytest.raises(TranscriptError, match=f"line 1: started_at .*{message}"):
        write_pcapng(Header("p", started_at=started_at), [], io.BytesIO())


def test_time_beyond_64_bits() -> None:
    with pytest.raises(TranscriptError, match="64-bit"):
        write_pcapng(Header("p"), [Mark(2.0**64 / 1e6, "late")], io.BytesIO())


def test_write_pcapng_checks_its_arguments() -> None:
    with pytest.raises(UsageError, match="not in the transcript's channel table"):
        write_pcapng(Header("p"), [Chunk(0.0, "nope", "g2h", b"x")], io.BytesIO())
    with pytest.raises(UsageError, match="max_packet"):
        write_pcapng(Header("p"), [], io.BytesIO(), max_packet=0)


# ---- the reader checks every block -------------------------------------------------


def tiny() -> bytes:
    out = io.BytesIO()
    write_pcapng(Header("p"), [Chunk(0.0, "bulk", "g2h", b"abc")], out)
    return out.getvalue()


def corrupt(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def test_reader_rejects_malformed_blocks() -> None:
    good = tiny()
    (shb_len,) = struct.unpack_from("<I", good, 4)
    (epb_len,) = struct.unpack_from("<I", good, len(good) - 4)
    epb = len(good) - epb_len  # the packet is the last block
    cases = {
        "no Section Header": good[shb_len:],
        "trailing length": corrupt(good, len(good) - 4, b"\x00\x01\x00\x00"),
        "bad block total length": corrupt(good, epb + 4, struct.pack("<I", 13)),
        "not described": corrupt(good, epb + 8, struct.pack("<I", 99)),
        "non-zero padding": corrupt(good, epb + 8 + 20 + 3, b"\x01"),
        "opt_endofopt": corrupt(good, len(good) - 8, b"\x01\x00\x00\x00"),
        "not little-endian": corrupt(good, 8, b"\x1a\x2b\x3c\x4d"),
        "truncated block header": good + b"\x00" * 8,
    }
    for message, data in cases.items():
        with pytest.raises(PcapngError, match=message):
            read_pcapng(data)


# ---- raw ---------------------------------------------------------------------------


@settings(max_examples=60)
@given(transcripts())
def test_raw_files_equal_channel_bytes(
    tmp_path_factory: pytest.TempPathFactory, t: Transcript
) -> None:
    tmp = tmp_path_factory.mktemp("raw")
    paths = export_raw(saved(tmp, t), tmp / "out")
    expected = [
        (ch, d) for ch, spec in t.header.channels.items() for d in DIRECTIONS if spec.allows(d)
    ]
    assert [p.name for p in paths] == [f"{ch}.{d}.bin" for ch, d in expected]
    for path, (ch, d) in zip(paths, expected, strict=True):
        assert path.read_bytes() == t.channel_bytes(ch, d)
    assert sorted((tmp / "out").iterdir()) == sorted(paths)  # no temporary directory left


def test_raw_overwrite_and_errors(tmp_path: Path) -> None:
    t = Transcript(Header("p"), [Chunk(0.1, "com1", "g2h", b"a"), Chunk(0.2, "com1", "g2h", b"b")])
    src = saved(tmp_path, t)
    out = tmp_path / "out"
    out.mkdir()
    (out / "com1.g2h.bin").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match=r"com1\.g2h\.bin: already exists"):
        export_raw(src, out)
    assert sorted(p.name for p in out.iterdir()) == ["com1.g2h.bin"]
    export_raw(src, out, overwrite=True)
    assert (out / "com1.g2h.bin").read_bytes() == b"ab"
    with pytest.raises(UsageError, match="is not a directory"):
        export_raw(src, src)
    evil = saved(tmp_path, Transcript(Header("p", {"../x": ChannelSpec("text", "g2h")}), []))
    with pytest.raises(UsageError, match="cannot be used in a file name"):
        export_raw(evil, tmp_path / "evil")
    assert not (tmp_path / "evil").exists()


def test_raw_many_lanes_reopen_files(tmp_path: Path) -> None:
    table = {f"c{i}": ChannelSpec("binary", "g2h") for i in range(70)}
    events = [Chunk(0.0, f"c{i % 70}", "g2h", bytes([i % 256])) for i in range(300)]
    t = Transcript(Header("p", table), list(events))
    for path in export_raw(saved(tmp_path, t), tmp_path / "out"):
        assert path.read_bytes() == t.channel_bytes(path.name.split(".")[0])


# ---- CLI ---------------------------------------------------------------------------


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    events: list[Chunk | Mark] = [
        Chunk(0.5, "com1", "g2h", b"boot\r\n"),
        Chunk(1.0, "hvc0", "h2g", b"\xd1"),
        Mark(2.0, "vm-exit", {"status": 0}),
    ]
    return saved(tmp_path, Transcript(Header("ktstr-0.15"), events))


def test_cli_pcapng_and_force(
    transcript: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.pcapng"
    assert main(["export", str(transcript), "--pcapng", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}: 3 packets (2 chunks, 1 marks), 7 data bytes\n"
    assert main(["export", str(transcript), "--pcapng", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"ktstr-host: error: {out}: already exists, refusing to overwrite it " + (
        "(use --force to replace it)\n"
    )
    assert main(["export", str(transcript), "--pcapng", str(out), "--force"]) == 0


def test_cli_raw(transcript: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(transcript), "--raw", str(tmp_path / "raw")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{tmp_path / 'raw' / 'com1.g2h.bin'}\t6 bytes" in lines
    assert (tmp_path / "raw" / "hvc0.h2g.bin").read_bytes() == b"\xd1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"{}\n", "line 1: not a ktstr transcript"),
        (b"", "line 1: empty file"),
    ],
)
def test_cli_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    src = tmp_path / "in.jsonl"
    if content is not None:
        src.write_bytes(content)
    for mode in (["--pcapng", str(tmp_path / "o.pcapng")], ["--raw", str(tmp_path / "d")]):
        assert main(["export", str(src), *mode]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ktstr-host: error: ") and message in err
        assert err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["in.jsonl"] if content is not None else []
    )


def test_cli_needs_exactly_one_output(transcript: Path) -> None:
    for args in ([], ["--pcapng", "a", "--raw", "b"]):
        with pytest.raises(SystemExit) as exc:
            main(["export", str(transcript), *args])
        assert exc.value.code == 2


def test_cli_pipes(transcript: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ktstr_host.cli", "export", "-", "--pcapng", "-"],
        input=transcript.read_bytes(),
        capture_output=True,
        check=True,
    )
    pcap = read_pcapng(proc.stdout)
    assert [p.data for p in pcap.packets][:2] == [b"boot\r\n", b"\xd1"]
    assert pcap.timestamp_us(pcap.packets[2]) == 2_000_000
