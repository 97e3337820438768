"""``ktstr-host export TRANSCRIPT (--pcapng OUT | --raw DIR)``: pcapng or raw byte files."""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

from ..export.pcapng import export_pcapng
from ..export.raw import export_raw
from ..output_files import STDOUT, output_stream
from ..transcripts.io import PathLike


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="export a transcript as pcapng (Wireshark) or raw per-channel byte files",
        description="Export a transcript as a pcapng file (one interface per channel and "
        "direction, marks as commented packets) or as one raw file per channel and "
        "direction (bulk.g2h.bin, ...). See docs/export.md.",
    )
    p.add_argument("transcript", help="transcript (.jsonl or .jsonl.gz); '-' reads standard input")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--pcapng", metavar="OUT", help="write a pcapng file; '-' writes stdout")
    out.add_argument("--raw", metavar="DIR", help="write <channel>.<direction>.bin files in DIR")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    source: PathLike | IO[bytes] = sys.stdin.buffer if args.transcript == "-" else args.transcript
    if args.raw is not None:
        for path in export_raw(source, args.raw, overwrite=args.force):
            print(f"{path}\t{path.stat().st_size} bytes")
    elif args.pcapng == STDOUT:
        with output_stream(STDOUT, args.force) as out:
            export_pcapng(source, out)
    else:
        s = export_pcapng(source, args.pcapng, overwrite=args.force)
        print(
            f"{args.pcapng}: {s.packets} packets ({s.chunks} chunks, {s.marks} marks), "
            f"{s.data_bytes} data bytes"
        )
    return 0
