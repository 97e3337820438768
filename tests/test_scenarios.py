"""Every built-in life cycle: synthetic transcript -> run result == the expectation."""

from __future__ import annotations

from dataclasses import fields

import pytest

from ktstr_guest.scenarios import SCENARIOS, Expected, Scenario, get_scenario, synthetic_transcript
from ktstr_host.session.result import RunResult
from ktstr_host.session.result_builder import build_run_result
from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk


def check_expected(result: RunResult, expected: Expected) -> None:
    for f in fields(Expected):
        want = getattr(expected, f.name)
        if f.name == "has_dump":
            assert (result.sched_ext_dump is not None) == want, f.name
        elif f.name == "stdout_contains":
            assert want in result.stdout, f.name
        elif f.name == "status":
            assert result.status.value == want, result.reasons
        elif f.name == "reason":
            assert result.reasons == ([want] if want is not None else []), f.name
        elif f.name == "killed":
            assert result.host_killed == want, f.name
        elif f.name == "wprof_frames":
            sources = result.provenance.get("wprof", [])
            assert sum(len(src.offsets) for src in sources) == want, f.name
        else:
            assert getattr(result, f.name) == want, f.name


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_gives_its_expected_result(name: str) -> None:
    scenario = get_scenario(name)
    result = build_run_result(synthetic_transcript(scenario))
    check_expected(result, scenario.expected)
    assert result.anomalies == []


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_synthetic_timing_is_plausible(name: str) -> None:
    t = synthetic_transcript(get_scenario(name))
    times = [e.t for e in t.events]
    assert times == sorted(times) and times[0] >= 1.0  # nothing before the kernel booted
    assert t.mark("vm-exit") is not None


def test_serial_writes_get_crlf_on_the_wire() -> None:
    scenario = get_scenario("guest-panic")
    t = synthetic_transcript(scenario)
    com2 = t.channel_bytes("com2")
    assert com2.startswith(b"PANIC: panicked at src/scenario/ops/mod.rs:812:14:\r\n")
    assert b"\n" not in com2.replace(b"\r\n", b"")


def test_wake_byte_precedes_the_dump() -> None:
    t = synthetic_transcript(get_scenario("dump-on-request"))
    kinds = [(c.channel, c.direction) for c in t.chunks]
    wake = kinds.index(("hvc0", "h2g"))
    first_dump = next(i for i, c in enumerate(t.chunks) if c.channel == "com1")
    assert wake < first_dump
    assert t.chunks[wake] == Chunk(t.chunks[wake].t, "hvc0", "h2g", b"\xd1")


def test_snapshot_reply_follows_the_request() -> None:
    t = synthetic_transcript(get_scenario("snapshot-rpc"))
    bulk = [c for c in t.chunks if c.channel == "bulk"]
    i = next(i for i, c in enumerate(bulk) if c.direction == "h2g")
    assert bulk[i - 1].data[:4] == b"QRNS" and bulk[i].data[:4] == b"PRNS"


def test_unknown_scenario() -> None:
    with pytest.raises(UsageError, match="unknown scenario 'nope'"):
        get_scenario("nope")


def test_every_scenario_is_a_scenario() -> None:
    assert all(isinstance(make(), Scenario) for make in SCENARIOS.values())
    assert len(SCENARIOS) >= 12
