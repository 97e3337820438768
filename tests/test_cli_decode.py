"""``ktstr-host decode``: output lines, JSON lines, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_host.cli import main
from ktstr_proto.frame import build_header


@pytest.fixture
def stream(tmp_path: Path) -> Path:
    w = GuestBulkWriter()
    data = (
        w.sys_rdy()
        + w.lifecycle(1)
        + w.stdout(b"hi\n")
        + w.exit(3)
        + build_header(0x45584954, 0xFFFFFFFF, 0)
        + b"junk"
    )
    path = tmp_path / "bulk.bin"
    path.write_bytes(data)
    return path


def test_human_output(stream: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", str(stream)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["0", "SRDY", "len=0", "crc=ok"]
    assert "phase=INIT_STARTED" in lines[1]
    assert "code=3" in lines[3]
    # frames of 16 + 17 + 19 + 20 bytes, then a 16-byte header and 4 junk bytes
    assert lines[4].split() == ["72", "DROP", "truncated", "size=20", "header=EXIT/4294967295"]
    assert lines[-1] == "-- 4 frames (72 bytes), 1 drops (20 bytes), 92 bytes read"


def test_json_lines(stream: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--json", str(stream)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["event"] for r in rows] == ["frame"] * 4 + ["dropped", "end"]
    assert rows[3].pop("crc32") == zlib.crc32(b"\x03\0\0\0")
    assert rows[3] == {
        "event": "frame",
        "offset": 52,
        "tag": "EXIT",
        "type": 0x45584954,
        "known": True,
        "length": 4,
        "crc_ok": True,
        "pad": 0,
        "preview": "03000000",
        "decoded": {"code": 3},
    }
    assert rows[4] == {
        "event": "dropped",
        "offset": 72,
        "reason": "truncated",
        "size": 20,
        "msg_type": 0x45584954,
        "length": 0xFFFFFFFF,
    }
    assert rows[2]["text"] == "hi\n"


def test_stdin_and_small_chunks(stream: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ktstr_host.cli", "decode", "--json", "--chunk-size", "3", "-"],
        input=stream.read_bytes(),
        capture_output=True,
        check=True,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[-1]["frames"] == 4 and rows[-1]["bytes"] == 92


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["decode", "/nonexistent/file"], "/nonexistent/file: no such file"),
        (["decode", "{tmp}"], "is a directory"),
        (["decode", "{stream}", "--profile", "ktstr-9"], "unknown profile 'ktstr-9'"),
        (["decode", "{stream}", "--profile", "ktstr-0.4"], "has no bulk channel"),
        (["decode", "{stream}", "--chunk-size", "0"], "--chunk-size must be in 1.."),
    ],
)
def test_errors_are_one_line(
    argv: list[str], message: str, stream: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(tmp=stream.parent, stream=stream) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_profiles_file_on_the_command_line(
    stream: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prof = tmp_path / "profiles.json"
    prof.write_text('[{"name": "cap-8", "cap": 8}]')
    assert main(["--profiles", str(prof), "decode", str(stream), "--profile", "cap-8"]) == 0
    out = capsys.readouterr().out
    # with an 8-byte cap, the 20 bytes left after the frames exceed 2 x cap: cleared
    assert "DROP  residual-overflow  size=20" in out
