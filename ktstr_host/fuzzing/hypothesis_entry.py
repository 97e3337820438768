"""Hypothesis ``fuzz_one_input`` entries for every fuzz target.

``ENTRIES[target]`` is a ``@given`` function; ``ENTRIES[target].hypothesis.fuzz_one_input``
takes raw bytes from any coverage-guided fuzzer (atheris: ``KTSTR_FUZZ_HYPOTHESIS=1
python fuzz/atheris_bulk.py``) and lets hypothesis turn them into the target's input, so
the fuzzer's mutations go through hypothesis's structure (and its shrinking on replay).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .targets import TARGETS

MAX_INPUT = 8192


def _entry(fn: Callable[[bytes], None]) -> Any:
    @settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=MAX_INPUT))
    def entry(data: bytes) -> None:
        fn(data)

    return entry


ENTRIES: dict[str, Any] = {name: _entry(fn) for name, fn in TARGETS.items()}


def fuzz_one_input(target: str, data: bytes) -> None:
    """Run ``target`` on the input hypothesis derives from ``data``."""
    ENTRIES[target].hypothesis.fuzz_one_input(data)
