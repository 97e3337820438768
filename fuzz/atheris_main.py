"""Shared atheris (libFuzzer) entry point for the ktstr-py fuzz targets.

``python fuzz/atheris_<target>.py [libFuzzer flags] [corpus dirs]``: instruments
ktstr_proto, ktstr_host and ktstr_guest for coverage, then runs
``ktstr_host.fuzzing.targets.TARGETS[target]`` on every input. See docs/fuzzing.md.

``KTSTR_FUZZ_HYPOTHESIS=1`` routes the bytes through the target's hypothesis
``fuzz_one_input`` entry (``ktstr_host.fuzzing.hypothesis_entry``) instead.

``KTSTR_FUZZ_IGNORE="Type[:text],..."`` lets known findings pass (an exception of that
type whose message contains ``text``), so that a long run gets past them; libFuzzer's
``-fork`` mode cannot re-execute a Python script.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]


def _ignored(exc: Exception, rules: list[tuple[str, str]]) -> bool:
    return any(type(exc).__name__ == name and text in str(exc) for name, text in rules)


def main(target: str) -> None:
    """Fuzz ``target`` (``bulk``, ``serial``, ``payloads`` or ``transcript``)."""
    with atheris.instrument_imports(include=["ktstr_proto", "ktstr_host", "ktstr_guest"]):
        from ktstr_host.fuzzing.hypothesis_entry import ENTRIES
        from ktstr_host.fuzzing.targets import TARGETS
    fn: Callable[[bytes], None] = TARGETS[target]
    if os.environ.get("KTSTR_FUZZ_HYPOTHESIS"):  # bytes -> hypothesis -> target
        fn = ENTRIES[target].hypothesis.fuzz_one_input
    spec = os.environ.get("KTSTR_FUZZ_IGNORE", "")
    rules = [(r.partition(":")[0], r.partition(":")[2]) for r in spec.split(",") if r]

    def one_input(data: bytes) -> None:
        try:
            fn(data)
        except Exception as exc:
            if not _ignored(exc, rules):
                raise

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
