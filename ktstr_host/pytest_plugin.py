"""pytest plugin: replay a recorded ktstr guest into host code under test.

Mark a test with the transcript it replays and take the ``ktstr_replay`` fixture (a
:class:`~ktstr_host.replay.Replayer`) or ``ktstr_replay_url`` (pyserial URLs sharing it)::

    @pytest.mark.ktstr_transcript("recordings/crash.jsonl", record=record_crash)
    def test_host_reports_crash(ktstr_replay_url):
        com1 = serial.serial_for_url(ktstr_replay_url("com1"), timeout=1)
        ...

Record modes, in the spirit of vcrpy (``--ktstr-record-mode``, the ``ktstr_record_mode``
ini option, or ``record_mode=`` on the marker; the marker wins):

* ``none`` (default, and what CI should use): replay only; a missing transcript fails;
* ``once``: record with the marker's ``record`` callable when the file is missing;
* ``rewrite``: always record anew, then replay.

At teardown the replay must be complete (every recorded byte consumed, every recorded
host write made) unless the marker says ``complete=False``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ktstr_proto.transcript import Transcript

from .replay import Replayer
from .transcript_io import write_transcript
from .urlhandler.protocol_ktstrreplay import register_session, release

RECORD_MODES = ("none", "once", "rewrite")
_session_ids = itertools.count(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ktstr", "ktstr transcript replay")
    group.addoption(
        "--ktstr-record-mode",
        choices=RECORD_MODES,
        default=None,
        help="record mode for @pytest.mark.ktstr_transcript tests (default: none)",
    )
    parser.addini("ktstr_record_mode", "default record mode (none, once, rewrite)", default="none")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ktstr_transcript(path, record=None, record_mode=None, strict=True, speed=None, "
        "complete=True): replay a recorded ktstr guest (ktstr_replay fixture)",
    )


def _mode(request: pytest.FixtureRequest, marker: pytest.Mark) -> str:
    mode = marker.kwargs.get("record_mode") or request.config.getoption("--ktstr-record-mode")
    mode = mode or request.config.getini("ktstr_record_mode") or "none"
    if mode not in RECORD_MODES:
        raise pytest.UsageError(f"ktstr record mode must be one of {RECORD_MODES}, got {mode!r}")
    return str(mode)


def _path(request: pytest.FixtureRequest, marker: pytest.Mark) -> Path:
    if not marker.args:
        raise pytest.UsageError("@pytest.mark.ktstr_transcript needs the transcript path")
    path = Path(marker.args[0])
    return path if path.is_absolute() else Path(request.node.path).parent / path


@pytest.fixture
def ktstr_replay(request: pytest.FixtureRequest) -> Iterator[Replayer]:
    """The replayer of the test's ``ktstr_transcript`` marker (recorded first if the
    record mode says so); completeness is checked at teardown."""
    marker = request.node.get_closest_marker("ktstr_transcript")
    if marker is None:
        raise pytest.UsageError("ktstr_replay needs @pytest.mark.ktstr_transcript(path)")
    path = _path(request, marker)
    mode = _mode(request, marker)
    record: Callable[[], Transcript] | None = marker.kwargs.get("record")
    if mode == "rewrite" or (mode == "once" and not path.exists()):
        if record is None:
            pytest.fail(f"record mode {mode!r} needs record=<callable returning a Transcript>")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_transcript(path, record())
    if not path.exists():
        pytest.fail(
            f"transcript {path} is missing (record mode 'none'); "
            "record it with --ktstr-record-mode=once"
        )
    replayer = Replayer(
        path, strict=marker.kwargs.get("strict", True), speed=marker.kwargs.get("speed")
    )
    yield replayer
    if marker.kwargs.get("complete", True):
        replayer.finish()


@pytest.fixture
def ktstr_replay_url(ktstr_replay: Replayer) -> Iterator[Callable[[str], str]]:
    """``url(channel)``: a ``ktstrreplay://`` URL whose ports share ``ktstr_replay``."""
    name = f"pytest-{next(_session_ids)}"
    register_session(name, ktstr_replay)

    def url(channel: str, **options: Any) -> str:
        extra = "".join(f"&{k}={v}" for k, v in options.items())
        return f"ktstrreplay://ktstr-session?channel={channel}&session={name}{extra}"

    yield url
    release(name)
