"""Range-checked numeric option types for argparse.

A bad value raises :class:`OptionError`, which argparse lets through and ``main`` reports
as one line (``ktstr-host: error: --chunk-size must be in 1..1073741824, got 0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

MiB = 1 << 20
MAX_CHUNK = 1 << 30
"""Largest read size a command accepts (1 GiB)."""
MAX_SECONDS = 1e7
"""Longest duration a command accepts (about 115 days)."""


class OptionError(Exception):
    """A numeric option out of range (not a ValueError: argparse must not swallow it)."""


def int_in(option: str, lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type for ``option``: an integer in ``lo..hi``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise OptionError(f"{option} must be an integer, got {text[:40]!r}") from None
        if not lo <= value <= hi:
            raise OptionError(f"{option} must be in {lo}..{hi}, got {text[:40]}")
        return value

    return parse


def seconds(option: str, *, zero: bool = False, hi: float = MAX_SECONDS) -> Callable[[str], float]:
    """An argparse type for ``option``: a finite number, > 0 (>= 0 with ``zero``), <= ``hi``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise OptionError(f"{option} must be a number, got {text[:40]!r}") from None
        low_ok = value >= 0 if zero else value > 0
        if not math.isfinite(value) or not low_ok or value > hi:
            what = "must be >= 0" if zero else "must be positive"
            raise OptionError(f"{option} {what} and at most {hi:g}, got {text[:40]}")
        return value

    return parse
