"""Range-checked numeric option types for argparse (a bad value is a one-line error)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

MiB = 1 << 20
MAX_CHUNK = 1 << 30
"""Largest read size a command accepts (1 GiB)."""
MAX_SECONDS = 1e7
"""Longest duration a command accepts (about 115 days)."""


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``lo..hi``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}, got {text[:40]}")
        return value

    return parse


def seconds(*, zero: bool = False, hi: float = MAX_SECONDS) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds, > 0 (>= 0 with ``zero``), <= ``hi``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
        low_ok = value >= 0 if zero else value > 0
        if not math.isfinite(value) or not low_ok or value > hi:
            bound = ">= 0" if zero else "> 0"
            raise argparse.ArgumentTypeError(f"must be {bound} and <= {hi:g}, got {text[:40]}")
        return value

    return parse
