"""The replayer: pyserial URLs, gating on host writes, strictness, pacing, completeness."""

from __future__ import annotations

from pathlib import Path

import pytest
import serial

import ktstr_host  # noqa: F401  (registers ktstrreplay://)
from ktstr_host.transcripts.io import Transcript, write_transcript
from ktstr_host.transcripts.replay import Replayer, ReplayIncomplete, ReplayMismatch
from ktstr_host.transcripts.urlhandler.protocol_ktstrreplay import Serial as ReplaySerial
from ktstr_host.transcripts.urlhandler.protocol_ktstrreplay import parse_url
from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Header, Mark


def replayer_of(port: serial.SerialBase) -> Replayer:
    assert isinstance(port, ReplaySerial)
    return port.replayer


def dump_on_request() -> Transcript:
    return Transcript(
        Header("ktstr-0.15"),
        [
            Chunk(0.0, "com1", "g2h", b"booted\r\n"),
            Chunk(0.5, "bulk", "g2h", b"\x01\x02"),
            Chunk(1.0, "hvc0", "h2g", b"\xd1"),
            Chunk(1.2, "com1", "g2h", b"sched_ext_dump: start\r\n"),
            Chunk(1.3, "com1", "g2h", b"SCX_EV_SUB_BYPASS_DISPATCH: 0\r\n"),
            Mark(2.0, "vm-exit", {"status": 0}),
        ],
    )


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "dump.jsonl"
    write_transcript(path, dump_on_request())
    return path


def test_pyserial_reads_and_wake_byte_releases_the_dump(recording: Path) -> None:
    com1 = serial.serial_for_url(f"ktstrreplay://{recording}?channel=com1", timeout=0)
    hvc0 = serial.serial_for_url(f"ktstrreplay://{recording}?channel=hvc0", timeout=0)
    bulk = serial.serial_for_url(f"ktstrreplay://{recording}?channel=bulk", timeout=0)
    try:
        assert com1.read(1000) == b"booted\r\n"
        assert com1.read(1000) == b""  # the dump waits for the host's 0xD1
        assert replayer_of(com1).waiting_for_host == Chunk(1.0, "hvc0", "h2g", b"\xd1")
        assert hvc0.write(b"\xd1") == 1
        assert com1.read(1000) == b"sched_ext_dump: start\r\nSCX_EV_SUB_BYPASS_DISPATCH: 0\r\n"
        assert bulk.in_waiting == 2 and bulk.read(2) == b"\x01\x02"
        assert replayer_of(com1).finish().complete
    finally:
        for port in (com1, hvc0, bulk):
            port.close()


def test_timeout_none_read_returns_at_end_of_recording(recording: Path) -> None:
    r = Replayer(recording)
    r.write("hvc0", b"\xd1")
    assert r.read("com1", 10_000, timeout=None).endswith(b"DISPATCH: 0\r\n")


def test_strict_mismatch_names_channel_offset_expected_and_got(recording: Path) -> None:
    r = Replayer(recording)
    with pytest.raises(ReplayMismatch) as info:
        r.write("hvc0", b"\xd3")
    err = info.value
    assert (err.channel, err.offset, err.expected, err.got) == ("hvc0", 0, b"\xd1", b"\xd3")
    assert "channel 'hvc0'" in str(err) and "offset 0" in str(err)


def test_lenient_mode_reports_extra_writes(recording: Path) -> None:
    r = Replayer(recording, strict=False)
    r.write("hvc0", b"\xd1\xd3")
    r.read("com1", -1)
    r.read("bulk", -1)
    report = r.report()
    assert report.extra_writes == {"hvc0": 1} and not report.complete


def test_completeness_lists_unread_and_unwritten(recording: Path) -> None:
    r = Replayer(recording)
    assert r.read("com1", -1) == b"booted\r\n"
    with pytest.raises(ReplayIncomplete) as info:
        r.finish()
    text = str(info.value)
    assert "2 unread guest bytes on bulk" in text
    assert "1 recorded host bytes never written on hvc0" in text
    assert "54 unread guest bytes on com1" in text


def test_realtime_pacing_with_a_fake_clock(recording: Path) -> None:
    now = [100.0]
    r = Replayer(recording, speed=2.0, clock=lambda: now[0])
    assert r.read("com1", -1, timeout=0) == b"booted\r\n"
    assert r.read("bulk", -1, timeout=0) == b""  # due at 0.5 / 2 = 0.25 s
    now[0] += 0.25
    assert r.read("bulk", -1, timeout=0) == b"\x01\x02"
    now[0] += 5.0  # the host answers 4.75 s late: later output shifts by as much
    r.write("hvc0", b"\xd1")
    assert r.read("com1", -1, timeout=0) == b""
    now[0] += 0.1  # (1.2 - 1.0) / 2
    assert r.read("com1", -1, timeout=0) == b"sched_ext_dump: start\r\n"


def test_stream_plays_everything_with_auto_reply(recording: Path) -> None:
    r = Replayer(recording)
    got = list(r.stream())
    assert [(c.channel, c.direction) for c in got] == [
        ("com1", "g2h"),
        ("bulk", "g2h"),
        ("hvc0", "h2g"),
        ("com1", "g2h"),
        ("com1", "g2h"),
    ]
    assert r.finish().complete


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ktstrreplay://x.jsonl", "missing ?channel=NAME"),
        ("ktstrreplay://x.jsonl?channel=com1&bogus=1", "unknown option(s) bogus"),
        ("ktstrreplay://x.jsonl?channel=com1&speed=fast", "speed must be a number"),
        ("ktstrreplay://x.jsonl?channel=com1&speed=-1", "speed must be positive"),
        ("ktstrreplay://?channel=com1", "no transcript path"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(
        serial.SerialException,
        match=message.replace("?", r"\?").replace("(", r"\(").replace(")", r"\)"),
    ):
        parse_url(url)


def test_missing_transcript_and_channel(recording: Path) -> None:
    with pytest.raises(serial.SerialException, match="not found"):
        serial.serial_for_url(f"ktstrreplay://{recording}.missing?channel=com1")
    with pytest.raises(serial.SerialException, match="has no channel 'com9'"):
        serial.serial_for_url(f"ktstrreplay://{recording}?channel=com9")


def test_url_options_are_parsed(recording: Path) -> None:
    spec = parse_url(f"ktstrreplay://{recording}?channel=hvc0&speed=0.5&strict=0&session=s1")
    assert (spec.path, spec.channel, spec.speed, spec.strict, spec.session) == (
        str(recording),
        "hvc0",
        0.5,
        False,
        "s1",
    )


def test_usage_errors() -> None:
    with pytest.raises(UsageError, match="speed must be positive"):
        Replayer(dump_on_request(), speed=0)
    with pytest.raises(UsageError, match="not in this transcript"):
        Replayer(dump_on_request()).read("com7")
