"""The pytest plugin: marker, fixtures and record modes (run in pytester sandboxes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FIXTURE = (
    Path(__file__).resolve().parent.parent / "fixtures" / "synthetic" / "dump-on-request.jsonl"
)

TEST_BODY = """
import pytest, serial
from ktstr_guest.scenarios import get_scenario, synthetic_transcript

def record():
    (Path := __import__("pathlib").Path)("recorded.flag").write_text("yes")
    return synthetic_transcript(get_scenario("dump-on-request"))

@pytest.mark.ktstr_transcript("rec.jsonl", record=record)
def test_host(ktstr_replay_url):
    com1 = serial.serial_for_url(ktstr_replay_url("com1"), timeout=0)
    hvc0 = serial.serial_for_url(ktstr_replay_url("hvc0"))
    bulk = serial.serial_for_url(ktstr_replay_url("bulk"), timeout=None)
    assert com1.read(100) == b""          # the dump waits for the host
    hvc0.write(b"\\xd1")
    assert b"Debug dump triggered by SysRq-D" in com1.read(100000)
    assert len(bulk.read(10**6)) > 300
"""


def test_replays_an_existing_transcript(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile(TEST_BODY)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not (pytester.path / "recorded.flag").exists()


def test_mode_none_fails_on_a_missing_transcript(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST_BODY)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*rec.jsonl is missing (record mode 'none')*"])


def test_mode_once_records_when_missing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST_BODY)
    pytester.runpytest("--ktstr-record-mode=once").assert_outcomes(passed=1)
    assert (pytester.path / "rec.jsonl").exists()
    assert (pytester.path / "recorded.flag").exists()


def test_mode_rewrite_always_records(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile(TEST_BODY)
    pytester.runpytest("--ktstr-record-mode=rewrite").assert_outcomes(passed=1)
    assert (pytester.path / "recorded.flag").exists()


def test_incomplete_replay_fails_at_teardown(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile("""
import pytest

@pytest.mark.ktstr_transcript("rec.jsonl")
def test_host(ktstr_replay):
    assert ktstr_replay.read("bulk", 16, timeout=0)
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ReplayIncomplete*recorded host bytes never written on hvc0*"])


def test_strict_mismatch_fails_the_test(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile("""
import pytest

@pytest.mark.ktstr_transcript("rec.jsonl", complete=False)
def test_host(ktstr_replay):
    ktstr_replay.write("hvc0", b"\\xd3")
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ReplayMismatch*hvc0*offset 0*"])
