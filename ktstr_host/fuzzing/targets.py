"""Fuzz targets: ``fuzz_one_input(data: bytes)`` per decoder, with oracles.

Each entry point takes arbitrary bytes (the format atheris/libFuzzer and the runners
feed), decodes a few leading option bytes, runs the decoder and checks its promises.
A broken promise raises :class:`OracleError`; any other exception escaping a target is
a finding too (the decoders document which errors they raise, and bytes from a peer
must never cause anything else).

Input layouts (first bytes, then the subject):

* ``bulk``: ``[profile][plan][cuts...] stream``. ``profile`` indexes
  :data:`FUZZ_PROFILES` (modulo); ``plan`` says how the stream is cut into feeds
  (see :func:`decode_plan`).
* ``bulk-cap``: ``[profile][size] pattern``: the real 16 MiB cap of the built-in
  profiles, on ``pattern`` repeated to ``size`` (0: just past the cap), fed in 64 KiB
  reads; no reference model (too slow at this size), a time budget per input instead.
* ``serial``: ``[options][plan][cuts...] stream``; ``options`` picks the channel, the
  capture model, ``max_line``, the panic latch and ``lines`` (bit 7 set: off); the
  events must equal those of the reference decoder (``serial_reference``).
* ``payloads``: ``[decoder] payload``; ``decoder`` indexes :data:`PAYLOAD_DECODERS`.
* ``transcript``: ``[options] file``; option bit 0 selects a small ``max_line``; a
  transcript that reads is also played into a RunSession (its result must build).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import random
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ktstr_proto.errors import PayloadError, UsageError
from ktstr_proto.frame import HEADER_SIZE
from ktstr_proto.payloads import decode_fixed
from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.schemas import (
    decode_assert_result,
    decode_assert_result_as,
    decode_kernel_op_reply,
    decode_kernel_op_request,
    decode_payload_metrics,
    decode_raw_payload_output,
    encode_assert_result,
    encode_kernel_op_reply,
    encode_kernel_op_request,
    encode_payload_metrics,
    encode_raw_payload_output,
    to_jsonable,
)
from ktstr_proto.serial import (
    CAPTURE_CAP,
    CAPTURE_TRIM,
    KERNEL_PANIC_FALLBACK,
    KERNEL_PANIC_MARKERS,
    PANIC_LATCH_TAIL,
    decode_lossy,
    rust_lines,
    rust_trim,
)
from ktstr_proto.tags import MsgType, tag_label
from ktstr_proto.transcript import Chunk, Transcript, TranscriptError, encode_event, encode_header

from ..decode.bulk import BulkDecoder, scan_tlv_stream
from ..decode.describe import describe_event
from ..decode.events import BulkEvent, Dropped, DropReason, Frame
from ..decode.serial import (
    DEFAULT_MAX_LINE,
    CaptureTruncated,
    DumpEnd,
    DumpStart,
    DumpUnterminated,
    KernelPanic,
    Line,
    SerialDecoder,
    SerialEvent,
)
from ..session.run_session import RunSession
from ..transcripts.io import TranscriptReader, write_transcript
from .reference import ReferenceAssembler, reference_parse
from .serial_reference import ReferenceSerialDecoder


class OracleError(AssertionError):
    """A decoder broke one of its promises on a fuzz input."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise OracleError(message)


# ---- profiles and read plans -----------------------------------------------------------

SMALL_CAP = 64
"""Cap of the small-cap profile variants: oversized frames and residual overflows stay
cheap to reach."""


BUILTIN_BULK_PROFILES = ("ktstr-0.15", "ktstr-0.10", "ktstr-bulk-256k", "ktstr-0.20", "ktstr-0.44")


def _fuzz_profiles() -> tuple[Profile, ...]:
    real = [get_profile(n) for n in BUILTIN_BULK_PROFILES]
    small = [
        dataclasses.replace(get_profile(n), name=f"{n}/cap{SMALL_CAP}", cap=SMALL_CAP)
        for n in ("ktstr-0.15", "ktstr-bulk-256k", "ktstr-0.44")
    ]
    return (*real, *small)


FUZZ_PROFILES: tuple[Profile, ...] = _fuzz_profiles()
"""Profiles the bulk target selects from: the built-in bulk profiles, then small-cap
variants of the three decoding behaviours (clear, header cap, forward scan). The order
is fixed so that a saved input always selects the same profile."""

PLAN_ONE, PLAN_BYTEWISE, PLAN_CUTS = 0, 1, 2
PLAN_TAKE_RESIDUAL = 0x80
MAX_READS = 4096
"""Read plans are coarsened beyond this many feeds (the naive reference rescans its
buffer on every feed)."""
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


def encode_plan(cuts: Sequence[int] = (), *, take_residual: bool = False) -> bytes:
    """The plan bytes for explicit read boundaries (``PLAN_CUTS``) or one read."""
    flag = PLAN_TAKE_RESIDUAL if take_residual else 0
    if not cuts:
        return bytes([PLAN_ONE | flag])
    if len(cuts) > 0xFFFF:
        raise UsageError("at most 65535 cuts")
    return bytes([PLAN_CUTS | flag]) + _U16.pack(len(cuts)) + b"".join(_U32.pack(c) for c in cuts)


def decode_plan(data: bytes, pos: int) -> tuple[bytes, list[bytes], bool]:
    """Read a plan at ``data[pos]``; return the stream, its reads and the residual flag.

    Plan values (low 7 bits): 0 = one read; 1 = one byte per read; 2 = explicit cuts
    (u16 count, then u32 LE offsets); n >= 3 = chunk sizes drawn from
    ``random.Random(n)`` in 1..4n. Bit 7 asks for ``take_residual()`` midway.
    """
    if pos >= len(data):
        return b"", [], False
    plan = data[pos]
    flag = bool(plan & PLAN_TAKE_RESIDUAL)
    kind = plan & 0x7F
    pos += 1
    cuts: list[int] = []
    if kind == PLAN_CUTS:
        n = _U16.unpack_from(data, pos)[0] if pos + 2 <= len(data) else 0
        pos += 2
        for _ in range(n):
            if pos + 4 > len(data):
                break
            cuts.append(_U32.unpack_from(data, pos)[0])
            pos += 4
    stream = data[pos:]
    size = len(stream)
    if kind == PLAN_BYTEWISE:
        cuts = list(range(1, size))
    elif kind >= 3:
        rng = random.Random(kind)
        at = 0
        while at < size:
            at += rng.randint(1, 4 * kind)
            cuts.append(at)
    if len(cuts) > MAX_READS:
        cuts = cuts[:: len(cuts) // MAX_READS + 1]
    bounds = [0, *sorted({c for c in cuts if 0 < c < size}), size]
    reads = [stream[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return stream, reads, flag


def encode_bulk_input(
    profile: int | str, stream: bytes, cuts: Sequence[int] = (), *, take_residual: bool = False
) -> bytes:
    """A ``bulk`` target input: profile (index or name), explicit reads, stream."""
    index = profile if isinstance(profile, int) else bulk_profile_index(profile)
    return bytes([index % 256]) + encode_plan(cuts, take_residual=take_residual) + stream


def bulk_profile_index(name: str) -> int:
    for i, p in enumerate(FUZZ_PROFILES):
        if p.name == name:
            return i
    raise UsageError(f"no fuzz profile {name!r}; known: {', '.join(p.name for p in FUZZ_PROFILES)}")


# ---- bulk --------------------------------------------------------------------------------


def memory_bound(profile: Profile) -> int:
    """Most bytes a bulk decoder may hold between feeds under ``profile``."""
    if profile.cap_check == "header":
        return max(2 * profile.cap, profile.cap + HEADER_SIZE)
    return 2 * profile.cap


def _as_ref(events: list[BulkEvent]) -> list[tuple[int, bytes, bool]]:
    return [(e.msg_type, bytes(e.payload), e.crc_ok) for e in events if isinstance(e, Frame)]


def _key(e: BulkEvent) -> tuple[Any, ...]:
    if isinstance(e, Frame):
        return ("frame", e.offset, e.msg_type, bytes(e.payload), e.crc_ok, e.pad, e.crc32)
    return ("dropped", e.offset, e.dropped, e.reason, e.msg_type, e.length)


def _check_events_against_stream(events: list[BulkEvent], stream: bytes, where: str) -> None:
    for e in events:
        if isinstance(e, Frame):
            hdr = stream[e.offset : e.offset + HEADER_SIZE]
            _check(len(hdr) == HEADER_SIZE, f"{where}: frame at {e.offset} past the stream end")
            msg_type, length, crc, pad = struct.unpack("<IIII", hdr)
            _check(
                (msg_type, length, crc, pad) == (e.msg_type, e.length, e.crc32, e.pad),
                f"{where}: frame at {e.offset} does not match the header bytes there",
            )
            body = stream[e.offset + HEADER_SIZE : e.offset + e.size]
            _check(body == bytes(e.payload), f"{where}: payload of frame at {e.offset} differs")
        else:
            _check(
                stream[e.offset : e.offset + e.size] == e.dropped,
                f"{where}: dropped bytes at {e.offset} are not the stream's bytes",
            )


def _check_tiling(
    events: list[BulkEvent], gaps: list[tuple[int, int]], end: int, where: str
) -> None:
    spans = sorted([(e.offset, e.offset + e.size) for e in events] + gaps)
    pos = 0
    for a, b in spans:
        _check(a == pos, f"{where}: events leave a gap or overlap at offset {pos} (next {a})")
        pos = b
    _check(pos == end, f"{where}: events cover {pos} of {end} bytes")


def _describe_all(events: list[BulkEvent], profile: Profile) -> None:
    for e in events:
        json.dumps(describe_event(e, profile))  # what `ktstr-host decode --json` prints


def check_bulk(
    profile: Profile, stream: bytes, reads: Sequence[bytes], *, take_residual: bool = False
) -> list[BulkEvent]:
    """Feed ``reads`` (which concatenate to ``stream``) and check every bulk oracle;
    return the events."""
    _check(b"".join(reads) == stream, "harness: reads do not concatenate to the stream")
    d = BulkDecoder(profile)
    ref = ReferenceAssembler(profile)
    bound = memory_bound(profile)
    events: list[BulkEvent] = []
    gaps: list[tuple[int, int]] = []
    residual_at = len(reads) // 2 if take_residual else -1
    for i, chunk in enumerate(reads):
        got = d.feed(chunk)
        want = ref.feed(chunk)
        where = f"feed {i} (stream offset {d.offset - len(chunk)}, {len(chunk)} bytes)"
        _check(
            _as_ref(got) == want,
            f"{where}: frames differ from upstream's model: {_as_ref(got)!r} != {want!r}",
        )
        _check(d.pending == ref.pending, f"{where}: pending {d.pending} != upstream {ref.pending}")
        _check(d.stats.balanced, f"{where}: byte accounting broken: {d.stats}")
        _check(d.pending <= bound, f"{where}: {d.pending} bytes pending > bound {bound}")
        events.extend(got)
        if i == residual_at:
            start = d.offset - d.pending
            taken = d.take_residual()
            _check(taken == bytes(ref.buf), "take_residual() differs from upstream's buffer")
            _check(taken == stream[start : start + len(taken)], "take_residual() bytes differ")
            ref.buf.clear()
            gaps.append((start, start + len(taken)))
    events.extend(d.close())
    s = d.stats
    _check(s.balanced and s.pending == 0, f"after close: {s}")
    _check(s.fed == len(stream), f"fed {s.fed} != {len(stream)}")
    _check_events_against_stream(events, stream, "stream")
    _check_tiling(events, [g for g in gaps if g[1] > g[0]], len(stream), "stream")
    _describe_all(events, profile)

    oneshot = scan_tlv_stream(stream, profile)
    _check(_as_ref(oneshot) == reference_parse(stream, profile), "one-shot parse != upstream")
    _check_events_against_stream(oneshot, stream, "one-shot")
    _check_tiling(oneshot, [], len(stream), "one-shot")

    split_invariant = (
        not take_residual
        and profile.resync == "clear"
        and not any(isinstance(e, Dropped) and e.reason == DropReason.OVERSIZED for e in oneshot)
    )
    if split_invariant and len(reads) > 1:
        whole = BulkDecoder(profile)
        once = whole.feed(stream) + whole.close()
        a, b = [_key(e) for e in once], [_key(e) for e in events]
        _check(a == b, f"split changed the events (no header over the cap): {a!r} != {b!r}")
    return events


def fuzz_bulk(data: bytes) -> None:
    """Bulk decoder target (layout in the module docstring)."""
    if not data:
        return
    profile = FUZZ_PROFILES[data[0] % len(FUZZ_PROFILES)]
    stream, reads, flag = decode_plan(data, 1)
    check_bulk(profile, stream, reads, take_residual=flag)


BIG_FEED = 64 * 1024
BIG_BUDGET = 10.0
"""CPU seconds a ``bulk-cap`` input may take (hostile 0.44 input of 17 MiB: about 1.5)."""


def big_stream(pattern: bytes, size_code: int, cap: int) -> bytes:
    """``pattern`` repeated to ``cap`` + 1 MiB bytes (``size_code`` 0) or to
    ``2 ** (size_code % 25)`` bytes."""
    size = cap + HEADER_SIZE + (1 << 20) if size_code == 0 else 1 << (size_code % 25)
    if not pattern:
        return b""
    return (pattern * (size // len(pattern) + 1))[:size]


def check_bulk_large(profile: Profile, stream: bytes, *, budget: float = BIG_BUDGET) -> None:
    """The oracles that hold at any size: byte accounting, the memory bound, events that
    tile the stream in order, and a CPU-time budget."""
    start = time.process_time()
    d = BulkDecoder(profile)
    bound = memory_bound(profile)
    pos = 0
    for at in range(0, len(stream) + 1, BIG_FEED):
        chunk = stream[at : at + BIG_FEED]
        for e in d.feed(chunk) if chunk else d.close():
            _check(e.offset == pos, f"event at {e.offset}, expected {pos}: gap or overlap")
            pos += e.size
        _check(d.stats.balanced, f"offset {at}: byte accounting broken: {d.stats}")
        _check(d.pending <= bound + BIG_FEED, f"offset {at}: {d.pending} bytes pending")
    for e in d.close():
        _check(e.offset == pos, f"event at {e.offset}, expected {pos}: gap or overlap")
        pos += e.size
    _check(pos == len(stream), f"events cover {pos} of {len(stream)} bytes")
    spent = time.process_time() - start
    _check(spent <= budget, f"{len(stream)} bytes took {spent:.1f} s of CPU (budget {budget} s)")


def fuzz_bulk_cap(data: bytes) -> None:
    """Large-stream bulk target (layout in the module docstring)."""
    if len(data) < 3:
        return
    profile = get_profile(BUILTIN_BULK_PROFILES[data[0] % len(BUILTIN_BULK_PROFILES)])
    check_bulk_large(profile, big_stream(data[2:], data[1], profile.cap))


# ---- serial ------------------------------------------------------------------------------

SERIAL_MAX_LINES = (DEFAULT_MAX_LINE, 1, 16, 300)
SMALL_CAPTURE = (1024, PANIC_LATCH_TAIL + 44)


def serial_options(options: int) -> dict[str, Any]:
    """Decoder keyword arguments for a ``serial`` option byte."""
    limit, trim = SMALL_CAPTURE if options & 2 else (CAPTURE_CAP, CAPTURE_TRIM)
    return {
        "channel": "com2" if options & 1 else "com1",
        "capture_limit": None if options & 0x40 else limit,
        "capture_trim": trim,
        "max_line": SERIAL_MAX_LINES[(options >> 2) & 3],
        "panic_latch": bool(options & 0x10) if options & 0x20 else None,
        "lines": not options & 0x80,
    }


def encode_serial_input(options: int, stream: bytes, cuts: Sequence[int] = ()) -> bytes:
    return bytes([options & 0xFF]) + encode_plan(cuts) + stream


MODEL_KERNEL = "6.15"
"""The reference decoder predates kernel-aware dump ends: it models a kernel whose dumps
end with a line (6.15+), so the fast decoder is compared with that release given."""


def _serial(
    kw: dict[str, Any], cls: type[SerialDecoder | ReferenceSerialDecoder] = SerialDecoder
) -> SerialDecoder | ReferenceSerialDecoder:
    options: dict[str, Any] = {
        "capture_limit": kw["capture_limit"],
        "capture_trim": kw["capture_trim"],
        "max_line": kw["max_line"],
        "panic_latch": kw["panic_latch"],
        "lines": kw.get("lines", True),
    }
    if cls is SerialDecoder:
        return SerialDecoder(kw["channel"], kernel_release=MODEL_KERNEL, **options)
    return ReferenceSerialDecoder(kw["channel"], **options)


def check_serial(kw: dict[str, Any], stream: bytes, reads: Sequence[bytes]) -> list[SerialEvent]:
    """Feed ``reads`` to a serial decoder built from ``kw`` and check every oracle."""
    _check(b"".join(reads) == stream, "harness: reads do not concatenate to the stream")
    d = _serial(kw)
    max_line = kw["max_line"]
    events: list[SerialEvent] = []
    for i, chunk in enumerate(reads):
        events += d.feed(chunk)
        _check(d.pending <= max_line, f"feed {i}: {d.pending} bytes pending > max_line")
    events += d.close()
    _check(d.offset == len(stream), f"offset {d.offset} != {len(stream)}")
    whole = _serial(kw)
    once = whole.feed(stream) + whole.close()
    _check(once == events, "split changed the serial events")
    model = _serial(kw, ReferenceSerialDecoder)
    modelled = [e for chunk in reads for e in model.feed(chunk)] + model.close()
    _check(modelled == events, "events differ from the reference decoder's")
    if kw.get("lines", True):
        _check_lines(kw, stream, events)
    else:
        _check(not any(isinstance(e, Line) for e in events), "Line events with lines=False")
    if kw["capture_limit"] is not None:
        start = 0
        while len(stream) - start > kw["capture_limit"]:
            start = start + kw["capture_limit"] + 1 - kw["capture_trim"]
        _check(d.window_start == start, f"capture window {d.window_start} != {start}")
        trims = [e for e in events if isinstance(e, CaptureTruncated)]
        _check(not trims or trims[-1].window_start == start, "last trim != capture window")
    panics = [e for e in events if isinstance(e, KernelPanic)]
    _check(len(panics) <= 1, "kernel panic latched twice")
    latch = kw["panic_latch"] if kw["panic_latch"] is not None else kw["channel"] == "com1"
    want = naive_panic_latch(stream) if latch else None
    _check(panics == ([] if want is None else [want]), f"panic latch {panics} != {want}")
    opened = sum(isinstance(e, DumpStart) for e in events)
    closed = sum(isinstance(e, DumpEnd | DumpUnterminated) for e in events)
    _check(opened == closed, f"{opened} dumps opened, {closed} closed")
    return events


def _check_lines(kw: dict[str, Any], stream: bytes, events: list[SerialEvent]) -> None:
    """The Line events tile the stream and say what Rust's ``lines()`` says."""
    max_line = kw["max_line"]
    lines = [e for e in events if isinstance(e, Line)]
    pos = 0
    for line in lines:
        _check(line.offset == pos, f"line at {line.offset} does not start where the last ended")
        seg = stream[line.offset : line.end]
        content = seg[:-1] if line.terminated else seg
        _check(not line.terminated or seg.endswith(b"\n"), f"line at {line.offset}: no LF")
        if line.crlf:
            _check(content.endswith(b"\r"), f"line at {line.offset}: crlf without CR")
            content = content[:-1]
        _check(line.raw == content[:max_line], f"line at {line.offset}: raw differs")
        _check(line.truncated == (len(content) > max_line), f"line at {line.offset}: truncated")
        _check(line.text == decode_lossy(line.raw), f"line at {line.offset}: text differs")
        pos = line.end
    _check(pos == len(stream), f"lines cover {pos} of {len(stream)} bytes")
    if max_line >= len(stream):
        texts = [line.text for line in lines]
        _check(texts == rust_lines(decode_lossy(stream)), "lines differ from Rust's lines()")


_LATCH_MARKERS = tuple(m.encode() for m in KERNEL_PANIC_MARKERS)


def naive_panic_latch(stream: bytes) -> KernelPanic | None:
    """Upstream's latch, naively: after each byte look at the last 256 bytes; the first
    LF-terminated segment there holding a marker latches (serial.md section 9.1)."""
    for p in (i for i, b in enumerate(stream) if b == 0x0A):
        start = max(0, p - (PANIC_LATCH_TAIL - 1))
        at = start
        for seg in stream[start:p].split(b"\n"):
            if any(m in seg for m in _LATCH_MARKERS):
                message = rust_trim(decode_lossy(seg)) or KERNEL_PANIC_FALLBACK
                return KernelPanic(at, p + 1, message)
            at += len(seg) + 1
    return None


def fuzz_serial(data: bytes) -> None:
    """Serial decoder target (layout in the module docstring)."""
    if not data:
        return
    stream, reads, _ = decode_plan(data, 1)
    check_serial(serial_options(data[0]), stream, reads)


# ---- postcard and fixed payloads ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayloadDecoder:
    """One explicit payload decoder; ``encode`` (when set) must invert ``decode``."""

    name: str
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes] | None = None


def _fixed(tag: int, profile: str) -> PayloadDecoder:
    return PayloadDecoder(
        f"fixed/{tag_label(tag)}/{profile}", lambda p: decode_fixed(tag, p, profile)
    )


FIXED_TAGS: tuple[MsgType, ...] = (
    MsgType.STIMULUS,
    MsgType.STEP_END,
    MsgType.SCENARIO_END,
    MsgType.KERN_ADDRS,
    MsgType.LIFECYCLE,
    MsgType.EXIT,
    MsgType.SCHED_EXIT,
    MsgType.EXEC_EXIT,
    MsgType.SNAPSHOT_REQUEST,
    MsgType.SNAPSHOT_REPLY,
)
"""Tags with a fixed payload layout (``ktstr_proto.payloads.decode_fixed``)."""

PAYLOAD_DECODERS: tuple[PayloadDecoder, ...] = (
    PayloadDecoder(
        "assert-result/ktstr-0.15",
        lambda p: decode_assert_result(p, "ktstr-0.15"),
        lambda v: encode_assert_result(v, "ktstr-0.15"),
    ),
    PayloadDecoder(
        "assert-result/ktstr-0.10",
        lambda p: decode_assert_result(p, "ktstr-0.10"),
        lambda v: encode_assert_result(v, "ktstr-0.10"),
    ),
    PayloadDecoder(
        "assert-result/e4",
        lambda p: decode_assert_result_as(p, "e4"),
        lambda v: encode_assert_result(v, "ktstr-0.20"),
    ),
    PayloadDecoder(
        "assert-result/e3",
        lambda p: decode_assert_result_as(p, "e3"),
        lambda v: encode_assert_result(v, "ktstr-0.10"),
    ),
    PayloadDecoder("payload-metrics", decode_payload_metrics, encode_payload_metrics),
    PayloadDecoder("raw-payload-output", decode_raw_payload_output, encode_raw_payload_output),
    PayloadDecoder("kernel-op-request", decode_kernel_op_request, encode_kernel_op_request),
    PayloadDecoder("kernel-op-reply", decode_kernel_op_reply, encode_kernel_op_reply),
    *(_fixed(t, p) for p in ("ktstr-0.15", "ktstr-0.10", "ktstr-bulk-256k") for t in FIXED_TAGS),
)
"""Decoders the ``payloads`` target selects from with its first byte."""


def payload_decoder_index(name: str) -> int:
    for i, dec in enumerate(PAYLOAD_DECODERS):
        if dec.name == name:
            return i
    raise UsageError(f"no payload decoder {name!r}")


def check_payload(decoder: PayloadDecoder, payload: bytes) -> Any:
    """Decode ``payload``; only :class:`PayloadError` may escape. A decoded value must
    be JSON-able and (for postcard schemas) re-encode to bytes that decode to a value
    with the same encoding."""
    try:
        value = decoder.decode(payload)
    except PayloadError:
        return None
    json.dumps(to_jsonable(value), allow_nan=False)
    if decoder.encode is not None:
        again = decoder.encode(value)
        value2 = decoder.decode(again)
        _check(
            decoder.encode(value2) == again,
            f"{decoder.name}: re-encoding is not stable ({again.hex()})",
        )
    return value


def fuzz_payloads(data: bytes) -> None:
    """Payload decoder target (layout in the module docstring)."""
    if not data:
        return
    check_payload(PAYLOAD_DECODERS[data[0] % len(PAYLOAD_DECODERS)], data[1:])


# ---- transcript --------------------------------------------------------------------------

SMALL_MAX_LINE = 4096


def _lines(t: Transcript) -> list[str]:
    kinds = {name: spec.kind for name, spec in t.header.channels.items()}
    out = [encode_header(t.header)]
    for e in t.events:
        if not isinstance(e, Chunk):
            out.append(encode_event(e))
        elif e.data:
            out.append(encode_event(e, kinds[e.channel]))
    return out


def check_transcript(data: bytes, *, max_line: int | None = None) -> Transcript | None:
    """Read a transcript file; only :class:`TranscriptError` or :class:`UsageError` may
    escape. A transcript that reads must write back and read again to the same lines."""
    kw: dict[str, Any] = {} if max_line is None else {"max_line": max_line}
    try:
        with TranscriptReader(io.BufferedReader(io.BytesIO(data)), **kw) as reader:
            t = Transcript(reader.header, list(reader))
    except (TranscriptError, UsageError):
        return None
    buf = io.BytesIO()
    write_transcript(buf, t)
    with TranscriptReader(io.BufferedReader(io.BytesIO(buf.getvalue()))) as reader:
        again = Transcript(reader.header, list(reader))
    _check(_lines(again) == _lines(t), "transcript changed across write and read")
    check_session(t)
    return t


def check_session(t: Transcript) -> None:
    """Play a transcript into a :class:`~ktstr_host.session.RunSession`: feeding, the
    result at any moment and the final result must not raise (a profile the header
    names but nobody registered is the one :class:`UsageError` allowed), every byte fed
    must be counted, and the result must be plain JSON."""
    try:
        session = RunSession(t.header.profile)
    except UsageError:
        return
    fed = 0
    for i, event in enumerate(t.events):
        if isinstance(event, Chunk):
            session.feed(event.channel, event.data, event.t, event.direction)
            fed += len(event.data)
        else:
            session.mark(event)
        if i % 16 == 0:
            session.result()
    session.close()
    _check(session.bytes_fed == fed, "the session lost count of the bytes fed")
    json.dumps(session.result().to_json(), allow_nan=False)


def fuzz_transcript(data: bytes) -> None:
    """Transcript reader target (layout in the module docstring)."""
    if not data:
        return
    check_transcript(data[1:], max_line=SMALL_MAX_LINE if data[0] & 1 else None)


# ---- registry ----------------------------------------------------------------------------

FuzzFn = Callable[[bytes], None]
TARGETS: dict[str, FuzzFn] = {
    "bulk": fuzz_bulk,
    "bulk-cap": fuzz_bulk_cap,
    "serial": fuzz_serial,
    "payloads": fuzz_payloads,
    "transcript": fuzz_transcript,
}
"""Every fuzz target by name."""
