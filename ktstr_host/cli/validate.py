"""``ktstr-host validate``: check a transcript strictly, line by line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ktstr_proto.profiles import profile_names
from ktstr_proto.transcript import Chunk

from ..transcripts.io import TranscriptReader, truncation_note


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="check a transcript file (exit 0 when valid, 2 when not)",
        description="A torn final line (a recorder killed mid-write) is a warning: the "
        "lines before it are valid. With --strict it is an error.",
    )
    p.add_argument("transcript")
    p.add_argument("--strict", action="store_true", help="a torn final line is an error too")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    counts: dict[tuple[str, str], list[int]] = {}
    marks = 0
    last_t = 0.0
    with TranscriptReader(args.transcript, strict=args.strict) as reader:
        header = reader.header
        for event in reader:
            last_t = event.t
            if isinstance(event, Chunk):
                entry = counts.setdefault((event.channel, event.direction), [0, 0])
                entry[0] += 1
                entry[1] += len(event.data)
            else:
                marks += 1
        truncated = reader.truncated
    out = sys.stdout
    out.write(
        f"{args.transcript}: valid ktstr transcript v{header.version}, profile "
        f"{header.profile}, {last_t:.3f} s\n"
    )
    for (channel, direction), (n, size) in sorted(counts.items()):
        out.write(f"  {channel:<6} {direction}  {n:>7} chunks  {size:>12} bytes\n")
    out.write(f"  marks {marks}\n")
    if truncated is not None:
        sys.stderr.write(f"warning: {args.transcript}: {truncation_note(truncated)}\n")
    if header.profile not in profile_names():
        out.write(
            f"  note: profile {header.profile!r} is not registered here; `report` needs --profile\n"
        )
    return 0
