"""``ktstr-host fuzz``: in-process fuzzing of the decoders, or differential fuzzing of an
external bulk decoder (``--against CMD``). See docs/fuzzing.md."""

from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ktstr_proto.errors import UsageError
from ktstr_proto.profiles import get_profile

from ..fuzzing.targets import TARGETS, decode_plan
from .numbers import MAX_CHUNK, int_in, seconds

if TYPE_CHECKING:
    from ..fuzzing.differential import DiffReport
    from ..fuzzing.runner import RunReport

HEX_LIMIT = 4096
"""Inputs longer than this many bytes are printed shortened (use --artifacts)."""
ENGINE_NAMES = ("hypothesis", "mutate")
"""``ktstr_host.fuzzing.runner.ENGINES``, named here so that building the parser does
not import hypothesis (the engines are imported when the command runs)."""
DEFAULT_CHUNK = 1 << 20


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "fuzz",
        help="fuzz the decoders, or compare an external bulk decoder with ours",
        description=(
            "Without --against: run the in-process fuzz harness of one target and report "
            "inputs/s and findings (exit 1 if any). With --against CMD: run CMD (reading a "
            "bulk stream on stdin, printing `ktstr-host decode --json -` lines) on mutated "
            "streams and report the first disagreement, minimised (exit 1 if any)."
        ),
    )
    p.add_argument("--target", default="bulk", choices=[*TARGETS, "all"])
    p.add_argument("--engine", default="mutate", choices=ENGINE_NAMES)
    p.add_argument(
        "--iterations", type=int_in("--iterations", 0, 10**12), default=10_000, metavar="N"
    )
    p.add_argument("--seed", type=int_in("--seed", 0, 2**64 - 1), default=0, metavar="S")
    p.add_argument(
        "--time", type=seconds("--time"), default=None, metavar="SECONDS", help="time limit"
    )
    p.add_argument("--corpus", metavar="DIR", help="seed inputs (default: built from fixtures/)")
    p.add_argument("--write-corpus", metavar="DIR", help="write the seed corpus and exit")
    p.add_argument("--artifacts", metavar="DIR", help="save each finding's input here")
    p.add_argument("--against", metavar="CMD", help="external decoder command ({profile})")
    p.add_argument("--profile", default="ktstr-0.15", help="profile for --against")
    p.add_argument(
        "--chunk-size",
        type=int_in("--chunk-size", 1, MAX_CHUNK),
        default=DEFAULT_CHUNK,
        metavar="N",
    )
    p.add_argument(
        "--timeout", type=seconds("--timeout"), default=30.0, help="per external run (s)"
    )
    p.add_argument(
        "--shrink-budget", type=int_in("--shrink-budget", 0, 10**9), default=500, metavar="N"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..fuzzing.corpus import find_fixtures, load_corpus, seed_inputs, write_corpus
    from ..fuzzing.runner import ENGINES

    if args.iterations < 0:
        raise UsageError("--iterations must be >= 0")
    out = sys.stdout
    fixtures = find_fixtures()
    if args.write_corpus:
        counts = write_corpus(args.write_corpus, fixtures)
        for target, n in counts.items():
            out.write(f"{target}: {n} seeds in {Path(args.write_corpus) / target}\n")
        return 0
    if args.against:
        return _run_differential(args, fixtures, out)
    targets = list(TARGETS) if args.target == "all" else [args.target]
    status = 0
    for target in targets:
        seeds = load_corpus(args.corpus, target) if args.corpus else seed_inputs(target, fixtures)
        report = ENGINES[args.engine](
            target, seeds, iterations=args.iterations, seed=args.seed, time_limit=args.time
        )
        _print_report(report, out, args.artifacts)
        status = status or (1 if report.findings else 0)
    return status


def _hex(data: bytes) -> str:
    if len(data) <= HEX_LIMIT:
        return data.hex()
    return f"{data[:HEX_LIMIT].hex()}... ({len(data)} bytes in all)"


def _print_report(report: RunReport, out: TextIO, artifacts: str | None) -> None:
    out.write(
        f"target {report.target} (engine {report.engine}, seed {report.seed}): "
        f"{report.inputs} inputs in {report.seconds:.1f} s = {report.rate:.0f} inputs/s, "
        f"{len(report.findings)} findings\n"
    )
    for n, f in enumerate(report.findings, 1):
        out.write(f"finding {n}: {f.error}\n")
        out.write(f"  seen {report.repeats[f.signature]} times; at {f.signature}\n")
        out.write(f"  mutations: {f.label}\n")
        out.write(f"  input ({len(f.input)} bytes): {_hex(f.input)}\n")
        if artifacts:
            path = Path(artifacts) / f"{f.target}-{hashlib.sha1(f.input).hexdigest()}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f.input)
            out.write(f"  saved to {path}\n")
        tail = f.traceback.strip().splitlines()[-6:]
        out.write("".join(f"  | {line}\n" for line in tail))


def _run_differential(args: argparse.Namespace, fixtures: Path | None, out: TextIO) -> int:
    from ..fuzzing.corpus import bulk_streams, load_corpus
    from ..fuzzing.differential import differential

    if args.target != "bulk":
        raise UsageError("--against compares bulk decoders only (--target bulk)")
    if args.chunk_size <= 0:
        raise UsageError("--chunk-size must be positive")
    profile = get_profile(args.profile)
    command = [part.replace("{profile}", profile.name) for part in shlex.split(args.against)]
    if not command:
        raise UsageError("--against needs a command")
    if args.corpus:
        bases = [decode_plan(x, 1)[0] for x in load_corpus(args.corpus, "bulk")]
    else:
        bases = list(bulk_streams(fixtures).values())
    report = differential(
        command,
        profile,
        bases,
        iterations=args.iterations,
        seed=args.seed,
        chunk_size=args.chunk_size,
        timeout=args.timeout,
        shrink_budget=args.shrink_budget,
    )
    return _print_diff(report, command, out)


def _print_diff(report: DiffReport, command: list[str], out: TextIO) -> int:
    rate = report.inputs / report.seconds if report.seconds else 0.0
    d = report.disagreement
    if d is None:
        out.write(
            f"no disagreement with {shlex.join(command)} in {report.inputs} inputs "
            f"({report.seconds:.1f} s, {rate:.1f} inputs/s)\n"
        )
        return 0
    out.write(f"disagreement with {shlex.join(command)} on input {report.iteration}\n")
    labels = "; ".join(str(m) for m in report.mutations) or "unmutated base stream"
    out.write(f"mutations: {labels}\n")
    out.write(
        f"input: {len(report.original)} bytes, minimised to {len(report.minimised)} bytes "
        f"in {report.shrink_calls} runs\n"
    )
    out.write(f"minimised input (hex): {_hex(report.minimised)}\n")
    where = "exit status" if d.index is None else f"output line {d.index + 1}"
    keys = f" (differing keys: {', '.join(sorted(d.keys))})" if d.keys else ""
    out.write(f"first difference at {where}{keys}:\n")
    out.write(f"  ours:   {d.ours}\n")
    out.write(f"  theirs: {d.theirs}\n")
    return 1
