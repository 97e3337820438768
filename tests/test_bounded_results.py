"""Issue 11 item 5: hostile runs give bounded results (aggregated anomalies, streamed
inputs, no per-line objects for floods of empty lines)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ktstr_guest.strategies import splits
from ktstr_host.decode.serial import Line, SerialDecoder
from ktstr_host.session.result import ANOMALY_SAMPLES, RunResult
from ktstr_host.transcripts.io import TranscriptWriter
from ktstr_proto.frame import build_header
from ktstr_proto.transcript import Header

MiB = 1 << 20
RSS_BOUND = 2 * 16 * MiB + 64 * MiB
"""The issue's target: 2 x cap + 64 MiB."""


def test_repeated_anomalies_are_aggregated() -> None:
    r = RunResult("ktstr-0.15")
    for i in range(1000):
        r.anomaly("unknown-tag", "bulk", 16 * i, f"tag {i}")
    r.anomaly("dropped", "bulk", 5, "once")
    assert len(r.anomalies) == ANOMALY_SAMPLES + 2
    assert r.anomaly_count == 1001
    agg = r.to_json()["anomalies"][ANOMALY_SAMPLES]
    assert agg == {
        "kind": "unknown-tag",
        "channel": "bulk",
        "offset": 16 * ANOMALY_SAMPLES,
        "detail": f"tag {ANOMALY_SAMPLES}",
        "count": 1000 - ANOMALY_SAMPLES,
        "last_offset": 16 * 999,
    }
    assert r.to_json()["anomalies"][-1]["kind"] == "dropped"
    assert f"(and {1000 - ANOMALY_SAMPLES - 1} more like it)" in r.render()


serial_streams = st.lists(
    st.sampled_from([b"\n", b"\r\n", b"\r", b"PANIC: x", b"  0: f", b"a", b"\xff", b" "]),
    max_size=60,
).map(b"".join)


@given(st.data(), serial_streams, st.sampled_from(["com1", "com2"]))
def test_decoder_without_lines_emits_the_same_meanings(
    data: st.DataObject, stream: bytes, channel: str
) -> None:
    chunks = data.draw(splits(stream))
    full = SerialDecoder(channel)  # type: ignore[arg-type]
    lean = SerialDecoder(channel, lines=False)  # type: ignore[arg-type]
    want = [e for c in chunks for e in full.feed(c)] + full.close()
    got = [e for c in chunks for e in lean.feed(c)] + lean.close()
    assert got == [e for e in want if not isinstance(e, Line)]


def _report_rss(tmp_path: Path, *argv: str) -> tuple[int, dict[str, object]]:
    """Peak RSS (bytes, from /proc) of a child ``ktstr-host report --json`` and its
    result."""
    script = (
        "import sys, json\n"
        "from ktstr_host.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(json.dumps({'status': status, 'hwm_kb': int(hwm.split()[1])}), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "report", "--json", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    info = json.loads(proc.stderr.strip().splitlines()[-1])
    return int(info["hwm_kb"]) * 1024, json.loads(proc.stdout)


def _big_unknown_frames(count: int) -> bytes:
    """``count`` frames of 16 MiB with an unknown tag: cheap to decode, large to hold."""
    frame = build_header(0x55555555, 16 * MiB, 0) + bytes(16 * MiB)
    return frame * count


def test_report_on_a_gz_bomb_transcript_streams_the_bulk_data(tmp_path: Path) -> None:
    """256 MiB of bulk data in a small .gz: the report holds one chunk at a time."""
    path = tmp_path / "bomb.jsonl.gz"
    frames = _big_unknown_frames(1)
    with TranscriptWriter(path, Header("ktstr-0.15"), flush_every=False) as w:
        for _ in range(16):
            for at in range(0, len(frames), MiB):
                w.chunk(0.0, "bulk", "g2h", frames[at : at + MiB])
    assert path.stat().st_size < 4 * MiB
    rss, result = _report_rss(tmp_path, str(path))
    assert result["bytes"] == {"bulk": 16 * len(frames), "com1": 0, "com2": 0}
    kinds = [(a["kind"], a.get("count", 1)) for a in result["anomalies"]]  # type: ignore[attr-defined]
    assert sum(n for k, n in kinds if k == "unknown-tag") == 16
    assert rss < RSS_BOUND, f"peak RSS {rss / MiB:.0f} MiB"


def test_report_on_zero_bytes_aggregates_and_stays_bounded(tmp_path: Path) -> None:
    """4 MiB of zeros on bulk is 262144 empty frames with an unknown tag: one anomaly
    object per kind beyond the samples, not one each."""
    raw = tmp_path / "zeros.bin"
    raw.write_bytes(bytes(4 * MiB))
    rss, result = _report_rss(tmp_path, "--bulk", str(raw))
    anomalies = result["anomalies"]
    assert isinstance(anomalies, list) and len(anomalies) == ANOMALY_SAMPLES + 1
    assert anomalies[-1]["count"] == 4 * MiB // 16 - ANOMALY_SAMPLES
    assert anomalies[-1]["last_offset"] == 4 * MiB - 16
    assert rss < RSS_BOUND, f"peak RSS {rss / MiB:.0f} MiB"


def test_report_on_a_flood_of_empty_lines(tmp_path: Path) -> None:
    raw = tmp_path / "crlf.bin"
    raw.write_bytes(b"\r\n" * (8 * MiB))
    rss, result = _report_rss(tmp_path, "--com1", str(raw))
    assert result["bytes"] == {"bulk": 0, "com1": 16 * MiB, "com2": 0}
    assert rss < RSS_BOUND, f"peak RSS {rss / MiB:.0f} MiB"
