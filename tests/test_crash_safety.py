"""Torn final lines, bounded recorder memory, and stopping promptly."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktstr_guest.scenarios import get_scenario, synthetic_transcript
from ktstr_host.cli import main
from ktstr_host.transcripts.io import (
    TranscriptReader,
    TranscriptWriter,
    read_transcript,
    write_transcript,
)
from ktstr_host.transcripts.recorder import READ_SIZE, Recorder
from ktstr_proto.transcript import Chunk, Header, TranscriptError


def _recording() -> bytes:
    buf = io.BytesIO()
    write_transcript(buf, synthetic_transcript(get_scenario("guest-panic")))
    return buf.getvalue()


RECORDING = _recording()


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=RECORDING.index(b"\n") + 1, max_value=len(RECORDING)))
def test_a_cut_anywhere_reads_back_every_whole_line(cut: int) -> None:
    data = RECORDING[:cut]
    whole = data[: data.rfind(b"\n") + 1]
    with TranscriptReader(io.BufferedReader(io.BytesIO(whole))) as reader:
        expected = list(reader)
    with TranscriptReader(io.BufferedReader(io.BytesIO(data))) as reader:
        got = list(reader)
        torn = reader.truncated
    assert got[: len(expected)] == expected
    if data.endswith(b"\n"):
        assert torn is None and got == expected
    else:  # the torn tail either still parses (cut just before the newline) or is reported
        assert (torn is None) == (len(got) == len(expected) + 1)


def _gzip_recording() -> tuple[bytes, list[int]]:
    """A recording written as ``record --out X.gz`` writes it (a sync-flushed gzip stream,
    never closed: the recorder was killed), and the file's size after the header line and
    after each event."""
    transcript = synthetic_transcript(get_scenario("guest-panic"))
    buf = io.BytesIO()
    gz = gzip.GzipFile(fileobj=buf, mode="wb")
    writer = TranscriptWriter(gz, transcript.header)  # type: ignore[arg-type]
    sizes = [len(buf.getvalue())]  # the header line
    for event in transcript.events:
        writer.write(event)
        sizes.append(len(buf.getvalue()))
    return buf.getvalue(), sizes


GZ_RECORDING, GZ_SIZES = _gzip_recording()
GZ_EVENTS = list(TranscriptReader(io.BufferedReader(io.BytesIO(_recording()))))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(GZ_RECORDING)))
def test_a_gzip_recording_cut_anywhere_keeps_every_event_that_reached_the_file(cut: int) -> None:
    """Every event whose flush reached the file before the cut is read back, in order, and
    the cut is reported as a truncation (the stream was never closed: no end marker)."""
    data = GZ_RECORDING[:cut]
    try:
        with TranscriptReader(io.BufferedReader(io.BytesIO(data))) as reader:
            got = list(reader)
            torn = reader.truncated
    except TranscriptError:  # only before the header line reached the file
        assert cut < GZ_SIZES[0]
        return
    reached = sum(size <= cut for size in GZ_SIZES[1:])
    assert got == GZ_EVENTS[: len(got)] and len(got) >= reached
    assert torn is not None and "gzip stream ends before its end marker" in torn.reason


def test_a_closed_gzip_recording_is_not_truncated(tmp_path: Path) -> None:
    path = tmp_path / "whole.jsonl.gz"
    path.write_bytes(gzip.compress(_recording()))
    with TranscriptReader(path) as reader:
        assert list(reader) == GZ_EVENTS and reader.truncated is None


def test_a_corrupt_gzip_recording_is_an_error_even_when_not_strict(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.jsonl.gz"
    whole = bytearray(gzip.compress(_recording()))
    whole[-8] ^= 0xFF  # the CRC-32 of the trailer: the data decompresses, the check fails
    path.write_bytes(bytes(whole))
    with pytest.raises(TranscriptError, match="compressed stream is corrupt"):
        read_transcript(path)


def test_strict_reader_raises_on_a_cut_gzip_recording(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(GZ_RECORDING)
    with (
        pytest.raises(TranscriptError, match="gzip stream ends before its end marker"),
        TranscriptReader(path, strict=True) as reader,
    ):
        list(reader)


def test_strict_reader_raises_on_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "torn.jsonl"
    path.write_bytes(RECORDING[:-10])
    with (
        pytest.raises(TranscriptError, match=rf"{path}: line \d+"),
        TranscriptReader(path, strict=True) as reader,
    ):
        list(reader)


def test_a_bad_line_in_the_middle_is_still_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    first, rest = RECORDING.split(b"\n", 1)
    path.write_bytes(first + b"\n" + b"{torn\n" + rest)
    with pytest.raises(TranscriptError, match=rf"^{path}: line 2: invalid JSON"):
        read_transcript(path)


def test_validate_warns_strict_fails_report_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "torn.jsonl"
    path.write_bytes(RECORDING[:-10])
    assert main(["validate", str(path)]) == 0
    assert "warning:" in capsys.readouterr().err
    assert main(["validate", "--strict", str(path)]) == 2
    assert f"{path}: line" in capsys.readouterr().err
    main(["report", "--json", str(path)])
    kinds = [a["kind"] for a in json.loads(capsys.readouterr().out)["anomalies"]]
    assert "transcript-truncated" in kinds
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(RECORDING)
    main(["report", "--json", str(whole)])
    kinds = [a["kind"] for a in json.loads(capsys.readouterr().out)["anomalies"]]
    assert "transcript-truncated" not in kinds


class _Endless:
    """A port that always has READ_SIZE bytes; counts what it handed out."""

    def __init__(self) -> None:
        self.produced = 0

    def read(self, size: int = 1) -> bytes:
        self.produced += size
        return bytes(size)

    def write(self, data: bytes, /) -> int | None:
        return len(data)

    def close(self) -> None:
        pass


def test_readers_block_when_the_writer_falls_behind() -> None:
    port = _Endless()
    consumed = 0
    ahead: list[int] = []
    bound = 8

    def slow_consumer(chunk: Chunk) -> None:
        nonlocal consumed
        consumed += len(chunk.data)
        ahead.append(port.produced - consumed)

    rec = Recorder(
        Header("ktstr-0.15"), None, on_chunk=slow_consumer, keep=False, queue_chunks=bound
    )
    rec.add("bulk", port)
    rec.run(until=lambda: consumed >= 400 * READ_SIZE)
    rec.close()
    # the queue, the chunk being stamped and the one in the consumer's hands: no more
    assert max(ahead) <= (bound + 2) * READ_SIZE
    assert consumed == sum(rec.bytes_by_channel.values())


def test_stop_ends_readers_before_draining() -> None:
    port = _Endless()
    rec = Recorder(Header("ktstr-0.15"), None, keep=False, queue_chunks=4)
    rec.add("bulk", port)
    rec.run(until=lambda: port.produced > 50 * READ_SIZE)
    produced = port.produced
    rec.close()
    assert port.produced == produced  # nothing was read after the run stopped
    assert sum(rec.bytes_by_channel.values()) == produced


def test_record_from_dev_zero_stops_with_bounded_memory(tmp_path: Path) -> None:
    out = tmp_path / "zero.jsonl"
    peak_rss = Path(__file__).resolve().parent.parent / "bench/peak_rss.py"
    args = ["record", "--bulk", "file:/dev/zero", "--duration", "1", "--quiet", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, str(peak_rss), *args],
        capture_output=True,
        text=True,
        timeout=120,  # before the fix it never stopped
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stderr.split()[-1])
    assert peak_kib < 200 * 1024  # the queue holds at most 4 MiB
    with TranscriptReader(out) as reader:  # and what it read is there
        assert any(isinstance(e, Chunk) and e.data for e in reader)
