"""``ktstr-host record`` and ``ktstr-host import``: capture channels into a transcript."""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from ktstr_proto.errors import UsageError
from ktstr_proto.profiles import get_profile, profile_names
from ktstr_proto.transcript import Chunk, Header

from ..live import LiveDecoder
from ..recorder import Recorder, import_captures
from ..transcript_io import write_transcript
from .numbers import seconds

CHANNELS = ("bulk", "com1", "com2", "hvc0", "stats")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "record",
        help="record live channels (pyserial URLs, devices, files) into a transcript",
        description="Record until every channel ends, --duration passes, or SIGINT/SIGTERM; "
        "everything read is written. Sources: socket://HOST:PORT, /dev/pts/N, a serial "
        "device, any pyserial URL, or file:PATH.",
    )
    for ch in CHANNELS:
        p.add_argument(f"--{ch}", metavar="SOURCE", help=f"where to read {ch} from")
    p.add_argument("--out", required=True, metavar="T.jsonl", help="transcript to write (.gz ok)")
    p.add_argument("--profile", default="ktstr-0.15", help=", ".join(profile_names()))
    p.add_argument(
        "--duration", type=seconds("--duration"), metavar="S", help="stop after S seconds"
    )
    p.add_argument("--quiet", action="store_true", help="no live event lines")
    p.set_defaults(run=run_record)

    q: argparse.ArgumentParser = sub.add_parser(
        "import", help="turn raw capture files (bulk dump, COM1/COM2 logs) into a transcript"
    )
    for ch in CHANNELS:
        q.add_argument(f"--{ch}", metavar="FILE", help=f"raw {ch} capture")
    q.add_argument("--out", required=True, metavar="T.jsonl")
    q.add_argument("--profile", default="ktstr-0.15", help=", ".join(profile_names()))
    q.set_defaults(run=run_import)


def _sources(args: argparse.Namespace) -> dict[str, str]:
    sources = {ch: getattr(args, ch) for ch in CHANNELS if getattr(args, ch)}
    if not sources:
        raise UsageError("no channel given (--bulk, --com1, --com2, --hvc0, --stats)")
    return sources


def run_import(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    transcript = import_captures(profile.name, _sources(args))
    write_transcript(args.out, transcript)
    sys.stdout.write(f"wrote {args.out}: {len(transcript.events)} chunks\n")
    return 0


def run_record(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    sources = _sources(args)
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    if str(args.out).endswith(".gz"):
        sys.stderr.write(
            "note: a .gz transcript cannot be read if the recorder is killed hard; "
            "record to .jsonl and compress afterwards for crash safety\n"
        )
    live = LiveDecoder(profile)
    header = Header(
        profile.name,
        recorder={"name": "ktstr-py", "source": "record", "inputs": sources},
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )

    def show(chunk: Chunk) -> None:
        if not args.quiet:
            for line in live.feed(chunk):
                sys.stdout.write(f"{chunk.t:>10.6f}  {line}\n")
            sys.stdout.flush()

    recorder = Recorder(header, args.out, on_chunk=show)
    try:
        for channel, source in sources.items():
            recorder.add(channel, source)
    except BaseException:
        recorder.close()
        Path(args.out).unlink(missing_ok=True)  # no header-only transcript left behind
        raise

    def stop(signum: int, frame: FrameType | None) -> None:
        recorder.stop()

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    last_progress = 0.0
    start = time.monotonic()

    def progress() -> bool:
        nonlocal last_progress
        now = time.monotonic()
        if now - last_progress >= 1.0:
            last_progress = now
            sizes = " ".join(f"{ch} {recorder.bytes_by_channel.get(ch, 0)} B" for ch in sources)
            sys.stderr.write(f"\r[{now - start:7.1f} s] {sizes}")
            sys.stderr.flush()
        return args.duration is not None and now - start >= args.duration

    try:
        recorder.start()
        recorder.run(until=progress)
    finally:
        recorder.close()
        for s, handler in old.items():
            signal.signal(s, handler)
    sys.stderr.write("\n")
    if not args.quiet:
        for line in live.close():
            sys.stdout.write(f"{'end':>10}  {line}\n")
    total = sum(recorder.bytes_by_channel.values())
    sys.stdout.write(f"recorded {total} bytes into {args.out}\n")
    return 0
