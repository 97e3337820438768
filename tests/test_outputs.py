"""Every command that writes refuses existing files and symlinks without --force, writes
atomically, leaves the target alone when it fails, and takes '-' for stdout."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ktstr_guest.scenarios import get_scenario, synthetic_transcript
from ktstr_host.cli import main
from ktstr_host.output_files import OutputExistsError, check_output, create_streaming
from ktstr_host.transcripts.io import read_transcript, write_transcript

PREVIOUS = b"previous contents\n"


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    write_transcript(path, synthetic_transcript(get_scenario("normal-pass")))
    return path


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "com1.log"
    path.write_bytes(b"hello from com1\n")
    return path


Command = Callable[[Path, Path, Path], list[str]]

COMMANDS: dict[str, Command] = {
    "synth": lambda out, t, c: ["synth", "normal-pass", "--out", str(out)],
    "import": lambda out, t, c: ["import", "--com1", str(c), "--out", str(out)],
    "record": lambda out, t, c: ["record", "--com1", f"file:{c}", "--quiet", "--out", str(out)],
    "export-pcapng": lambda out, t, c: ["export", str(t), "--pcapng", str(out)],
    "vm-run": lambda out, t, c: ["vm", "run", "normal-pass", "--out", str(out)],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_existing_output_is_refused(
    name: str, tmp_path: Path, transcript: Path, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.file"
    out.write_bytes(PREVIOUS)
    assert main(COMMANDS[name](out, transcript, capture)) == 2
    err = capsys.readouterr().err
    assert f"{out}: already exists" in err and "--force" in err
    assert out.read_bytes() == PREVIOUS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_symlink_is_refused_even_when_dangling(
    name: str, tmp_path: Path, transcript: Path, capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "out.link"
    link.symlink_to(tmp_path / "nowhere")
    assert main(COMMANDS[name](link, transcript, capture)) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("name", ["synth", "import", "record", "export-pcapng"])
def test_force_replaces_the_link_not_its_target(
    name: str, tmp_path: Path, transcript: Path, capture: Path
) -> None:
    target = tmp_path / "precious"
    target.write_bytes(PREVIOUS)
    link = tmp_path / "out.link"
    link.symlink_to(target)
    assert main([*COMMANDS[name](link, transcript, capture), "--force"]) == 0
    assert target.read_bytes() == PREVIOUS
    assert not link.is_symlink() and link.stat().st_size > 0
    assert not list(tmp_path.glob(".*.part"))


def test_failures_leave_the_target_untouched(tmp_path: Path, transcript: Path) -> None:
    out = tmp_path / "prev.jsonl"
    out.write_bytes(PREVIOUS)
    bad_source = ["record", "--com1", "file:/nonexistent/x", "--out", str(out), "--force"]
    assert main(bad_source) == 2
    assert main(["import", "--com1", "/nonexistent/x", "--out", str(out), "--force"]) == 2
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_bytes(transcript.read_bytes() + b"{not json}\n")
    assert main(["export", str(corrupt), "--pcapng", str(out), "--force"]) == 2
    assert out.read_bytes() == PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["prev.jsonl", "corrupt.jsonl", "in.jsonl"]
    )


def test_dash_writes_the_transcript_to_stdout(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "ktstr_host.cli"]
    proc = subprocess.run(
        [*cli, "synth", "normal-pass", "--out", "-"], capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "a.jsonl").write_bytes(proc.stdout)
    assert main(["synth", "normal-pass", "--out", str(tmp_path / "b.jsonl")]) == 0
    a = read_transcript(tmp_path / "a.jsonl")
    b = read_transcript(tmp_path / "b.jsonl")
    assert a.events == b.events and b"wrote -" in proc.stderr


def test_check_output_and_streaming_creation(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    with create_streaming(path, force=False) as f:
        f.write(b"x")
    with pytest.raises(OutputExistsError):
        check_output(path, force=False)
    with pytest.raises(OutputExistsError):
        create_streaming(path, force=False)
    with create_streaming(path, force=True) as f:
        assert path.read_bytes() == b""  # replaced at once by an empty file
    with pytest.raises(Exception, match="is a directory"):
        check_output(tmp_path, force=True)
    with pytest.raises(Exception, match="does not exist"):
        create_streaming(tmp_path / "no" / "such.jsonl", force=True)
