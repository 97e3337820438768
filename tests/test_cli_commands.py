"""CLI: report (transcripts and raw captures), validate, replay, import, record, synth."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ktstr_guest.scenarios import get_scenario, synthetic_transcript
from ktstr_host.cli import main
from ktstr_host.transcripts.io import read_transcript, write_transcript

ROOT = Path(__file__).resolve().parent.parent
SYNTH = ROOT / "fixtures" / "synthetic"


@pytest.fixture
def raw_captures(tmp_path: Path) -> dict[str, Path]:
    t = synthetic_transcript(get_scenario("guest-panic"))
    out = {}
    for ch in ("bulk", "com1", "com2"):
        out[ch] = tmp_path / f"{ch}.raw"
        out[ch].write_bytes(t.channel_bytes(ch))
    return out


def test_report_from_raw_captures(
    raw_captures: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", "--json"] + [x for ch, p in raw_captures.items() for x in (f"--{ch}", str(p))]
    assert main(argv) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["crash_message"] == "panicked at src/scenario/ops/mod.rs:812:14:"
    assert doc["stage"] == "payload started but produced no test result"


def test_report_human_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(SYNTH / "normal-pass.jsonl")]) == 0
    assert capsys.readouterr().out.startswith("ktstr run PASSED")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report"], "nothing to report"),
        (["report", "x.jsonl", "--bulk", "y"], "either a transcript or raw captures"),
        (["report", "--bulk", "/nonexistent"], "no such file"),
        (["report", "/nonexistent.jsonl"], "no such file"),
        (["report", str(SYNTH / "normal-pass.jsonl"), "--profile", "zz"], "unknown profile"),
        (["validate", str(ROOT / "README.md")], "line 1: invalid JSON"),
        (["replay", str(SYNTH / "normal-pass.jsonl"), "--speed", "0"], "--speed must be positive"),
        (["synth", "nope", "--out", "x"], "unknown scenario 'nope'"),
        (["import", "--out", "x.jsonl"], "no channel given"),
        (["vm", "run", "snapshot-rpc"], "synthetic only"),
    ],
)
def test_unusable_input_is_one_line_and_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_validate_summarises(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SYNTH / "dump-on-request.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "valid ktstr transcript v1, profile ktstr-0.15" in out
    assert "hvc0   h2g        1 chunks             1 bytes" in out


def test_replay_prints_decoded_events(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(SYNTH / "scheduler-crash-with-dump.jsonl"), "--no-lines"]) == 1
    out = capsys.readouterr().out
    assert "** sched_ext dump starts" in out and "** sched_ext dump complete" in out
    assert "SCDX" in out and out.rstrip().endswith(
        "replay complete; run FAIL: scheduler exited: scx_bpf_error (invalid DSQ ID 0x42)"
    )


def test_import_then_report(raw_captures: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "imported.jsonl.gz"
    argv = ["import", "--out", str(out)] + [
        x for ch, p in raw_captures.items() for x in (f"--{ch}", str(p))
    ]
    assert main(argv) == 0
    t = read_transcript(out)
    assert t.header.recorder["source"] == "import"
    assert t.channel_bytes("com2") == raw_captures["com2"].read_bytes()


def test_synth_writes_the_fixture(tmp_path: Path) -> None:
    out = tmp_path / "np.jsonl"
    assert main(["synth", "normal-pass", "--out", str(out)]) == 0
    assert out.read_bytes() == (SYNTH / "normal-pass.jsonl").read_bytes()


def test_record_cli_over_a_socket_until_eof(tmp_path: Path) -> None:
    t = synthetic_transcript(get_scenario("scheduler-crash-with-dump"))
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def guest() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(t.channel_bytes("com1"))

    th = threading.Thread(target=guest)
    th.start()
    out = tmp_path / "rec.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ktstr_host.cli",
            "record",
            "--com1",
            f"socket://127.0.0.1:{port}",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    th.join()
    server.close()
    assert proc.returncode == 0, proc.stderr
    assert "** sched_ext dump complete" in proc.stdout
    assert read_transcript(out).channel_bytes("com1") == t.channel_bytes("com1")


def test_write_then_validate_gz(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl.gz"
    write_transcript(out, synthetic_transcript(get_scenario("legacy-0.4.9")))
    assert main(["validate", str(out)]) == 0


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_record_cli_stops_cleanly_on_stop_signals(tmp_path: Path, signame: str) -> None:
    import signal

    sig = signal.Signals[signame]
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    done = threading.Event()

    def guest() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"PANIC: fatal signal SIGSEGV at addr 0x0000000000000010\r\n")
            done.wait(60)  # the guest stays connected: only a signal ends the recording

    th = threading.Thread(target=guest)
    th.start()
    out = tmp_path / "sig.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ktstr_host.cli",
            "record",
            "--com2",
            f"socket://127.0.0.1:{port}",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the recorder has seen the line
        if "fatal signal" in line:
            break
    proc.send_signal(sig)
    rest, err = proc.communicate(timeout=30)
    done.set()
    th.join()
    server.close()
    assert proc.returncode == 128 + sig, err
    assert "recorded 56 bytes" in rest
    assert "Traceback" not in err
    assert main(["validate", "--strict", str(out)]) == 0
    t = read_transcript(out)
    assert t.channel_bytes("com2").startswith(b"PANIC: fatal signal SIGSEGV")
    mark = t.mark("interrupted")
    assert mark is not None and mark.data == {"signal": signame}
    assert not list(tmp_path.glob(".*.part"))


def test_readme_api_sketch_runs() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("## API sketch", 1)[1].split("\n## ", 1)[0]
    blocks = [part.split("```", 1)[0] for part in section.split("```python\n")[1:]]
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
