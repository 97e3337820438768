"""Torn final lines, bounded recorder memory, and stopping promptly."""

from __future__ import annotations

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
from ktstr_host.transcripts.io import TranscriptReader, read_transcript, write_transcript
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
