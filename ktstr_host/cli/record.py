"""``ktstr-host record`` and ``ktstr-host import``: capture channels into a transcript."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import math
import sys
import time
from typing import IO, Any

from ktstr_proto.channels import NAMES
from ktstr_proto.errors import UsageError
from ktstr_proto.profiles import get_profile, profile_names
from ktstr_proto.transcript import Chunk, Header

from ..output_files import STDOUT, check_output, create_streaming
from ..session.live import LiveDecoder
from ..transcripts.io import TranscriptWriter, save_transcript
from ..transcripts.recorder import Port, Recorder, import_captures, open_port
from ..transcripts.stop_signals import StopSignals
from .numbers import seconds
from .terminal import Ticker

CHANNELS: tuple[str, ...] = NAMES


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "record",
        help="record live channels (pyserial URLs, devices, files) into a transcript",
        description="Record until every channel ends, --duration passes, or SIGINT/SIGTERM/"
        "SIGHUP (then everything read is written with an 'interrupted' mark and the exit "
        "status is 128+signal). The transcript is written line by line as data arrives, so "
        "a recorder killed hard leaves a readable file. Sources: socket://HOST:PORT, "
        "/dev/pts/N, a serial device, any pyserial URL, or file:PATH.",
    )
    for ch in CHANNELS:
        p.add_argument(f"--{ch}", metavar="SOURCE", help=f"where to read {ch} from")
    p.add_argument(
        "--out", required=True, metavar="T.jsonl", help="transcript to write (.gz ok; '-': stdout)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--profile", default="ktstr-0.15", help=", ".join(profile_names()))
    p.add_argument(
        "--duration", type=seconds("--duration"), metavar="S", help="stop after S seconds"
    )
    p.add_argument("--quiet", action="store_true", help="no live event lines, no progress")
    p.set_defaults(run=run_record)

    q: argparse.ArgumentParser = sub.add_parser(
        "import", help="turn raw capture files (bulk dump, COM1/COM2 logs) into a transcript"
    )
    for ch in CHANNELS:
        q.add_argument(f"--{ch}", metavar="FILE", help=f"raw {ch} capture")
    q.add_argument("--out", required=True, metavar="T.jsonl", help="'-' writes stdout")
    q.add_argument("--force", action="store_true", help="replace an existing output file")
    q.add_argument("--profile", default="ktstr-0.15", help=", ".join(profile_names()))
    q.set_defaults(run=run_import)


def _sources(args: argparse.Namespace) -> dict[str, str]:
    sources = {ch: getattr(args, ch) for ch in CHANNELS if getattr(args, ch)}
    if not sources:
        options = ", ".join(f"--{ch}" for ch in CHANNELS)
        raise UsageError(f"no channel given ({options})")
    return sources


def run_import(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    if args.out != STDOUT:
        check_output(args.out, args.force)
    transcript = import_captures(profile.name, _sources(args))
    save_transcript(args.out, transcript, force=args.force)
    note = sys.stderr if args.out == STDOUT else sys.stdout
    note.write(f"wrote {args.out}: {len(transcript.events)} chunks\n")
    return 0


def _open_ports(sources: dict[str, str]) -> dict[str, Port]:
    ports: dict[str, Port] = {}
    try:
        for channel, source in sources.items():
            ports[channel] = open_port(source)
    except BaseException:
        for port in ports.values():
            with contextlib.suppress(OSError):
                port.close()
        raise
    return ports


def run_record(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    sources = _sources(args)
    if args.duration is not None and not 0 < args.duration < math.inf:
        raise UsageError("--duration must be a positive number of seconds")
    to_stdout = args.out == STDOUT
    if not to_stdout:
        check_output(args.out, args.force)
    live = LiveDecoder(profile)
    shown = sys.stderr if to_stdout else sys.stdout
    header = Header(
        profile.name,
        recorder={"name": "ktstr-py", "source": "record", "inputs": sources},
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )

    def show(chunk: Chunk) -> None:
        if not args.quiet:
            for line in live.feed(chunk):
                shown.write(f"{chunk.t:>10.6f}  {line}\n")
            shown.flush()

    ports = _open_ports(sources)  # the output is created only once every source opened
    try:
        stream = sys.stdout.buffer if to_stdout else create_streaming(args.out, args.force)
    except BaseException:
        for port in ports.values():
            port.close()
        raise
    with contextlib.ExitStack() as files:
        if not to_stdout:
            files.callback(stream.close)
        target: IO[bytes] = stream
        if str(args.out).endswith(".gz"):
            gz = gzip.GzipFile(fileobj=stream, mode="wb")
            files.callback(gz.close)
            target = gz  # type: ignore[assignment]
        writer = files.enter_context(TranscriptWriter(target, header))
        recorder = Recorder(header, writer, on_chunk=show)
        for channel, port in ports.items():
            recorder.add(channel, port)
        status = _record(recorder, writer, sources, args)
    if not args.quiet:
        for line in live.close():
            shown.write(f"{'end':>10}  {line}\n")
    total = sum(recorder.bytes_by_channel.values())
    (sys.stderr if to_stdout else sys.stdout).write(f"recorded {total} bytes into {args.out}\n")
    return status


def _record(
    recorder: Recorder, writer: TranscriptWriter, sources: dict[str, str], args: argparse.Namespace
) -> int:
    """Run until the channels end, --duration passes or a stop signal; 128+signal then."""
    ticker = Ticker(args.quiet)
    start = time.monotonic()
    last_tick = -1.0

    def progress() -> bool:
        nonlocal last_tick
        now = time.monotonic()
        if ticker.active and now - last_tick >= 1.0:
            last_tick = now
            sizes = " ".join(f"{ch} {recorder.bytes_by_channel.get(ch, 0)} B" for ch in sources)
            ticker.show(f"[{now - start:7.1f} s] {sizes}")
        return args.duration is not None and now - start >= args.duration

    with StopSignals(recorder.stop) as signals:
        try:
            recorder.start()
            recorder.run(until=progress)
        finally:
            recorder.close()
            ticker.end()
        name = signals()
        if name is not None:
            writer.mark(recorder.now(), "interrupted", signal=name)
            sys.stderr.write(f"ktstr-host: {name}: recording stopped, everything read is kept\n")
    return signals.exit_status or 0
