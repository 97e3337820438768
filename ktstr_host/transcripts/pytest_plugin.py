"""pytest plugin: record a ktstr guest once, replay it into host code under test.

Mark a test and take the ``ktstr_replay`` fixture (a :class:`~ktstr_host.transcripts.Replayer`)
or ``ktstr_replay_url`` (pyserial URLs sharing it)::

    @pytest.mark.ktstr_transcript(record="synthetic:guest-panic")
    def test_host_reports_panic(ktstr_replay_url):
        com2 = serial.serial_for_url(ktstr_replay_url("com2"), timeout=1)
        ...

The transcript defaults to ``<test dir>/transcripts/<module>/<test name>.jsonl``
(ini ``ktstr_transcript_dir`` moves the root). Record modes, as in vcrpy and
pytest-recording (``--ktstr-record-mode``, also ``--record-mode`` when pytest-recording
is not installed; ini ``ktstr_record_mode``; ``record_mode=`` on the marker wins):
``none`` (default: replay only), ``once`` (record when missing), ``rewrite`` / ``all``
(record anew when the marker has a recorder; replay-only tests still replay).

When the test body passed, the replay must also be complete (every recorded byte
consumed, every recorded host write made; ``complete=False`` turns that off): an
incomplete replay fails the test once; a body that already failed is reported alone.
``docs/pytest.md`` has a worked example of every option.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from ktstr_proto.errors import KtstrError

from ..session.result import RunResult
from ..session.result_builder import build_run_result
from .pytest_marker import (
    RECORD_MODES,
    MarkerOptions,
    default_path,
    marker_options,
    write_recording,
)
from .replay import Replayer
from .urlhandler.protocol_ktstrreplay import register_session, release

_session_ids = itertools.count(1)
_REPLAYER = pytest.StashKey[Replayer]()
_DEFAULT_PATHS = pytest.StashKey[dict[Path, str]]()
PYTEST_RECORDING = "pytest_recording"


def has_pytest_recording(pluginmanager: pytest.PytestPluginManager) -> bool:
    """Whether pytest-recording (which owns ``--record-mode``) is or will be loaded."""
    if pluginmanager.has_plugin("recording"):
        return True
    if pluginmanager.is_blocked("recording"):
        return False
    return importlib.util.find_spec(PYTEST_RECORDING) is not None


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("ktstr", "ktstr transcript record and replay")
    names = ["--ktstr-record-mode"]
    if not has_pytest_recording(pluginmanager):
        names.append("--record-mode")
    group.addoption(
        *names,
        dest="ktstr_record_mode",
        choices=RECORD_MODES,
        default=None,
        help="record mode for @pytest.mark.ktstr_transcript tests: none (default, replay "
        "only), once (record missing transcripts), rewrite or all (record anew)",
    )
    parser.addini("ktstr_record_mode", "default record mode (none, once, rewrite, all)")
    parser.addini(
        "ktstr_transcript_dir",
        "root of default transcript paths, relative to the ini file "
        "(default: transcripts/ beside each test file)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ktstr_transcript(path=None, *, record=None, record_mode=None, strict=True, "
        "speed=None, complete=True, match_on=('bytes',), before_record=None, "
        "drop_channels=(), redact=(), kernel=, accel=, timeout=, profile=): replay a "
        "recorded ktstr guest (ktstr_replay fixture); see docs/pytest.md",
    )
    config.stash[_DEFAULT_PATHS] = {}


def _fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


def _options(request: pytest.FixtureRequest) -> MarkerOptions:
    marker = request.node.get_closest_marker("ktstr_transcript")
    if marker is None:
        _fail("the ktstr fixtures need @pytest.mark.ktstr_transcript on the test")
    try:
        return marker_options(marker.args, dict(marker.kwargs))
    except KtstrError as exc:
        _fail(f"@pytest.mark.ktstr_transcript: {exc}")


def _mode(config: pytest.Config, options: MarkerOptions) -> str:
    mode = options.record_mode or config.getoption("ktstr_record_mode")
    mode = mode or config.getini("ktstr_record_mode") or "none"
    if mode not in RECORD_MODES:
        _fail(f"ktstr_record_mode must be one of {', '.join(RECORD_MODES)}, got {mode!r}")
    return str(mode)


def _transcript_root(config: pytest.Config) -> Path | None:
    value = config.getini("ktstr_transcript_dir")
    if not value:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return base / str(value)


def _path(request: pytest.FixtureRequest, options: MarkerOptions) -> Path:
    test_file = Path(request.node.path)
    if options.path is not None:
        path = Path(options.path)
        return path if path.is_absolute() else test_file.parent / path
    name = request.node.name
    if request.node.cls is not None:
        name = f"{request.node.cls.__name__}.{name}"
    path = default_path(test_file, name, _transcript_root(request.config))
    owners = request.config.stash[_DEFAULT_PATHS]
    owner = owners.setdefault(path, request.node.nodeid)
    if owner != request.node.nodeid:
        _fail(
            f"{request.node.nodeid} and {owner} both default to transcript {path}; "
            "give one of them a path"
        )
    return path


def _record(path: Path, options: MarkerOptions) -> None:
    assert options.record is not None
    try:
        transcript = options.filter(options.record())
        write_recording(path, transcript)
    except (KtstrError, OSError) as exc:
        _fail(f"recording {path} failed: {exc}")


@pytest.fixture
def ktstr_transcript_path(request: pytest.FixtureRequest) -> Path:
    """Where the test's transcript lives (the marker's path or the default one)."""
    return _path(request, _options(request))


@pytest.fixture
def ktstr_replay(request: pytest.FixtureRequest, ktstr_transcript_path: Path) -> Replayer:
    """The replayer of the test's ``ktstr_transcript`` marker (recorded first when the
    record mode says so)."""
    options = _options(request)
    path = ktstr_transcript_path
    mode = _mode(request.config, options)
    missing = not path.exists()
    if options.record is not None and (mode in ("rewrite", "all") or (mode == "once" and missing)):
        _record(path, options)
    elif missing:
        how = (
            "record it with --ktstr-record-mode=once"
            if options.record is not None
            else "give the marker record= (e.g. record='synthetic:SCENARIO') and run with "
            "--ktstr-record-mode=once"
        )
        _fail(f"transcript {path} is missing (record mode {mode!r}); {how}")
    try:
        replayer = Replayer(
            path, strict=options.strict, speed=options.speed, match_on=options.match_on
        )
    except KtstrError as exc:
        _fail(f"cannot replay {path}: {exc}")
    if options.complete:
        request.node.stash[_REPLAYER] = replayer
    return replayer


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After a passing body, an incomplete replay fails the test (one report)."""
    result = yield  # a failing body raises here and is reported alone
    replayer = item.stash.get(_REPLAYER, None)
    if replayer is not None:
        report = replayer.report()
        if not report.complete:
            _fail(f"ReplayIncomplete: {report.describe()}")
    return result


@pytest.fixture
def ktstr_run_result(ktstr_replay: Replayer) -> RunResult:
    """The run result of the test's transcript (what ``ktstr-host report`` says of it),
    built by a :class:`~ktstr_host.session.RunSession`: compare the host under test's
    verdict with upstream's."""
    return build_run_result(ktstr_replay.transcript)


@pytest.fixture
def ktstr_replay_url(ktstr_replay: Replayer) -> Iterator[Callable[..., str]]:
    """``url(channel)``: a ``ktstrreplay://`` URL whose ports share ``ktstr_replay``."""
    name = f"pytest-{next(_session_ids)}"
    register_session(name, ktstr_replay)

    def url(channel: str, **options: Any) -> str:
        extra = "".join(f"&{k}={v}" for k, v in options.items())
        return f"ktstrreplay://ktstr-session?channel={channel}&session={name}{extra}"

    yield url
    release(name)
