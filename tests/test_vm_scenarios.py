"""Scenarios booted under QEMU through the real kernel drivers (marker ``vm``).

Each run must decode to the scenario's expected result, carry exactly the bulk bytes the
guest wrote (every frame intact, in order) and the same console bytes as the synthetic
transcript (the real tty doing LF -> CR LF), and replay to the same result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from ktstr_guest.initramfs import OnWake, Step, Write
from ktstr_guest.scenarios import get_scenario, synthetic_transcript
from ktstr_host.cli import main
from ktstr_host.decode.bulk import BulkDecoder
from ktstr_host.decode.events import Frame
from ktstr_host.session.result_builder import build_run_result
from ktstr_host.transcripts.replay import Replayer
from ktstr_host.vm.record import record_scenario
from ktstr_proto.transcript import Chunk, Header, Transcript

from . import vm_support
from .test_scenarios import check_expected

pytestmark = pytest.mark.vm

VM_SCENARIOS = [
    "normal-pass",
    "scheduler-crash-with-dump",
    "guest-panic",
    "dump-on-request",
    "host-timeout",
    "native-fault",
    "scheduler-died-at-startup",
    "initramfs-truncated",
    "legacy-0.4.9",
    "legacy-guest-panic",
    "legacy-scheduler-crash-with-dump",
]


@pytest.fixture(scope="module")
def env() -> vm_support.VmEnv:
    return vm_support.vm_env()


def bulk_writes(steps: Sequence[Step]) -> list[bytes]:
    """The guest's bulk writes in script order (background handlers included)."""
    out: list[bytes] = []
    for step in steps:
        if isinstance(step, Write) and step.channel == "bulk":
            out.append(step.data)
        elif isinstance(step, OnWake):
            out += bulk_writes(step.steps)
    return out


@pytest.mark.parametrize("name", VM_SCENARIOS)
def test_scenario_under_qemu(env: vm_support.VmEnv, name: str) -> None:
    scenario = get_scenario(name)
    rec = record_scenario(scenario, kernel=env.kernel)
    t = rec.transcript
    print(
        f"\n{name}: boot to first bulk byte {rec.run.boot_to_first_bulk_s} s, "
        f"total {rec.run.total_s:.2f} s"
    )
    result = build_run_result(t)
    check_expected(result, scenario.expected)
    assert result.anomalies == []
    # every bulk byte the guest wrote arrived, in order, and every frame checks out
    assert t.channel_bytes("bulk") == b"".join(bulk_writes(scenario.script.steps))
    frames = BulkDecoder().feed(t.channel_bytes("bulk"))
    assert all(isinstance(f, Frame) and f.crc_ok for f in frames)
    synthetic = synthetic_transcript(scenario)
    for ch in ("bulk", "com1", "com2"):
        assert t.channel_bytes(ch) == synthetic.channel_bytes(ch), ch
    replayed = Replayer(t)
    chunks = list(replayed.stream())
    assert replayed.finish().complete
    again = Transcript(Header(t.header.profile), [*chunks, *t.marks])
    assert build_run_result(again).to_json() == result.to_json()


def test_guest_dying_mid_frame_is_a_reported_anomaly(env: vm_support.VmEnv) -> None:
    from ktstr_guest.initramfs import DieMidFrame, GuestScript
    from ktstr_guest.scenarios import Expected, Scenario
    from ktstr_proto.frame import build_frame
    from ktstr_proto.tags import MsgType

    frame = build_frame(MsgType.STDOUT, b"x" * 100)
    scenario = Scenario(
        "die-mid-frame",
        "dies mid-frame",
        "ktstr-0.15",
        GuestScript((Write("bulk", build_frame(MsgType.SYS_RDY, b"")), DieMidFrame(frame, 40))),
        Expected("fail"),
    )
    t = record_scenario(scenario, kernel=env.kernel).transcript
    result = build_run_result(t)
    assert t.channel_bytes("bulk") == build_frame(MsgType.SYS_RDY, b"") + frame[:40]
    drops = [a for a in result.anomalies if a.kind == "dropped"]
    assert len(drops) == 1 and drops[0].offset == 16 and "40 bytes" in drops[0].detail


def test_cli_vm_run(
    env: vm_support.VmEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vm.jsonl"
    status = main(["vm", "run", "dump-on-request", "--out", str(out), "--json", "--quiet"])
    doc = json.loads(capsys.readouterr().out)
    assert status == 0 and doc["status"] == "pass" and doc["sched_ext_dump"]
    assert main(["report", str(out)]) == 0
    wake = [c for c in Replayer(out).transcript.chunks if c.direction == "h2g"]
    assert wake == [Chunk(wake[0].t, "hvc0", "h2g", b"\xd1")]


def test_cli_vm_run_request_dump_at(
    env: vm_support.VmEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guest's hvc0 poller answers a scheduled 0xD1 with a SysRq-D dump on COM1."""
    status = main(["vm", "run", "normal-pass", "--request-dump-at", "2", "--json", "--quiet"])
    doc = json.loads(capsys.readouterr().out)
    assert status == 0 and doc["status"] == "pass"
    assert doc["wake_bytes"] == ["0xd1"]
    assert "Debug dump triggered by SysRq-D" in doc["sched_ext_dump"] and doc["dump_complete"]
