"""``ktstr-host replay``: play a recorded guest back and print its decoded events."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Mark

from ..session.live import LiveDecoder
from ..transcripts.io import TranscriptReader, truncation_note
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
    """Stream the transcript line by line (plain or ``.gz``), paced by its times, through
    a live :class:`~ktstr_host.session.RunSession`; the recorded host writes play too."""
    if args.speed is not None and not args.speed > 0:
        raise UsageError("--speed must be positive")
    out = sys.stdout
    with TranscriptReader(args.transcript) as reader:
        live = LiveDecoder(reader.header.profile, lines=not args.no_lines)
        start = time.monotonic()
        for event in reader:
            if isinstance(event, Mark):
                live.mark(event)
                continue
            if args.speed is not None:
                delay = event.t / args.speed - (time.monotonic() - start)
                if delay > 0:
                    time.sleep(delay)  # pacing the display, not synchronisation
            for line in live.feed(event):
                out.write(f"{event.t:>10.6f}  {line}\n")
            out.flush()
        if reader.truncated is not None:
            live.session.transcript_truncated(truncation_note(reader.truncated))
    for line in live.close():
        out.write(f"{'end':>10}  {line}\n")
    result = live.session.result()
    reasons = "; ".join(r.replace("\n", " ") for r in result.reasons)
    out.write(
        f"-- replay complete; run {result.status.value.upper()}"
        + (f": {reasons}" if reasons else "")
        + "\n"
    )
    return result.status.exit_status
