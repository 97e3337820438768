"""``ktstr-host report``: the run result of a transcript or of raw channel captures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ktstr_proto.channels import WAKE_CHANNEL
from ktstr_proto.errors import UsageError
from ktstr_proto.profiles import Profile, get_profile, profile_names
from ktstr_proto.transcript import Chunk, Direction

from ..export.common import OutputExistsError
from ..export.html import write_html
from ..session.run_input import CaptureFiles
from ..session.run_session import RunSession
from ..transcripts.io import TranscriptReader, read_transcript, truncation_note
from ..transcripts.recorder import import_captures


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
    p.add_argument(
        "--full",
        metavar="DIR",
        help="also write each large field whole to its own file in DIR (stdout.txt, "
        "stderr.txt, sched_log.txt, dmesg.txt, probe_output.txt, sched_ext_dump.txt, "
        "wprof.bin, profraw-OFFSET.bin); the report keeps a bounded head and tail",
    )
    p.add_argument(
        "--force", action="store_true", help="replace an existing --html file or --full files"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raw = {ch: getattr(args, ch) for ch in ("bulk", "com1", "com2", "hvc0") if getattr(args, ch)}
    if args.transcript and raw:
        raise UsageError("give either a transcript or raw captures (--bulk/--com1/--com2)")
    if not args.transcript and not raw:
        raise UsageError("nothing to report: give a transcript or --bulk/--com1/--com2 files")
    profile = get_profile(args.profile) if args.profile else None
    if args.transcript:
        session = _from_transcript(args.transcript, profile, args)
    else:
        captures = CaptureFiles(
            profile.name if profile else "ktstr-0.15", raw, host_to_guest=(WAKE_CHANNEL,)
        )
        session = _session(captures.header.profile, args)
        for channel in raw:
            direction: Direction = "h2g" if channel == WAKE_CHANNEL else "g2h"
            for block in captures.iter_chunks(channel, direction):
                session.feed(channel, block, None, direction)
    if not session.bytes_fed:
        raise UsageError("no data: every channel is empty, there is no run to report on")
    session.close()
    result = session.result()
    if args.html:
        transcript = (
            read_transcript(args.transcript)
            if args.transcript
            else import_captures(
                profile.name if profile else "ktstr-0.15", raw, host_to_guest=(WAKE_CHANNEL,)
            )
        )
        try:
            write_html(transcript, result, args.html, overwrite=args.force)
        except OutputExistsError as exc:
            raise UsageError(f"{exc} (use --force to replace it)") from None
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(result.render())
    return result.status.exit_status


def _session(profile: str | Profile, args: argparse.Namespace) -> RunSession:
    return RunSession(profile, full_dir=args.full, force=args.force)


def _from_transcript(path: str, profile: Profile | None, args: argparse.Namespace) -> RunSession:
    """A transcript streamed line by line into a session (plain or ``.gz``)."""
    with TranscriptReader(path) as reader:
        session = _session(profile if profile is not None else reader.header.profile, args)
        for event in reader:
            if isinstance(event, Chunk):
                session.feed(event.channel, event.data, event.t, event.direction)
            else:
                session.mark(event)
        if reader.truncated is not None:
            session.transcript_truncated(truncation_note(reader.truncated))
    return session
