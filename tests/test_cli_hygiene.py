"""CLI hygiene: --version, bare help, decode's format checks, terminal safety, progress
only on a terminal, the kvm stall warning, replay's exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ktstr_guest.scenarios import get_scenario, synthetic_transcript
from ktstr_host.cli import main
from ktstr_host.cli.terminal import SafeTerminal, escape_controls
from ktstr_host.transcripts.io import write_transcript
from ktstr_host.vm.runner import VmConfig, run_vm
from ktstr_proto.transcript import Header, Mark, Transcript

CLI = [sys.executable, "-m", "ktstr_host.cli"]


def test_version_and_bare_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("ktstr-host 0.")
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_decode_recognises_transcripts_and_non_bulk_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = tmp_path / "t.jsonl"
    write_transcript(t, synthetic_transcript(get_scenario("normal-pass")))
    assert main(["decode", str(t)]) == 2
    assert f"{t}: this is a ktstr transcript" in capsys.readouterr().err
    gz = tmp_path / "t.jsonl.gz"
    write_transcript(gz, synthetic_transcript(get_scenario("normal-pass")))
    assert main(["decode", str(gz)]) == 2
    assert "gzip" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_bytes(b"just some text\n" * 100)
    assert main(["decode", str(text)]) == 0
    assert f"note: {text}: no bulk frame" in capsys.readouterr().err


def test_replay_exits_with_the_run_status(tmp_path: Path) -> None:
    for scenario, status in (("normal-pass", 0), ("guest-panic", 1)):
        path = tmp_path / f"{scenario}.jsonl"
        write_transcript(path, synthetic_transcript(get_scenario(scenario)))
        assert main(["replay", str(path)]) == status
        assert main(["report", str(path)]) == status


def test_safe_terminal_escapes_control_characters() -> None:
    assert escape_controls("a\x1b[2Jb\rc\td\n\x9b") == "a\\x1b[2Jb\\x0dc\td\n\\x9b"

    class Sink:
        text = ""

        def write(self, s: str) -> int:
            Sink.text += s
            return len(s)

    SafeTerminal(Sink()).write("\x07bell\n")  # type: ignore[arg-type]
    assert Sink.text == "\\x07bell\n"


def test_a_terminal_never_receives_control_characters_from_input(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.jsonl"
    t = Transcript(Header("\x1b]0;pwned\x07\x1b[2J"), [Mark(0.0, "x")])
    write_transcript(hostile, t)
    master, slave = os.openpty()
    proc = subprocess.Popen([*CLI, "validate", str(hostile)], stdout=slave, stderr=slave)
    os.close(slave)
    proc.wait(timeout=60)
    seen = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        seen += data
    os.close(master)
    assert b"pwned" in seen and b"\x1b" not in seen and b"\x07" not in seen


def test_progress_ticker_only_on_a_terminal(tmp_path: Path) -> None:
    source = tmp_path / "com1.log"
    source.write_bytes(b"line\n" * 10)
    out = tmp_path / "r.jsonl"
    proc = subprocess.run(
        [*CLI, "record", "--com1", f"file:{source}", "--out", str(out)],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0 and b"\r" not in proc.stderr and b" s] " not in proc.stderr


def test_kvm_stall_warning_with_a_silent_qemu(tmp_path: Path) -> None:
    fake = tmp_path / "qemu"  # stands in for a KVM guest that never gets going
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"")
    stalls: list[float] = []
    config = VmConfig(kernel=kernel, initramfs=b"", accel="kvm", qemu=fake, stall_warning_s=0.3)
    run = run_vm(
        config, check=False, on_stall=stalls.append, stop=lambda: "test" if stalls else None
    )
    assert len(stalls) == 1 and stalls[0] >= 0.3
    assert run.interrupted == "test"
    tcg: list[float] = []
    config = VmConfig(
        kernel=kernel, initramfs=b"", accel="tcg", qemu=fake, stall_warning_s=0.1, timeout_s=0.5
    )
    run = run_vm(config, check=False, on_stall=tcg.append)
    assert run.timed_out and tcg == []  # tcg is slow to boot by nature: no warning
