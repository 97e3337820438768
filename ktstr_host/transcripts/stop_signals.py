"""SIGINT, SIGTERM and SIGHUP as one polite "stop" request for long-running commands.

``record`` and ``vm run`` treat the three alike (Ctrl-C, a CI job timeout, a closed
terminal): stop capturing, write what was captured with an ``interrupted`` mark, clean
up, and exit with ``128 + signal``, the shell's convention for "killed by a signal".
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """While active, the first stop signal is remembered and ``on_stop`` is called
    (from the signal handler: it must only set flags). Handlers are restored on exit."""

    def __init__(self, on_stop: Callable[[], None] = lambda: None) -> None:
        self._on_stop = on_stop
        self.received: signal.Signals | None = None
        self._saved: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
        self._on_stop()

    def __call__(self) -> str | None:
        """The name of the signal received so far (``SIGTERM``...), or None."""
        return None if self.received is None else self.received.name

    @property
    def exit_status(self) -> int | None:
        """``128 + signal`` once a signal arrived."""
        return None if self.received is None else 128 + int(self.received)

    def __enter__(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()
