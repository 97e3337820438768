"""The pytest plugin: marker, fixtures and record modes (run in pytester sandboxes)."""

from __future__ import annotations

import shutil
import socket
import threading
from pathlib import Path

import pytest

from ktstr_guest.scenarios import get_scenario, synthetic_transcript
from ktstr_host.transcripts.io import read_transcript

from . import vm_support

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


def test_incomplete_replay_is_one_failure(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile("""
import pytest

@pytest.mark.ktstr_transcript("rec.jsonl")
def test_host(ktstr_replay):
    assert ktstr_replay.read("bulk", 16, timeout=0)
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ReplayIncomplete*recorded host bytes never written on hvc0*"])


def test_a_failing_body_is_reported_alone(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile("""
import pytest

@pytest.mark.ktstr_transcript("rec.jsonl")
def test_host(ktstr_replay):
    assert ktstr_replay.read("bulk", 4, timeout=0) == b"nope"
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert "ReplayIncomplete" not in result.stdout.str()
    assert "replay incomplete" not in result.stdout.str()


def test_complete_false_skips_the_check(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile("""
import pytest

@pytest.mark.ktstr_transcript("rec.jsonl", complete=False)
def test_host(ktstr_replay):
    assert ktstr_replay.read("bulk", 4, timeout=0) == b"RDAK"
""")
    pytester.runpytest().assert_outcomes(passed=1)


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
    result.stdout.fnmatch_lines(
        [
            "*ReplayMismatch*hvc0*offset 0*",
            "*rejected by match_on rule 'bytes'; first difference at offset 0:",
            "*recording (1 bytes at offset 0):",
            "*00000000  d1 *|.               |",
            "*          ^^ *^",
            "*host wrote (1 bytes at offset 0):",
            "*00000000  d3 *|.               |",
        ]
    )


# ---- default paths ---------------------------------------------------------------------

SYNTH_TEST = """
import pytest

@pytest.mark.ktstr_transcript(record="synthetic:guest-panic", complete=False)
def test_host(ktstr_replay):
    assert b"PANIC: " in ktstr_replay.read("com2", 7, timeout=0)
"""


def test_done_when_once_records_then_none_replays(pytester: pytest.Pytester) -> None:
    """The issue's "done when": record with once, replay with the default mode."""
    pytester.makepyfile(test_user=SYNTH_TEST)
    pytester.runpytest("--ktstr-record-mode=once").assert_outcomes(passed=1)
    path = pytester.path / "transcripts" / "test_user" / "test_host.jsonl"
    written = read_transcript(path)
    expected = synthetic_transcript(get_scenario("guest-panic"))
    assert written.header.meta["scenario"] == "guest-panic"
    assert written.chunks == expected.chunks
    path.write_bytes(FIXTURE.read_bytes())  # a replay must now see this file, not a fresh one
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)  # dump-on-request has no panic on COM2
    assert path.read_bytes() == FIXTURE.read_bytes()


def test_rewrite_rerecords_and_leaves_replay_only_tests_passing(
    pytester: pytest.Pytester,
) -> None:
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile(
        test_a=SYNTH_TEST,
        test_b="""
import pytest

@pytest.mark.ktstr_transcript("rec.jsonl", complete=False)
def test_replay_only(ktstr_replay):
    assert ktstr_replay.read("bulk", 4, timeout=0) == b"RDAK"
""",
    )
    stale = pytester.path / "transcripts" / "test_a" / "test_host.jsonl"
    stale.parent.mkdir(parents=True)
    shutil.copy(FIXTURE, stale)
    for flag in ("--ktstr-record-mode=rewrite", "--ktstr-record-mode=all", "--record-mode=all"):
        shutil.copy(FIXTURE, stale)
        pytester.runpytest(flag).assert_outcomes(passed=2)
        assert read_transcript(stale).header.meta["scenario"] == "guest-panic"
    assert (pytester.path / "rec.jsonl").read_bytes() == FIXTURE.read_bytes()


def test_once_without_a_recorder_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest

@pytest.mark.ktstr_transcript
def test_host(ktstr_replay):
    pass
""")
    result = pytester.runpytest("--record-mode=once")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_host.jsonl is missing*give the marker record=*"])


def test_parametrised_ids_become_safe_file_names(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_p="""
import pytest

@pytest.mark.parametrize("x", ["a/b", "../c", "d e"])
@pytest.mark.ktstr_transcript(record="synthetic:normal-pass", complete=False)
def test_host(x, ktstr_replay):
    pass
"""
    )
    pytester.runpytest("--ktstr-record-mode=once").assert_outcomes(passed=3)
    names = sorted(p.name for p in (pytester.path / "transcripts" / "test_p").iterdir())
    assert names == ["test_host[.._c].jsonl", "test_host[a_b].jsonl", "test_host[d_e].jsonl"]


def test_colliding_default_names_fail_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_c="""
import pytest

@pytest.mark.parametrize("x", ["a/b", "a_b"])
@pytest.mark.ktstr_transcript(record="synthetic:normal-pass", complete=False)
def test_host(x, ktstr_replay):
    pass
"""
    )
    result = pytester.runpytest("--ktstr-record-mode=once")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*both default to transcript*test_host?a_b?.jsonl; give one of them a path"]
    )


def test_ini_moves_the_transcript_root(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nktstr_transcript_dir = recs/here\n")
    sub = pytester.mkpydir("pkg")
    (sub / "test_m.py").write_text(SYNTH_TEST)
    pytester.runpytest("--ktstr-record-mode=once").assert_outcomes(passed=1)
    assert (pytester.path / "recs" / "here" / "test_m" / "test_host.jsonl").is_file()
    assert not (sub / "transcripts").exists()


# ---- --record-mode and pytest-recording ------------------------------------------------

FAKE_PYTEST_RECORDING = """
def pytest_addoption(parser):
    parser.addoption("--record-mode", choices=["once", "new_episodes", "none", "all", "rewrite"])
"""


def test_record_mode_is_left_to_pytest_recording(pytester: pytest.Pytester) -> None:
    """A stand-in pytest_recording package owning --record-mode: no clash, and ktstr
    then takes its mode only from --ktstr-record-mode."""
    pkg = pytester.mkpydir("pytest_recording")
    (pkg / "plugin.py").write_text(FAKE_PYTEST_RECORDING)
    pytester.syspathinsert()
    pytester.makepyfile(test_user=SYNTH_TEST)
    plugin = ("-p", "pytest_recording.plugin")
    result = pytester.runpytest(*plugin, "--record-mode=new_episodes")
    result.assert_outcomes(errors=1)  # ktstr stayed in mode none
    result.stdout.fnmatch_lines(["*record mode 'none'*"])
    pytester.runpytest(*plugin, "--ktstr-record-mode=once").assert_outcomes(passed=1)


def test_record_mode_alias_without_pytest_recording(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=SYNTH_TEST)
    result = pytester.runpytest("--record-mode=new_episodes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--record-mode*invalid choice*new_episodes*"])
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)


# ---- marker arguments, recorders, filters ------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("record='bogus:x'", "*record='bogus:x': expected 'synthetic:SCENARIO'*"),
        ("record='synthetic:no-such'", "*unknown scenario 'no-such'*"),
        ("record='synthetic:guest-panic', kernel='/k'", "*does not take kernel=*"),
        ("recrod='synthetic:guest-panic'", "*unknown argument(s) recrod*"),
        ("match_on='content'", "*match_on: unknown rule 'content'*"),
        ("record_mode='sometimes'", "*record_mode must be one of none, once, rewrite, all*"),
        ("record='live:com1'", "*live: expected CHANNEL=SOURCE, got 'com1'*"),
        ("timeout=3", "*timeout only apply with record=*"),
    ],
)
def test_bad_marker_arguments_fail_in_one_line(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(f"""
import pytest

@pytest.mark.ktstr_transcript({marker})
def test_host(ktstr_replay):
    pass
""")
    result = pytester.runpytest("--ktstr-record-mode=once")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()


def test_a_failing_recorder_leaves_no_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest

@pytest.mark.ktstr_transcript(record="live:com1=file:does-not-exist.log")
def test_host(ktstr_replay):
    pass
""")
    result = pytester.runpytest("--ktstr-record-mode=once")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*recording *test_host.jsonl failed: *does-not-exist.log*"])
    assert not list(pytester.path.rglob("*.jsonl"))


def test_a_write_that_fails_midway_keeps_the_old_transcript(pytester: pytest.Pytester) -> None:
    """Atomic output: a chunk on a channel the header lacks fails the write after other
    lines went out; the previous transcript stays, no temporary file is left."""
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile("""
import pytest
from ktstr_proto.transcript import Chunk

def corrupt(t):
    t.events.append(Chunk(t.duration(), "nowhere", "g2h", b"x"))
    return t

@pytest.mark.ktstr_transcript("rec.jsonl", record="synthetic:guest-panic", before_record=corrupt)
def test_host(ktstr_replay):
    pass
""")
    result = pytester.runpytest("--ktstr-record-mode=rewrite")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*recording *rec.jsonl failed: *nowhere*"])
    assert (pytester.path / "rec.jsonl").read_bytes() == FIXTURE.read_bytes()
    assert sorted(p.name for p in pytester.path.iterdir() if "rec.jsonl" in p.name) == ["rec.jsonl"]


def test_live_records_a_loopback_socket(pytester: pytest.Pytester) -> None:
    """A TCP server on 127.0.0.1 plays a console; the recording holds every byte."""
    console = b"".join(b"[%8.6f] line %d\r\n" % (i / 10, i) for i in range(200))
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(console)

        feeder = threading.Thread(target=serve)
        feeder.start()
        pytester.makepyfile(f"""
import pytest

@pytest.mark.ktstr_transcript(record="live:com1=socket://127.0.0.1:{port}", timeout=30)
def test_host(ktstr_replay):
    assert ktstr_replay.read("com1", -1, timeout=None) == {console!r}
""")
        result = pytester.runpytest("--ktstr-record-mode=once")
        feeder.join()
    result.assert_outcomes(passed=1)
    written = read_transcript(
        pytester.path / "transcripts" / "test_live_records_a_loopback_socket" / "test_host.jsonl"
    )
    assert written.channel_bytes("com1") == console
    assert written.header.recorder["inputs"] == {"com1": f"socket://127.0.0.1:{port}"}


def test_filters_apply_before_the_file_is_written(pytester: pytest.Pytester) -> None:
    (pytester.path / "c.log").write_text("user alice at host-7\n")
    pytester.makepyfile("""
import pytest

def keep_com1_only(t):
    t.header.meta["filtered"] = True
    return t

@pytest.mark.ktstr_transcript(
    record="live:com1=file:c.log com2=file:c.log",
    drop_channels="com2",
    redact=[r"alice", r"host-\\d+"],
    before_record=keep_com1_only,
)
def test_host(ktstr_replay):
    assert ktstr_replay.read("com1", -1, timeout=None) == b"user <redacted> at <redacted>\\n"
""")
    pytester.runpytest("--ktstr-record-mode=once").assert_outcomes(passed=1)
    path = next((pytester.path / "transcripts").rglob("*.jsonl"))
    written = read_transcript(path)
    assert list(written.header.channels) == ["bulk", "com1", "hvc0", "stats"]
    assert written.header.meta == {"filtered": True}
    assert b"alice" not in path.read_bytes()


def test_before_record_must_return_a_transcript(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest

@pytest.mark.ktstr_transcript(record="synthetic:normal-pass", before_record=lambda t: None)
def test_host(ktstr_replay):
    pass
""")
    result = pytester.runpytest("--ktstr-record-mode=once")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*before_record must return a Transcript, got NoneType*"])
    assert not list(pytester.path.rglob("*.jsonl"))


def test_match_on_length_and_callables(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURE, pytester.path / "rec.jsonl")
    pytester.makepyfile("""
import pytest

def only_d3(channel, recorded, written):
    return written == b"\\xd3"

@pytest.mark.ktstr_transcript("rec.jsonl", match_on="length", complete=False)
def test_length(ktstr_replay):
    ktstr_replay.write("hvc0", b"\\x00")
    assert b"SysRq-D" in ktstr_replay.read("com1", -1, timeout=None)

@pytest.mark.ktstr_transcript("rec.jsonl", match_on="length", complete=False)
def test_length_too_long(ktstr_replay):
    ktstr_replay.write("hvc0", b"\\xd1\\xd1")

@pytest.mark.ktstr_transcript("rec.jsonl", match_on=["length", only_d3], complete=False)
def test_callable_accepts(ktstr_replay):
    ktstr_replay.write("hvc0", b"\\xd3")

@pytest.mark.ktstr_transcript("rec.jsonl", match_on=[only_d3], complete=False)
def test_callable_rejects(ktstr_replay):
    ktstr_replay.write("hvc0", b"\\xd1")
""")
    result = pytester.runpytest("-rf")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*rejected by match_on rule 'length'; first difference at offset 1:*",
            "*rejected by match_on rule 'only_d3'; first difference at offset 0:*",
        ]
    )


@pytest.mark.vm
def test_vm_recorder_boots_qemu(pytester: pytest.Pytester) -> None:
    """One real VM run: record="vm:..." under TCG, then the default mode replays it."""
    vm_support.vm_env()
    pytester.makepyfile(
        test_vm="""
import pytest

@pytest.mark.ktstr_transcript(record="vm:guest-panic", accel="tcg", timeout=60, complete=False)
def test_host(ktstr_replay):
    assert ktstr_replay.header.recorder["source"] == "qemu"
    assert b"PANIC: panicked at" in ktstr_replay.read("com2", 18, timeout=None)
"""
    )
    pytester.runpytest("--ktstr-record-mode=once").assert_outcomes(passed=1)
    path = pytester.path / "transcripts" / "test_vm" / "test_host.jsonl"
    written = read_transcript(path)
    assert written.header.meta["scenario"] == "guest-panic"
    exit_mark = written.mark("vm-exit")
    assert exit_mark is not None and exit_mark.data["timed_out"] is False
    pytester.runpytest().assert_outcomes(passed=1)


def test_run_result_fixture_gives_upstreams_verdict(pytester: pytest.Pytester) -> None:
    """``ktstr_run_result``: the transcript's result, as ``ktstr-host report`` gives it
    (guest-panic: no result, the COM2 crash line decides)."""
    pytester.makepyfile(
        """
import pytest

@pytest.mark.ktstr_transcript(record="synthetic:guest-panic", complete=False)
def test_host(ktstr_run_result):
    assert ktstr_run_result.status.value == "fail"
    assert ktstr_run_result.reasons == [
        "guest crashed:\\npanicked at src/scenario/ops/mod.rs:812:14:"
    ]
"""
    )
    pytester.runpytest("--ktstr-record-mode=once").assert_outcomes(passed=1)
