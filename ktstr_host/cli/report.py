"""``ktstr-host report``: the run result of a transcript or of raw channel captures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ktstr_proto.channels import WAKE_CHANNEL
from ktstr_proto.errors import UsageError
from ktstr_proto.profiles import get_profile, profile_names

from ..export_common import OutputExistsError
from ..export_html import write_html
from ..recorder import import_captures
from ..result_builder import build_run_result
from ..transcript_io import read_transcript


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="the run report of a transcript or of raw bulk/COM1/COM2 captures",
        description="Build the run result (verdict, stage, crash, dump, anomalies). "
        "Exit status: 0 passed (or skipped), 1 failed, 2 unusable input.",
    )
    p.add_argument("transcript", nargs="?", help="a transcript (.jsonl or .jsonl.gz)")
    p.add_argument("--bulk", metavar="FILE", help="raw bulk (virtio port 1) bytes")
    p.add_argument("--com1", metavar="FILE", help="raw COM1 capture")
    p.add_argument("--com2", metavar="FILE", help="raw COM2 capture")
    p.add_argument("--hvc0", metavar="FILE", help="raw bytes the host wrote on hvc0 (wake bytes)")
    p.add_argument(
        "--profile",
        help=f"protocol profile ({', '.join(profile_names())}); "
        "default: the transcript's, else ktstr-0.15",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--html",
        metavar="OUT.html",
        help="also write a self-contained HTML page with the run on a timeline",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --html file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raw = {ch: getattr(args, ch) for ch in ("bulk", "com1", "com2", "hvc0") if getattr(args, ch)}
    if args.transcript and raw:
        raise UsageError("give either a transcript or raw captures (--bulk/--com1/--com2)")
    if not args.transcript and not raw:
        raise UsageError("nothing to report: give a transcript or --bulk/--com1/--com2 files")
    profile = get_profile(args.profile) if args.profile else None
    if args.transcript:
        transcript = read_transcript(args.transcript)
    else:
        transcript = import_captures(
            profile.name if profile else "ktstr-0.15", raw, host_to_guest=(WAKE_CHANNEL,)
        )
    if not any(c.data for c in transcript.chunks):
        raise UsageError("no data: every channel is empty, there is no run to report on")
    result = build_run_result(transcript, profile)
    if args.html:
        try:
            write_html(transcript, result, args.html, overwrite=args.force)
        except OutputExistsError as exc:
            raise UsageError(f"{exc} (use --force to replace it)") from None
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(result.render())
    return result.status.exit_status
