"""pyserial handler for ``ktstrreplay://PATH?channel=NAME[&speed=X][&strict=0][&session=S]``.

Code written against pyserial reads a recorded guest unchanged::

    import ktstr_host  # registers the scheme
    com1 = serial.serial_for_url("ktstrreplay://fixtures/x.jsonl?channel=com1", timeout=1)
    hvc0 = serial.serial_for_url("ktstrreplay://fixtures/x.jsonl?channel=hvc0")

Ports opened on the same transcript (or with the same ``session``) share one
:class:`~ktstr_host.transcripts.Replayer`, so a wake byte written to ``hvc0`` releases the
output recorded after it on ``com1``. ``speed`` is a factor of real time (``1`` = as
recorded); without it the replay runs as fast as possible. With ``timeout=None`` a read
that can get no more bytes (the recording is over) returns what it has instead of
blocking forever.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from serial import PortNotOpenError, SerialBase, SerialException
from typing_extensions import Buffer

from ..replay import Replayer

SCHEME = "ktstrreplay"


@dataclass(frozen=True, slots=True)
class ReplayUrl:
    path: str
    channel: str
    speed: float | None
    strict: bool
    session: str


def parse_url(url: str) -> ReplayUrl:
    """Split a ``ktstrreplay://`` URL; raise :class:`SerialException` when malformed."""
    parts = urlsplit(url)
    if parts.scheme.lower() != SCHEME:
        raise SerialException(f"expected a {SCHEME}:// URL, got {url!r}")
    path = unquote(parts.netloc + parts.path)
    if not path:
        raise SerialException(f"{url!r}: no transcript path")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"channel", "speed", "strict", "session"}
    if unknown:
        raise SerialException(f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}")
    channel = query.get("channel", [""])[-1]
    if not channel:
        raise SerialException(f"{url!r}: missing ?channel=NAME")
    speed: float | None = None
    if "speed" in query:
        try:
            speed = float(query["speed"][-1])
        except ValueError:
            raise SerialException(f"{url!r}: speed must be a number") from None
        if not speed > 0:
            raise SerialException(f"{url!r}: speed must be positive")
    strict = query.get("strict", ["1"])[-1] not in ("0", "false", "no")
    session = query.get("session", [""])[-1] or os.path.abspath(path)
    return ReplayUrl(path, channel, speed, strict, session)


_sessions: dict[str, tuple[Replayer, int]] = {}
_lock = threading.Lock()


def acquire(spec: ReplayUrl) -> Replayer:
    """The shared replayer of ``spec.session`` (created on first use)."""
    with _lock:
        entry = _sessions.get(spec.session)
        if entry is None:
            if not os.path.exists(spec.path):
                raise SerialException(f"transcript {spec.path!r} not found")
            replayer = Replayer(spec.path, speed=spec.speed, strict=spec.strict)
        else:
            replayer = entry[0]
        if spec.channel not in replayer.header.channels:
            raise SerialException(
                f"transcript {spec.path!r} has no channel {spec.channel!r} "
                f"({', '.join(replayer.header.channels)})"
            )
        _sessions[spec.session] = (replayer, (entry[1] if entry else 0) + 1)
        return replayer


def register_session(name: str, replayer: Replayer) -> None:
    """Share an existing replayer: ports opened with ``?session=NAME`` use it."""
    with _lock:
        if name in _sessions:
            raise SerialException(f"replay session {name!r} already exists")
        _sessions[name] = (replayer, 1)


def release(session: str) -> None:
    with _lock:
        entry = _sessions.get(session)
        if entry is None:
            return
        if entry[1] <= 1:
            del _sessions[session]
        else:
            _sessions[session] = (entry[0], entry[1] - 1)


def session_replayer(path_or_session: str) -> Replayer | None:
    """The live replayer of an open session (by session name or transcript path)."""
    with _lock:
        entry = _sessions.get(path_or_session) or _sessions.get(os.path.abspath(path_or_session))
        return entry[0] if entry else None


class Serial(SerialBase):
    """A serial port whose peer is a recorded ktstr guest."""

    _spec: ReplayUrl | None = None
    _replayer: Replayer | None = None

    def open(self) -> None:
        if self.port is None:
            raise SerialException("port must be configured before it can be used")
        if self.is_open:
            raise SerialException("port already open")
        spec = parse_url(self.port)
        self._replayer = acquire(spec)
        self._spec = spec
        self.is_open = True

    def close(self) -> None:
        if self.is_open and self._spec is not None:
            release(self._spec.session)
        self.is_open = False
        self._replayer = None

    def _reconfigure_port(self, *args: Any, **kwargs: Any) -> None:
        """Baud rate and the like mean nothing to a recording."""

    def _live(self) -> tuple[Replayer, str]:
        if not self.is_open or self._replayer is None or self._spec is None:
            raise PortNotOpenError()
        return self._replayer, self._spec.channel

    @property
    def replayer(self) -> Replayer:
        return self._live()[0]

    @property
    def in_waiting(self) -> int:
        replayer, channel = self._live()
        return replayer.in_waiting(channel)

    def read(self, size: int = 1) -> bytes:
        replayer, channel = self._live()
        return replayer.read(channel, size, self.timeout)

    def write(self, data: Buffer, /) -> int:
        replayer, channel = self._live()
        return replayer.write(channel, bytes(data))

    def reset_input_buffer(self) -> None:
        replayer, channel = self._live()
        replayer.read(channel, -1, 0.0)

    def reset_output_buffer(self) -> None:
        self._live()

    def send_break(self, duration: float = 0.25) -> None:
        self._live()

    def _update_break_state(self) -> None:
        self._live()

    def _update_rts_state(self) -> None:
        self._live()

    def _update_dtr_state(self) -> None:
        self._live()

    @property
    def cts(self) -> bool:
        self._live()
        return True

    @property
    def dsr(self) -> bool:
        self._live()
        return True

    @property
    def ri(self) -> bool:
        self._live()
        return False

    @property
    def cd(self) -> bool:
        self._live()
        return True
