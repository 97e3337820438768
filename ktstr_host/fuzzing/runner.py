"""In-process fuzz runners that need no atheris.

``mutate`` engine: a seeded loop that picks a corpus seed, applies structure-aware
mutations (``ktstr_guest.fuzz``) or byte-level havoc, and runs the target.
``hypothesis`` engine: ``@given`` over strategies built from the same corpus, with
hypothesis's shrinking on failure. Both are deterministic for a given seed and report
each distinct finding once, with the input that reproduces it through the target's
``fuzz_one_input`` and the labels of the mutations that produced it.
"""

from __future__ import annotations

import gzip
import random
import struct
import time
import traceback
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from ktstr_guest.fuzz import (
    Mutation,
    damage_transcript,
    mutate_bulk,
    mutate_serial,
)
from ktstr_proto.errors import UsageError

from .targets import (
    FUZZ_PROFILES,
    PAYLOAD_DECODERS,
    TARGETS,
    decode_plan,
    encode_bulk_input,
    encode_serial_input,
)

INTERESTING_U32 = (0, 1, 15, 16, 17, 64, 65, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x1000001)
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x0D)
MAX_INPUT = 64 * 1024
"""Inputs are cut to this size after mutation (keeps the naive reference cheap)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A target failure: the input reproducing it, what broke, and how it was made."""

    target: str
    input: bytes
    error: str
    traceback: str
    mutations: tuple[Mutation, ...] = ()

    @property
    def signature(self) -> str:
        """Exception type and innermost frame: findings with one cause share it."""
        last = self.traceback.strip().splitlines()
        where = next((x.strip() for x in reversed(last) if x.strip().startswith("File ")), "")
        return f"{self.error.split(':', 1)[0]} @ {where}"

    @property
    def label(self) -> str:
        return "; ".join(str(m) for m in self.mutations) or "unmutated"


@dataclass(slots=True)
class RunReport:
    """Outcome of one run: counts, time and distinct findings (first input each)."""

    target: str
    engine: str
    seed: int
    inputs: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    repeats: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Inputs per second."""
        return self.inputs / self.seconds if self.seconds > 0 else 0.0

    def record(self, finding: Finding) -> None:
        sig = finding.signature
        if sig not in self.repeats:
            self.findings.append(finding)
        self.repeats[sig] = self.repeats.get(sig, 0) + 1


# ---- byte-level havoc --------------------------------------------------------------------


def havoc(data: bytes, rng: random.Random, others: Sequence[bytes] = ()) -> tuple[bytes, Mutation]:
    """One blind byte-level mutation of ``data`` (AFL-style), labelled."""
    buf = bytearray(data)
    n = len(buf)
    op = rng.choice(["flip", "byte", "u32", "insert", "delete", "clone", "splice"])
    if op == "flip" and n:
        k = rng.randrange(n * 8)
        buf[k // 8] ^= 1 << (k % 8)
        return bytes(buf), Mutation("havoc-flip", f"bit {k % 8} of byte {k // 8}")
    if op == "byte" and n:
        k, v = rng.randrange(n), rng.choice(INTERESTING_BYTES)
        buf[k] = v
        return bytes(buf), Mutation("havoc-byte", f"byte {k} = {v:#04x}")
    if op == "u32" and n >= 4:
        k, v = rng.randrange(n - 3), rng.choice(INTERESTING_U32)
        buf[k : k + 4] = struct.pack("<I", v)
        return bytes(buf), Mutation("havoc-u32", f"u32 at {k} = {v:#x}")
    if op == "delete" and n:
        k = rng.randrange(n)
        m = rng.randint(1, min(64, n - k))
        del buf[k : k + m]
        return bytes(buf), Mutation("havoc-delete", f"{m} bytes at {k}")
    if op == "clone" and n:
        k = rng.randrange(n)
        m = rng.randint(1, min(64, n - k))
        at = rng.randint(0, n)
        buf[at:at] = buf[k : k + m]
        return bytes(buf), Mutation("havoc-clone", f"{m} bytes from {k} to {at}")
    if op == "splice" and others:
        other = rng.choice(others)
        a, b = rng.randint(0, n), rng.randint(0, len(other))
        out = bytes(buf[:a]) + other[b:]
        return out, Mutation("havoc-splice", f"cut at {a}, another seed from {b}")
    at = rng.randint(0, n)
    blob = rng.randbytes(rng.randint(1, 16))
    buf[at:at] = blob
    return bytes(buf), Mutation("havoc-insert", f"{len(blob)} random bytes at {at}")


# ---- structure-aware mutation per target -------------------------------------------------

Mutated = tuple[bytes, list[Mutation]]
Mutator = Callable[[bytes, random.Random, Sequence[bytes]], Mutated]


def _mutate_bulk(
    base: bytes, rng: random.Random, others: Sequence[bytes]
) -> tuple[bytes, list[Mutation]]:
    index = base[0] % len(FUZZ_PROFILES) if base else 0
    stream, _, _ = decode_plan(base, 1)
    labels: list[Mutation] = []
    if rng.random() < 0.25:
        index = rng.randrange(len(FUZZ_PROFILES))
        labels.append(Mutation("profile", FUZZ_PROFILES[index].name))
    if rng.random() < 0.15:
        stream, m = havoc(stream, rng)
        labels.append(m)
    mutant = mutate_bulk(stream, rng, cap=FUZZ_PROFILES[index].cap)
    labels += mutant.mutations
    take = rng.random() < 0.05
    if take:
        labels.append(Mutation("take-residual", "take_residual() after the middle feed"))
    return encode_bulk_input(index, mutant.data, mutant.cuts, take_residual=take), labels


def _mutate_serial(
    base: bytes, rng: random.Random, others: Sequence[bytes]
) -> tuple[bytes, list[Mutation]]:
    options = base[0] if base else 0
    stream, _, _ = decode_plan(base, 1)
    labels: list[Mutation] = []
    if rng.random() < 0.25:
        options = rng.randrange(256)
        labels.append(Mutation("options", f"{options:#04x}"))
    if rng.random() < 0.15:
        stream, m = havoc(stream, rng)
        labels.append(m)
    mutant = mutate_serial(stream, rng)
    labels += mutant.mutations
    return encode_serial_input(options, mutant.data, mutant.cuts), labels


def _mutate_payload(
    base: bytes, rng: random.Random, others: Sequence[bytes]
) -> tuple[bytes, list[Mutation]]:
    selector = base[0] if base else 0
    payload = base[1:]
    labels: list[Mutation] = []
    if rng.random() < 0.1:
        selector = rng.randrange(len(PAYLOAD_DECODERS))
        labels.append(Mutation("decoder", PAYLOAD_DECODERS[selector].name))
    for _ in range(rng.randint(1, 3)):
        payload, m = havoc(payload, rng, [o[1:] for o in others])
        labels.append(m)
    return bytes([selector]) + payload, labels


def _transcript_lines(data: bytes) -> list[str] | None:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None


def _mutate_transcript(
    base: bytes, rng: random.Random, others: Sequence[bytes]
) -> tuple[bytes, list[Mutation]]:
    options = base[0] if base else 0
    body = base[1:]
    lines = _transcript_lines(body)
    if lines and rng.random() < 0.8:
        mutant = damage_transcript(lines, rng)
        return bytes([options]) + mutant.data, list(mutant.mutations)
    out, m = havoc(body, rng, [o[1:] for o in others])
    return bytes([options]) + out, [m]


def _mutate_bulk_cap(
    base: bytes, rng: random.Random, others: Sequence[bytes]
) -> tuple[bytes, list[Mutation]]:
    head = base[:2].ljust(2, b"\0")
    mutant = mutate_bulk(base[2:], rng, cap=1 << 24)
    size = 0 if rng.random() < 0.7 else rng.randrange(256)
    return bytes([head[0], size]) + mutant.data[:4096], list(mutant.mutations)


MUTATORS: dict[str, Mutator] = {
    "bulk": _mutate_bulk,
    "bulk-cap": _mutate_bulk_cap,
    "serial": _mutate_serial,
    "payloads": _mutate_payload,
    "transcript": _mutate_transcript,
}


class MutatorError(RuntimeError):
    """A mutator (not a target) failed: a bug of the fuzzing toolkit itself."""


# ---- engines -----------------------------------------------------------------------------


def _run_one(report: RunReport, data: bytes, labels: Sequence[Mutation]) -> None:
    try:
        TARGETS[report.target](data)
    except Exception as exc:  # every escaping exception is a finding
        report.record(
            Finding(
                report.target,
                data,
                f"{type(exc).__name__}: {exc}"[:2000],
                traceback.format_exc(),
                tuple(labels),
            )
        )


def _check_target(target: str, seeds: Sequence[bytes]) -> None:
    if target not in TARGETS:
        raise UsageError(f"unknown fuzz target {target!r}; known: {', '.join(TARGETS)}")
    if not seeds:
        raise UsageError("the corpus is empty")


def run_mutation(
    target: str,
    seeds: Sequence[bytes],
    *,
    iterations: int,
    seed: int = 0,
    time_limit: float | None = None,
) -> RunReport:
    """Run the ``mutate`` engine: seeds first (unmutated), then mutants."""
    _check_target(target, seeds)
    rng = random.Random(seed)
    mutate = MUTATORS[target]
    report = RunReport(target, "mutate", seed)
    start = time.perf_counter()
    deadline = None if time_limit is None else start + time_limit
    for i in range(iterations):
        if deadline is not None and time.perf_counter() > deadline:
            break
        labels: list[Mutation] = []
        if i < len(seeds):
            data = seeds[i]
        else:
            base = rng.choice(seeds)
            try:
                data, labels = mutate(base, rng, seeds)
            except Exception as exc:  # a mutator bug: report it, keep fuzzing
                error = f"mutator {type(exc).__name__}: {exc}"[:2000]
                report.record(Finding(target, base, error, traceback.format_exc()))
                continue
            data = data[:MAX_INPUT]
        _run_one(report, data, labels)
        report.inputs += 1
    report.seconds = time.perf_counter() - start
    return report


def _strategy(target: str, seeds: Sequence[bytes]) -> st.SearchStrategy[Mutated]:
    mutate = MUTATORS[target]

    @st.composite
    def inputs(draw: st.DrawFn) -> Mutated:
        if draw(st.integers(0, 9)) == 0:  # unstructured bytes now and then
            raw = draw(st.binary(max_size=512))
            return raw, [Mutation("hypothesis-binary", f"{len(raw)} bytes")]
        base = draw(st.sampled_from(seeds))
        rnd = draw(st.randoms(use_true_random=False))
        labels: list[Mutation] = []
        data = base
        for _ in range(draw(st.integers(1, 3))):
            try:
                data, more = mutate(data, rnd, seeds)
            except Exception as exc:  # name the culprit: the reported input is stale
                raise MutatorError(f"{target} mutator failed on {data.hex()}") from exc
            labels += more
        return data[:MAX_INPUT], labels

    return inputs()


class _TimeUp(BaseException):
    """Ends a hypothesis batch at the time limit: not an ``Exception``, so hypothesis lets
    it through instead of taking it for a failure to shrink."""


def _batch(
    fn: Callable[[bytes], None],
    strategy: st.SearchStrategy[Mutated],
    n: int,
    batch_seed: int,
    deadline: float | None = None,
) -> tuple[int, Mutated | None, Exception | None]:
    """Run ``n`` hypothesis examples, or those that start before ``deadline``; return how
    many ran, the last one and its error."""
    count = 0
    last: Mutated | None = None

    @hypothesis_seed(batch_seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(strategy)
    def run(example: Mutated) -> None:
        nonlocal count, last
        if deadline is not None and time.perf_counter() > deadline:
            raise _TimeUp
        count += 1
        last = example
        fn(example[0])

    try:
        run()
    except _TimeUp:
        pass
    except HypothesisException:
        raise
    except Exception as exc:  # the shrunk failure: `last` is the minimal example
        return count, last, exc
    return count, last, None


def run_hypothesis(
    target: str,
    seeds: Sequence[bytes],
    *,
    iterations: int,
    seed: int = 0,
    time_limit: float | None = None,
    batch: int = 2000,
) -> RunReport:
    """Run the ``hypothesis`` engine in batches of ``batch`` examples (one hypothesis
    seed per batch, derived from ``seed``) until ``iterations`` or ``time_limit``. The
    time limit is checked before every example, so a slow target (``bulk-cap``: up to a
    second per input) overruns it by one input at most, not by a batch. A failing batch
    is shrunk by hypothesis; the shrunk input is the finding."""
    _check_target(target, seeds)
    report = RunReport(target, "hypothesis", seed)
    strategy = _strategy(target, seeds)
    fn = TARGETS[target]
    start = time.perf_counter()
    deadline = None if time_limit is None else start + time_limit
    k = 0
    while report.inputs < iterations:
        if deadline is not None and time.perf_counter() > deadline:
            break
        n = min(batch, iterations - report.inputs)
        count, last, exc = _batch(fn, strategy, n, seed * 1_000_003 + k, deadline)
        if exc is not None and last is not None:
            report.record(
                Finding(
                    target,
                    last[0],
                    f"{type(exc).__name__}: {exc}"[:2000],
                    "".join(traceback.format_exception(exc)),
                    tuple(last[1]),
                )
            )
        report.inputs += count
        k += 1
        if not count:  # pragma: no cover - hypothesis generated nothing at all
            break
    report.seconds = time.perf_counter() - start
    return report


ENGINES = {"mutate": run_mutation, "hypothesis": run_hypothesis}
