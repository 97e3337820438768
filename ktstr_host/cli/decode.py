"""``ktstr-host decode FILE``: print every bulk event of a raw bulk byte stream."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ktstr_proto.errors import UsageError
from ktstr_proto.profiles import get_profile, profile_names

from ..decode.bulk import BulkDecoder
from ..decode.describe import describe_event, format_event
from ..transcripts.io import GZIP_MAGIC
from .inputs import open_input, read_chunks
from .numbers import MAX_CHUNK, int_in

DEFAULT_CHUNK = 1 << 20


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "decode",
        help="decode a raw bulk (virtio port 1) byte stream",
        description="Decode a raw bulk byte stream into frames and drop events.",
    )
    p.add_argument("file", help="raw bulk bytes; '-' reads standard input")
    p.add_argument(
        "--profile", default="ktstr-0.15", help=f"protocol profile ({', '.join(profile_names())})"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument(
        "--chunk-size",
        type=int_in("--chunk-size", 1, MAX_CHUNK),
        default=DEFAULT_CHUNK,
        metavar="N",
        help="feed the decoder N bytes at a time (default 1 MiB)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    if args.chunk_size <= 0:
        raise UsageError("--chunk-size must be positive")
    decoder = BulkDecoder(profile)
    out = sys.stdout
    stream = open_input(args.file)
    try:
        _refuse_known_formats(args.file, stream)
        for chunk in read_chunks(stream, args.chunk_size):
            for event in decoder.feed(chunk):
                _emit(event, profile, args.json, out)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    for event in decoder.close():
        _emit(event, profile, args.json, out)
    s = decoder.stats
    summary = {
        "event": "end",
        "bytes": s.fed,
        "frames": s.frames,
        "framed_bytes": s.framed,
        "drops": s.drops,
        "dropped_bytes": s.dropped,
    }
    if s.fed and not s.frames:
        sys.stderr.write(
            f"note: {args.file}: no bulk frame in {s.fed} bytes; this does not look like a "
            f"bulk (virtio port 1) capture for profile {profile.name}\n"
        )
    if args.json:
        out.write(json.dumps(summary) + "\n")
    else:
        out.write(
            f"-- {s.frames} frames ({s.framed} bytes), {s.drops} drops ({s.dropped} bytes), "
            f"{s.fed} bytes read\n"
        )
    return 0


_KNOWN_FORMATS = (
    (
        b'{"format": "ktstr-transcript"',
        "a ktstr transcript (try `ktstr-host report` or `export --raw`)",
    ),
    (GZIP_MAGIC, "gzip-compressed (a .jsonl.gz transcript? try `ktstr-host report`)"),
    (b"\x0a\x0d\x0d\x0a", "a pcapng file"),
)


def _refuse_known_formats(name: str, stream: Any) -> None:
    """Stop with a clear error when the input is a file format that is not raw bulk."""
    head = stream.peek(32)[:32] if hasattr(stream, "peek") else b""
    for magic, what in _KNOWN_FORMATS:
        if head.startswith(magic):
            raise UsageError(f"{name}: this is {what}, not raw bulk bytes")


def _emit(event: Any, profile: Any, as_json: bool, out: Any) -> None:
    if as_json:
        out.write(json.dumps(describe_event(event, profile)) + "\n")
    else:
        out.write(format_event(event, profile) + "\n")
