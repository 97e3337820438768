"""Terminal output of the CLI: input never reaches a terminal as control characters.

When standard output or error is a terminal, :func:`guard_terminal` wraps it so that every
control character (escape sequences, carriage returns, C1 codes) is shown as ``\\xNN``;
newlines and tabs pass. Progress tickers (:class:`Ticker`) draw with ``\\r`` on the
underlying stream, only on a terminal and never under ``--quiet``.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator
from typing import IO, Any

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """``text`` with control characters other than newline and tab shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class SafeTerminal(io.TextIOBase):
    """A text stream that escapes control characters before they reach ``stream``."""

    def __init__(self, stream: IO[str]) -> None:
        self.raw_terminal = stream

    def write(self, text: str) -> int:
        self.raw_terminal.write(escape_controls(text))
        return len(text)

    def flush(self) -> None:
        self.raw_terminal.flush()

    def isatty(self) -> bool:
        return self.raw_terminal.isatty()

    def fileno(self) -> int:
        return self.raw_terminal.fileno()

    @property
    def buffer(self) -> Any:
        return self.raw_terminal.buffer  # type: ignore[attr-defined]


@contextlib.contextmanager
def guard_terminal() -> Iterator[None]:
    """Wrap ``sys.stdout`` and ``sys.stderr`` in :class:`SafeTerminal` while they are
    terminals; restore them afterwards."""
    saved = sys.stdout, sys.stderr
    if sys.stdout.isatty():
        sys.stdout = SafeTerminal(sys.stdout)
    if sys.stderr.isatty():
        sys.stderr = SafeTerminal(sys.stderr)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout, sys.stderr = saved


class Ticker:
    """A one-line progress display on standard error, redrawn in place."""

    def __init__(self, quiet: bool) -> None:
        stream = sys.stderr
        self._out: IO[str] = getattr(stream, "raw_terminal", stream)
        self.active = not quiet and stream.isatty()
        self._shown = False

    def show(self, text: str) -> None:
        if self.active:
            self._out.write("\r" + escape_controls(text))
            self._out.flush()
            self._shown = True

    def end(self) -> None:
        if self._shown:
            self._out.write("\n")
            self._out.flush()
            self._shown = False
