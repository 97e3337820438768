"""``ktstr-host replay``: play a recorded guest back and print its decoded events."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ktstr_proto.errors import UsageError

from ..live import LiveDecoder
from ..replay import Replayer
from ..result_builder import build_run_result
from .numbers import seconds


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "replay", help="replay a transcript, printing the decoded events as they come"
    )
    p.add_argument("transcript")
    p.add_argument(
        "--speed",
        type=seconds("--speed", hi=1e9),
        default=None,
        metavar="X",
        help="pace: 1 = real time, 2 = twice as fast (default: as fast as possible)",
    )
    p.add_argument("--no-lines", action="store_true", help="hide plain console lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.speed is not None and not args.speed > 0:
        raise UsageError("--speed must be positive")
    replayer = Replayer(args.transcript, speed=args.speed)
    live = LiveDecoder(replayer.header.profile, lines=not args.no_lines)
    out = sys.stdout
    for chunk in replayer.stream(auto_reply=True):
        for line in live.feed(chunk):
            out.write(f"{chunk.t:>10.6f}  {line}\n")
        out.flush()
    for line in live.close():
        out.write(f"{'end':>10}  {line}\n")
    result = build_run_result(replayer.transcript)
    out.write(
        f"-- replay complete; run {result.status.value.upper()}"
        + (
            f": {'; '.join(r.replace(chr(10), ' ') for r in result.reasons)}"
            if result.reasons
            else ""
        )
        + "\n"
    )
    return result.status.exit_status
