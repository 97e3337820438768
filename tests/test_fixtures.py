"""Golden fixtures: synthetic, QEMU-recorded and real-sched_ext-kernel transcripts, their
run results, and record -> replay (through pyserial) -> report round trips."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import serial

import ktstr_host  # noqa: F401  (registers ktstrreplay://)
from ktstr_host.cli import main
from ktstr_host.session.result_builder import build_run_result
from ktstr_host.transcripts.io import read_transcript
from ktstr_proto.transcript import DIRECTIONS, Chunk, Header, Mark, Transcript

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
TRANSCRIPTS = [
    path
    for folder in ("synthetic", "qemu", "scx-kernel")
    for path in sorted((FIXTURES / folder).glob("*.jsonl"))
]
IDS = [f"{p.parent.name}/{p.stem}" for p in TRANSCRIPTS]


def golden(path: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads(path.with_suffix(".result.json").read_text())
    return doc


def test_fixtures_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(FIXTURES / "make_fixtures.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_qemu_fixtures_are_real_recordings() -> None:
    names = {p.stem for p in (FIXTURES / "qemu").glob("*.jsonl")}
    assert {"normal-pass", "scheduler-crash-with-dump", "guest-panic", "dump-on-request"} <= names
    for name in names:
        header = read_transcript(FIXTURES / "qemu" / f"{name}.jsonl").header
        assert header.recorder["source"] == "qemu"
        assert header.meta["kernel"] and "qemu-system-x86_64" in header.meta["qemu_command"]


def test_verbose_kernel_fixture_reads_the_kernel_version() -> None:
    """``extract_kernel_version``: the token after ``Linux version `` in the kernel's
    banner on COM1 (printed when the kernel boots without ``loglevel=0``); it must name
    the kernel the recorder booted (the header's ``kernel``, from its file name)."""
    t = read_transcript(FIXTURES / "qemu" / "normal-pass-verbose-kernel.jsonl")
    assert "loglevel=0" not in t.header.meta["qemu_command"]
    result = build_run_result(t)
    assert result.kernel_version == t.header.meta["kernel"]
    assert b"Linux version " + str(t.header.meta["kernel"]).encode() in t.channel_bytes("com1")
    assert result.status.value == "pass"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_report_equals_golden(path: Path) -> None:
    assert build_run_result(read_transcript(path)).to_json() == golden(path)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_cli_report_json_and_status(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["report", "--json", str(path)])
    doc = json.loads(capsys.readouterr().out)
    assert doc == golden(path)
    assert status == (1 if doc["status"] == "fail" else 0)


def replay_through_pyserial(path: Path) -> Transcript:
    """Act as the host: read every channel through ktstrreplay:// ports until the
    recording is over, writing the recorded host bytes when the guest waits for them,
    and record what was read into a new transcript."""
    original = read_transcript(path)
    session = f"fixture-{path.parent.name}-{path.stem}"
    ports = {
        ch: serial.serial_for_url(
            f"ktstrreplay://{path}?channel={ch}&session={session}", timeout=0.05
        )
        for ch in original.header.channels
    }
    replayer = ports["bulk"].replayer  # type: ignore[attr-defined]
    events: list[Chunk] = []
    lock = threading.Lock()

    def reader(channel: str) -> None:
        port = ports[channel]
        while True:
            data = port.read(65536)
            if data:
                with lock:
                    events.append(Chunk(0.0, channel, "g2h", data))
            elif replayer.done and port.in_waiting == 0:
                return

    threads = [threading.Thread(target=reader, args=(ch,)) for ch in ports]
    for th in threads:
        th.start()
    while not replayer.done:
        gate = replayer.waiting_for_host
        if gate is not None:
            with lock:
                events.append(Chunk(0.0, gate.channel, "h2g", gate.data))
            ports[gate.channel].write(gate.data)
    for th in threads:
        th.join(30)
    replayer.finish()
    for port in ports.values():
        port.close()
    chunks: list[Chunk | Mark] = [
        Chunk(0.0, c.channel, c.direction, c.data) for c in events if isinstance(c, Chunk)
    ]
    chunks.extend(original.marks)
    return Transcript(Header(original.header.profile, original.header.channels), chunks)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_replay_through_pyserial_then_report_equals_golden(path: Path) -> None:
    replayed = replay_through_pyserial(path)
    original = read_transcript(path)
    for ch in original.header.channels:
        for direction in DIRECTIONS:
            assert replayed.channel_bytes(ch, direction) == original.channel_bytes(ch, direction)
    assert build_run_result(replayed).to_json() == golden(path)
