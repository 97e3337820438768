"""The Lua dissector under the real tshark: the same frames as ``ktstr-host decode --json``
on every fixture, frames split across packets, drops, filters, markers and wake bytes."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ktstr_host.export.wireshark import DISSECTOR, PLUGIN_NAME
from ktstr_host.export.wireshark.generate import render
from ktstr_host.transcripts.io import write_transcript
from ktstr_proto.frame import build_frame, build_header
from ktstr_proto.tags import fourcc
from ktstr_proto.transcript import Chunk, Header, Transcript

from .tshark_support import decode_json, ktstr_host, tshark_fields

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPTS = sorted((ROOT / "fixtures").glob("*/*.jsonl"))
TRANSCRIPTS = [p for p in TRANSCRIPTS if p.parent.name != "bulk"]
BULK_FIXTURES = sorted((ROOT / "fixtures" / "bulk").glob("*.bin"))
BULK_LANES = ("bulk.g2h", "bulk.h2g")
FIELDS = [
    "frame.number",
    "ktstr.lane",
    "ktstr.offset",
    "ktstr.tag",
    "ktstr.len",
    "ktstr.crc_ok",
    "ktstr.drop.offset",
    "ktstr.drop.reason",
    "ktstr.drop.size",
]

Event = tuple[Any, ...]


def dissected(pcapng: Path, prefs: tuple[str, ...] = ()) -> dict[str, list[Event]]:
    """Frames and drops per lane, as the dissector lists them, in stream order."""
    out: dict[str, list[Event]] = defaultdict(list)
    for row in tshark_fields(pcapng, FIELDS, prefs=prefs):
        lane = row["ktstr.lane"][0]
        frames = zip(*(row[f] for f in FIELDS[2:6]), strict=True)
        for offset, tag, length, ok in frames:
            out[lane].append(("frame", int(offset), tag, int(length), ok == "1"))
        drops = zip(
            row["ktstr.drop.offset"], row["ktstr.drop.reason"], row["ktstr.drop.size"], strict=True
        )
        for offset, reason, size in drops:
            out[lane].append(("dropped", int(offset), reason, int(size)))
    return {lane: sorted(events, key=lambda e: e[1]) for lane, events in out.items()}


def decoded(raw: Path, profile: str = "ktstr-0.15") -> list[Event]:
    """The same view from ``ktstr-host decode --json``."""
    out: list[Event] = []
    for e in decode_json(raw, profile=profile):
        if e["event"] == "frame":
            out.append(("frame", e["offset"], e["tag"], e["length"], e["crc_ok"]))
        else:
            out.append(("dropped", e["offset"], e["reason"], e["size"]))
    return out


def export(transcript: Path, tmp_path: Path) -> tuple[Path, Path]:
    pcapng, raw = tmp_path / "run.pcapng", tmp_path / "raw"
    for args in (("--pcapng", str(pcapng)), ("--raw", str(raw))):
        proc = ktstr_host("export", str(transcript), *args)
        assert proc.returncode == 0, proc.stderr
    return pcapng, raw


def bulk_transcript(path: Path, pieces: list[bytes], direction: str = "g2h") -> Path:
    events: list[Any] = [
        Chunk(i * 0.001, "bulk", direction, piece)  # type: ignore[arg-type]
        for i, piece in enumerate(pieces)
    ]
    write_transcript(path, Transcript(Header("ktstr-0.15"), events))
    return path


def split_every(data: bytes, n: int) -> list[bytes]:
    return [data[i : i + n] for i in range(0, len(data), n)]


# ---- the generated file -------------------------------------------------------------------


def test_shipped_dissector_is_up_to_date() -> None:
    assert DISSECTOR.read_text(encoding="utf-8") == render(), (
        "ktstr.lua is stale: run python -m ktstr_host.export.wireshark.generate"
    )


def test_generated_tables_hold_the_protocol_facts() -> None:
    text = DISSECTOR.read_text(encoding="utf-8")
    assert '[0x54455354]={ascii="TEST", name="TEST_RESULT"}' in text
    assert '[0xd1]="DUMP"' in text
    assert '{kind="panic", text="PANIC:", how="prefix"}' in text


# ---- every fixture ------------------------------------------------------------------------


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_dissector_lists_the_frames_decode_lists(transcript: Path, tmp_path: Path) -> None:
    pcapng, raw = export(transcript, tmp_path)
    seen = dissected(pcapng)
    for lane in BULK_LANES:
        expected = decoded(raw / f"{lane}.bin")
        assert seen.get(lane, []) == expected, lane
    if (raw / "bulk.g2h.bin").stat().st_size:
        assert seen["bulk.g2h"], "bulk bytes give frames or drops"


SPLITS: dict[str, Callable[[bytes], list[bytes]]] = {
    "one-packet": lambda d: [d],
    "every-byte": lambda d: split_every(d, 1),
    "every-7": lambda d: split_every(d, 7),
    "every-19": lambda d: split_every(d, 19),
    "random": lambda d: _random_split(d, 3),
}


def _random_split(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 40)
        out.append(data[i : i + n])
        i += n
    return out


@pytest.mark.parametrize("split", sorted(SPLITS))
@pytest.mark.parametrize("fixture", BULK_FIXTURES, ids=lambda p: p.stem)
def test_bulk_fixture_split_across_packets(fixture: Path, split: str, tmp_path: Path) -> None:
    data = fixture.read_bytes()
    pieces = SPLITS[split](data)
    pcapng, raw = export(bulk_transcript(tmp_path / "t.jsonl", pieces), tmp_path)
    expected = decoded(raw / "bulk.g2h.bin")
    assert expected == decoded(fixture)
    assert dissected(pcapng)["bulk.g2h"] == expected


def test_hostile_fixture_shows_every_problem(tmp_path: Path) -> None:
    data = (ROOT / "fixtures" / "bulk" / "hostile-run.bin").read_bytes()
    pcapng, _ = export(bulk_transcript(tmp_path / "t.jsonl", split_every(data, 5)), tmp_path)
    events = dissected(pcapng)["bulk.g2h"]
    assert [e[4] for e in events if e[0] == "frame"] == [True, False, False, True, True]
    assert events[-1] == ("dropped", 92, "truncated", 24)
    counts = {}
    for name in ("ktstr.crc_bad", "ktstr.unknown_tag", "ktstr.pad_nonzero", "ktstr.dropped"):
        counts[name] = len(tshark_fields(pcapng, ["frame.number"], display_filter=name))
    assert counts == {
        "ktstr.crc_bad": 2,  # the corrupted EXIT and the unknown tag's zero CRC
        "ktstr.unknown_tag": 1,
        "ktstr.pad_nonzero": 1,
        "ktstr.dropped": 1,
    }
    bad = tshark_fields(pcapng, ["ktstr.tag"], display_filter="ktstr.crc_ok == 0")
    assert sorted(t for row in bad for t in row["ktstr.tag"] if t in ("EXIT", "0xdeadbeef")) == [
        "0xdeadbeef",
        "EXIT",
    ]


def test_large_frame_spans_packets_and_shares_them(tmp_path: Path) -> None:
    big = build_frame(fourcc("SOUT"), b"y" * 600_000)  # export splits it at 262144 bytes
    small = build_frame(fourcc("EXIT"), bytes(4))
    stream = small + big + small + small
    pcapng, raw = export(bulk_transcript(tmp_path / "t.jsonl", [stream]), tmp_path)
    expected = decoded(raw / "bulk.g2h.bin")
    assert [e[2] for e in expected] == ["EXIT", "SOUT", "EXIT", "EXIT"]
    assert dissected(pcapng)["bulk.g2h"] == expected
    rows = tshark_fields(pcapng, ["frame.number", "ktstr.spans"], display_filter="ktstr.spans")
    assert [(r["frame.number"], r["ktstr.spans"]) for r in rows] == [(["3"], ["1,2,3"])]


def test_header_cap_profile_clears_to_the_end(tmp_path: Path) -> None:
    ok = build_frame(fourcc("SRDY"), b"")
    stream = ok + build_header(fourcc("SOUT"), 300_000, 0) + b"z" * 40 + ok + ok
    pcapng, raw = export(bulk_transcript(tmp_path / "t.jsonl", split_every(stream, 9)), tmp_path)
    expected = decoded(raw / "bulk.g2h.bin", profile="ktstr-bulk-256k")
    assert expected == [("frame", 0, "SRDY", 0, True), ("dropped", 16, "oversized", 88)]
    prefs = ("ktstr.profile:ktstr-bulk-256k",)
    assert dissected(pcapng, prefs)["bulk.g2h"] == expected
    # the default profile (16 MiB cap, checked on the whole frame) waits for the bytes
    assert dissected(pcapng)["bulk.g2h"] == decoded(raw / "bulk.g2h.bin")


def test_display_filter_by_tag(tmp_path: Path) -> None:
    pcapng, _ = export(ROOT / "fixtures" / "synthetic" / "normal-pass.jsonl", tmp_path)
    every = tshark_fields(pcapng, ["frame.number", "ktstr.tag"])
    want = [r["frame.number"] for r in every if "TEST" in r["ktstr.tag"]]
    got = tshark_fields(pcapng, ["frame.number"], display_filter='ktstr.tag == "TEST"')
    assert want and [r["frame.number"] for r in got] == want


# ---- serial lines and wake bytes ------------------------------------------------------------


def _lines(raw: Path) -> list[str]:
    text = raw.read_bytes().decode("utf-8", "replace")
    return [line.removesuffix("\r") for line in text.split("\n")[:-1]]


def test_panic_lines_are_marked(tmp_path: Path) -> None:
    pcapng, raw = export(ROOT / "fixtures" / "qemu" / "guest-panic.jsonl", tmp_path)
    want = [line for line in _lines(raw / "com2.g2h.bin") if line.lstrip().startswith("PANIC:")]
    rows = tshark_fields(
        pcapng, ["ktstr.line"], display_filter='ktstr.marker == "panic" && ktstr.lane == "com2.g2h"'
    )
    marked = [line for r in rows for line in r["ktstr.line"] if line.lstrip().startswith("PANIC")]
    assert want and marked == want
    assert tshark_fields(pcapng, ["frame.number"], display_filter="ktstr.panic")


def test_dump_lines_are_marked(tmp_path: Path) -> None:
    pcapng, raw = export(ROOT / "fixtures" / "qemu" / "scheduler-crash-with-dump.jsonl", tmp_path)
    want = sum("sched_ext_dump:" in line for line in _lines(raw / "com1.g2h.bin"))
    rows = tshark_fields(pcapng, ["ktstr.marker"], display_filter='ktstr.lane == "com1.g2h"')
    assert want > 0 and sum(r["ktstr.marker"].count("dump") for r in rows) == want


def test_wake_bytes_are_named(tmp_path: Path) -> None:
    pcapng, raw = export(ROOT / "fixtures" / "qemu" / "host-timeout.jsonl", tmp_path)
    want = list((raw / "hvc0.h2g.bin").read_bytes())
    rows = tshark_fields(pcapng, ["ktstr.wake"], display_filter='ktstr.lane == "hvc0.h2g"')
    assert want and [int(v, 16) for r in rows for v in r["ktstr.wake"]] == want


# ---- ktstr-host wireshark -------------------------------------------------------------------


def test_install_path_and_force(tmp_path: Path) -> None:
    proc = ktstr_host("wireshark", "--path")
    assert proc.returncode == 0 and Path(proc.stdout.strip()) == DISSECTOR
    target = tmp_path / "plugins"
    proc = ktstr_host("wireshark", "--install", "--dir", str(target))
    assert proc.returncode == 0, proc.stderr
    installed = target / PLUGIN_NAME
    assert installed.read_bytes() == DISSECTOR.read_bytes()
    installed.write_text("old")
    proc = ktstr_host("wireshark", "--install", "--dir", str(target))
    assert proc.returncode == 2
    assert proc.stderr.startswith("ktstr-host: error:") and proc.stderr.count("\n") == 1
    assert installed.read_text() == "old"
    proc = ktstr_host("wireshark", "--install", "--dir", str(target), "--force")
    assert proc.returncode == 0 and installed.read_bytes() == DISSECTOR.read_bytes()
    assert sorted(p.name for p in target.iterdir()) == [PLUGIN_NAME]


def test_install_defaults_to_the_home_plugin_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ktstr_host.export.wireshark import install

    monkeypatch.setenv("HOME", str(tmp_path))
    path = install()
    assert path == tmp_path / ".local" / "lib" / "wireshark" / "plugins" / PLUGIN_NAME
    assert path.read_bytes() == DISSECTOR.read_bytes()
