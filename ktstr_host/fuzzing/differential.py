"""Differential fuzzing of an external bulk decoder against ours.

The external program reads a raw bulk stream on standard input and prints what
``ktstr-host decode --json -`` prints: one JSON object per event, then the ``end``
summary. We feed it mutated streams, decode the same bytes in-process, compare the lines
as JSON values, and shrink the first disagreement (whole frames first, then delta
debugging over bytes) while it persists with the same signature.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ktstr_guest.fuzz import Mutation, mutate_bulk, segments
from ktstr_proto.profiles import Profile

from ..decode.bulk import BulkDecoder
from ..decode.describe import describe_event

DEFAULT_CHUNK = 1 << 20
"""What ``ktstr-host decode`` feeds per read, and so what this side feeds too."""


def decode_json_lines(data: bytes, profile: Profile, chunk_size: int = DEFAULT_CHUNK) -> list[str]:
    """The lines ``ktstr-host decode --json`` prints for ``data`` (without newlines)."""
    d = BulkDecoder(profile)
    events = []
    for i in range(0, len(data), chunk_size):
        events += d.feed(data[i : i + chunk_size])
    events += d.close()
    out = [json.dumps(describe_event(e, profile)) for e in events]
    s = d.stats
    summary = {
        "event": "end",
        "bytes": s.fed,
        "frames": s.frames,
        "framed_bytes": s.framed,
        "drops": s.drops,
        "dropped_bytes": s.dropped,
    }
    out.append(json.dumps(summary))
    return out


@dataclass(frozen=True, slots=True)
class ExternalRun:
    """What the external decoder did with one input."""

    status: int
    lines: list[str]
    stderr: str


def run_external(command: Sequence[str], data: bytes, timeout: float = 30.0) -> ExternalRun:
    """Run ``command`` with ``data`` on stdin; a timeout counts as status -9."""
    try:
        proc = subprocess.run(
            list(command), input=data, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return ExternalRun(-9, [], f"timed out after {timeout} s")
    text = proc.stdout.decode("utf-8", errors="replace")
    return ExternalRun(proc.returncode, text.splitlines(), proc.stderr.decode(errors="replace"))


@dataclass(frozen=True, slots=True)
class Disagreement:
    """The first place where the two decoders differ.

    ``kind`` is ``exit-status``, ``not-json`` or ``line``; ``index`` the 0-based output
    line; ``keys`` the JSON keys whose values differ (for ``line``)."""

    kind: str
    index: int | None
    ours: str | None
    theirs: str | None
    keys: frozenset[str] = frozenset()

    @property
    def signature(self) -> tuple[str, frozenset[str]]:
        """What must stay the same while shrinking."""
        return self.kind, self.keys


def _loads(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return _NOT_JSON


_NOT_JSON = object()


def compare(ours: list[str], theirs: ExternalRun) -> Disagreement | None:
    """The first disagreement between our lines and the external run, if any."""
    if theirs.status != 0:
        tail = theirs.stderr.strip().splitlines()[-1:] or [""]
        return Disagreement("exit-status", None, "exit 0", f"exit {theirs.status}: {tail[0]}")
    for i, (a, b) in enumerate(itertools.zip_longest(ours, theirs.lines)):
        if a == b:
            continue
        other = _loads(b) if b is not None else None
        if other is _NOT_JSON:
            return Disagreement("not-json", i, a, b)
        mine = json.loads(a) if a is not None else None
        if mine == other:
            continue
        keys: frozenset[str] = frozenset()
        if isinstance(mine, dict) and isinstance(other, dict):
            keys = frozenset(
                k for k in mine.keys() | other.keys() if mine.get(k, _NOT_JSON) != other.get(k)
            )
        return Disagreement("line", i, a, b, keys)
    return None


def minimise(
    data: bytes, fails: Callable[[bytes], bool], *, budget: int = 500
) -> tuple[bytes, int]:
    """Shrink ``data`` while ``fails`` holds: drop whole frames, then alternate ddmin over
    bytes and zeroing single bytes until neither helps (or ``budget`` calls were made).
    Returns the smallest failing input found and the number of calls."""
    calls = 0

    def test(candidate: bytes) -> bool:
        nonlocal calls
        if calls >= budget:
            return False
        calls += 1
        return fails(candidate)

    # 1. whole segments (frames and raw runs), last first
    segs = [s.data for s in segments(data)]
    i = len(segs) - 1
    while i >= 0 and len(segs) > 1:
        candidate = b"".join(segs[:i] + segs[i + 1 :])
        if test(candidate):
            del segs[i]
        i -= 1
    data = b"".join(segs)
    # 2. ddmin over bytes, then zero single bytes; repeat until nothing changes
    while True:
        before = data
        data = _ddmin(data, test)
        for k in range(len(data)):
            if data[k]:
                candidate = data[:k] + b"\x00" + data[k + 1 :]
                if test(candidate):
                    data = candidate
        if data == before or calls >= budget:
            return data, calls


def _ddmin(data: bytes, test: Callable[[bytes], bool]) -> bytes:
    """Remove chunks of ``data`` at growing granularity while ``test`` holds."""
    n = 2
    while len(data) >= 2:
        size = max(1, len(data) // n)
        for start in range(0, len(data), size):
            candidate = data[:start] + data[start + size :]
            if test(candidate):
                data = candidate
                n = max(n - 1, 2)
                break
        else:
            if size == 1:
                return data
            n = min(len(data), n * 2)
    return data


@dataclass(slots=True)
class DiffReport:
    """Result of a differential run."""

    inputs: int = 0
    seconds: float = 0.0
    disagreement: Disagreement | None = None
    original: bytes = b""
    minimised: bytes = b""
    mutations: tuple[Mutation, ...] = ()
    shrink_calls: int = 0
    iteration: int | None = None
    notes: list[str] = field(default_factory=list)


def differential(
    command: Sequence[str],
    profile: Profile,
    bases: Sequence[bytes],
    *,
    iterations: int,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    timeout: float = 30.0,
    shrink_budget: int = 500,
) -> DiffReport:
    """Compare ``command`` with our decoder on the bases, then on mutants of them."""
    rng = random.Random(seed)
    report = DiffReport()
    start = time.perf_counter()

    def check(data: bytes) -> Disagreement | None:
        return compare(
            decode_json_lines(data, profile, chunk_size), run_external(command, data, timeout)
        )

    for i in range(iterations):
        labels: tuple[Mutation, ...] = ()
        if i < len(bases):
            data = bases[i]
        else:
            mutant = mutate_bulk(rng.choice(bases), rng, cap=profile.cap)
            data, labels = mutant.data, mutant.mutations
        report.inputs += 1
        found = check(data)
        if found is None:
            continue
        sig = found.signature

        def same(candidate: bytes, sig: tuple[str, frozenset[str]] = sig) -> bool:
            again = check(candidate)
            return again is not None and again.signature == sig

        small, calls = minimise(data, same, budget=shrink_budget)
        report.disagreement = check(small) or found
        report.original, report.minimised = data, small
        report.mutations, report.shrink_calls, report.iteration = labels, calls, i
        break
    report.seconds = time.perf_counter() - start
    return report
