"""Structure-aware mutations of a bulk TLV stream (bulk.md sections 2 and 6).

The stream is cut into frames (header + payload, walked without a cap) and raw
segments; content mutations damage frames the way a buggy or malicious guest could
(CRC flips, length lies, non-zero pad, unknown tags, truncation, duplication, reordering,
garbage, hidden frames, payloads of the wrong shape), then delivery mutations choose
how the bytes are cut into reads. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ktstr_proto.errors import UsageError
from ktstr_proto.frame import HEADER_SIZE, U32_MAX, build_frame, build_header
from ktstr_proto.profiles import DEFAULT_PROFILE
from ktstr_proto.tags import ALL_TAGS, MsgType, tag_label

from .mutation import Mutant, Mutation, apply_kinds, as_rng, check_kinds

_HDR = struct.Struct("<IIII")
MATERIALISE_LIMIT = 64 * 1024
"""Largest cap for which ``oversized-frame`` writes the whole cap+1 payload."""
DEFAULT_CAP = DEFAULT_PROFILE.cap


@dataclass(slots=True)
class Segment:
    """A piece of a bulk stream: one whole frame, or bytes that are not one."""

    data: bytes
    frame: bool


def segments(stream: bytes) -> list[Segment]:
    """Cut ``stream`` into complete frames (any length, no cap) and a raw tail."""
    out: list[Segment] = []
    pos, end = 0, len(stream)
    while pos + HEADER_SIZE <= end:
        length = _HDR.unpack_from(stream, pos)[1]
        stop = pos + HEADER_SIZE + length
        if stop > end:
            break
        out.append(Segment(stream[pos:stop], True))
        pos = stop
    if pos < end:
        out.append(Segment(stream[pos:], False))
    return out


@dataclass(slots=True)
class _Ctx:
    rng: random.Random
    cap: int
    segs: list[Segment]
    cuts: set[int]

    def frames(self, min_payload: int = 0) -> list[int]:
        return [
            i
            for i, s in enumerate(self.segs)
            if s.frame and len(s.data) - HEADER_SIZE >= min_payload
        ]

    def pick(self, min_payload: int = 0) -> int | None:
        found = self.frames(min_payload)
        return self.rng.choice(found) if found else None

    def offset(self, i: int) -> int:
        return sum(len(s.data) for s in self.segs[:i])

    def where(self, i: int) -> str:
        seg = self.segs[i]
        tag = tag_label(_HDR.unpack_from(seg.data)[0]) if seg.frame else "raw"
        return f"frame {i} ({tag}) at offset {self.offset(i)}"

    def gap(self) -> tuple[int, int]:
        """A random segment boundary: (index to insert at, its stream offset)."""
        i = self.rng.randint(0, len(self.segs))
        return i, self.offset(i)

    @property
    def size(self) -> int:
        return sum(len(s.data) for s in self.segs)


def _set_header(seg: Segment, **fields: int) -> tuple[int, int, int, int]:
    """Rewrite header fields of a frame segment; return the old header."""
    old = _HDR.unpack_from(seg.data)
    new = dict(zip(("msg_type", "length", "crc", "pad"), old, strict=True))
    new.update(fields)
    seg.data = build_header(**new) + seg.data[HEADER_SIZE:]
    seg.frame = new["length"] == len(seg.data) - HEADER_SIZE
    return old


# ---- content mutations ---------------------------------------------------------------


def _crc_flip(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    mask = 1 << c.rng.randrange(32) if c.rng.random() < 0.8 else c.rng.randint(1, U32_MAX)
    old = _HDR.unpack_from(c.segs[i].data)[2]
    _set_header(c.segs[i], crc=old ^ mask)
    return Mutation("crc-flip", f"{c.where(i)}: crc {old:#010x} -> {old ^ mask:#010x}")


def _payload_flip(c: _Ctx) -> Mutation | None:
    i = c.pick(min_payload=1)
    if i is None:
        return None
    seg = c.segs[i]
    k = c.rng.randrange(HEADER_SIZE, len(seg.data))
    bit = c.rng.randrange(8)
    raw = bytearray(seg.data)
    raw[k] ^= 1 << bit
    seg.data = bytes(raw)
    return Mutation("payload-flip", f"{c.where(i)}: bit {bit} of payload byte {k - HEADER_SIZE}")


def _length_short(c: _Ctx) -> Mutation | None:
    i = c.pick(min_payload=1)
    if i is None:
        return None
    old = _HDR.unpack_from(c.segs[i].data)[1]
    new = c.rng.randrange(0, old)
    where = c.where(i)
    _set_header(c.segs[i], length=new)
    return Mutation("length-short", f"{where}: length {old} -> {new}")


def _length_long(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    length = _HDR.unpack_from(c.segs[i].data)[1]
    new = min(length + c.rng.randint(1, 64), U32_MAX)
    where = c.where(i)
    _set_header(c.segs[i], length=new)
    return Mutation("length-long", f"{where}: length {length} -> {new}")


def _length_over_cap(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    new = min(c.cap + c.rng.choice([1, 2, 16, c.cap, c.cap + 1]), U32_MAX)
    where = c.where(i)
    old = _set_header(c.segs[i], length=new)
    return Mutation("length-over-cap", f"{where}: length {old[1]} -> {new} (cap {c.cap})")


def _length_u32_max(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    where = c.where(i)
    old = _set_header(c.segs[i], length=U32_MAX)
    return Mutation("length-u32-max", f"{where}: length {old[1]} -> {U32_MAX:#x}")


def _pad_nonzero(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    pad = c.rng.choice([1, 0x80000000, U32_MAX, c.rng.randint(1, U32_MAX)])
    _set_header(c.segs[i], pad=pad)
    return Mutation("pad-nonzero", f"{c.where(i)}: pad -> {pad:#x}")


def _unknown_tag(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    old = _HDR.unpack_from(c.segs[i].data)[0]
    how = c.rng.choice(["byte-swapped", "near-miss", "random", "zero"])
    if how == "byte-swapped":  # the classic endianness bug: the tag written big-endian
        new = int.from_bytes(old.to_bytes(4, "little"), "big")
    elif how == "near-miss":
        raw = bytearray(old.to_bytes(4, "little"))
        raw[c.rng.randrange(4)] ^= 1 << c.rng.randrange(8)
        new = int.from_bytes(raw, "little")
    elif how == "zero":
        new = 0
    else:
        new = c.rng.randint(0, U32_MAX)
    while new in ALL_TAGS:
        new = (new + 1) & U32_MAX
    where = c.where(i)
    _set_header(c.segs[i], msg_type=new)
    return Mutation("unknown-tag", f"{where}: tag -> {tag_label(new)} ({how})")


def _header_bitflip(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    seg = c.segs[i]
    where = c.where(i)
    bit = c.rng.randrange(HEADER_SIZE * 8)
    raw = bytearray(seg.data)
    raw[bit // 8] ^= 1 << (bit % 8)
    seg.data = bytes(raw)
    seg.frame = _HDR.unpack_from(raw)[1] == len(raw) - HEADER_SIZE
    field = ("msg_type", "length", "crc32", "pad")[bit // 32]
    return Mutation("header-bitflip", f"{where}: bit {bit % 32} of {field}")


def _truncate_frame(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    seg = c.segs[i]
    where = c.where(i)
    keep = c.rng.randrange(1, len(seg.data))
    seg.data = seg.data[:keep]
    seg.frame = False
    return Mutation("truncate-frame", f"{where}: cut to {keep} of its bytes")


def _header_only(c: _Ctx) -> Mutation | None:
    i = c.pick(min_payload=1)
    if i is None:
        return None
    where = c.where(i)
    seg = c.segs[i]
    seg.data = seg.data[:HEADER_SIZE]
    seg.frame = False
    return Mutation("header-only", f"{where}: payload removed, header kept")


def _duplicate(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    where = c.where(i)
    j = c.rng.randint(0, len(c.segs))
    c.segs.insert(j, Segment(c.segs[i].data, True))
    return Mutation("duplicate", f"{where} repeated as segment {j} at offset {c.offset(j)}")


def _reorder(c: _Ctx) -> Mutation | None:
    found = c.frames()
    if len(found) < 2:
        return None
    i, j = sorted(c.rng.sample(found, 2))
    a, b = c.where(i), c.where(j)
    c.segs[i], c.segs[j] = c.segs[j], c.segs[i]
    return Mutation("reorder", f"swapped {a} and {b}")


def _drop_frame(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    where = c.where(i)
    del c.segs[i]
    return Mutation("drop-frame", f"{where} removed")


_GARBAGE_KINDS = ("random", "zeros", "ones", "tag-prefix", "text")


def _garbage(c: _Ctx) -> Mutation | None:
    j, off = c.gap()
    how = c.rng.choice(_GARBAGE_KINDS)
    n = c.rng.randint(1, 40)
    if how == "random":
        junk = c.rng.randbytes(n)
    elif how == "zeros":
        junk = bytes(n)
    elif how == "ones":
        junk = b"\xff" * n
    elif how == "tag-prefix":  # looks like the start of a header
        junk = MsgType(c.rng.choice(sorted(ALL_TAGS))).wire + c.rng.randbytes(n % 16)
    else:
        junk = b"ktstr: not a frame\n"[: max(1, n)]
    c.segs.insert(j, Segment(junk, False))
    return Mutation("garbage", f"{len(junk)} {how} bytes inserted at offset {off}")


def _oversized_frame(c: _Ctx) -> Mutation | None:
    j, off = c.gap()
    tag = c.rng.choice(sorted(ALL_TAGS))
    length = c.cap + 1
    if c.cap <= MATERIALISE_LIMIT:
        payload = c.rng.randbytes(length)
        frame = build_frame(tag, payload)
        how = "complete"
    else:
        frame = build_header(tag, length, c.rng.randint(0, U32_MAX))
        how = "header only"
    c.segs.insert(j, Segment(frame, len(frame) == HEADER_SIZE + length))
    return Mutation("oversized-frame", f"{tag_label(tag)}/{length} ({how}) at offset {off}")


def _nested_frame(c: _Ctx) -> Mutation | None:
    """A partial frame whose announced length swallows a complete valid frame (the
    abandoned-write case the ``ktstr-0.44`` forward scan resyncs on, bulk.md 6.3)."""
    i = c.pick()
    inner = c.segs[i].data if i is not None else build_frame(MsgType.EXIT, bytes(4))
    j, off = c.gap()
    lead = c.rng.randbytes(c.rng.randint(0, 11))
    tag = c.rng.choice([MsgType.STDOUT, MsgType.SCHED_LOG, MsgType.DMESG, MsgType.TEST_RESULT])
    announced = min(len(lead) + len(inner) + c.rng.randint(1, 32), c.cap)
    hdr = build_header(tag, announced, c.rng.randint(0, U32_MAX))
    c.segs.insert(j, Segment(hdr + lead + inner, False))
    hidden = _HDR.unpack_from(inner)[0]
    return Mutation(
        "nested-frame",
        f"{tag_label(tag)} header at offset {off} announcing {announced} bytes hides a "
        f"{tag_label(hidden)} frame at offset {off + HEADER_SIZE + len(lead)}",
    )


def _wrong_payloads(rng: random.Random) -> list[tuple[int, bytes, str]]:
    return [
        (MsgType.EXIT, b"\x01\x02\x03", "3-byte EXIT"),
        (MsgType.EXIT, bytes(5), "5-byte EXIT"),
        (MsgType.SCHED_EXIT, b"\x01", "1-byte SCDX"),
        (MsgType.LIFECYCLE, b"", "empty LIFE"),
        (MsgType.LIFECYCLE, bytes([rng.choice([0, 5, 9, 0xFF])]), "LIFE with an unknown phase"),
        (MsgType.LIFECYCLE, b"\x04\xff\xfe\xc3", "LIFE reason not UTF-8"),
        (MsgType.SCENARIO_END, bytes(8), "8-byte SCEN"),
        (MsgType.SCENARIO_END, bytes(17), "17-byte SCEN"),
        (MsgType.STIMULUS, bytes(23), "23-byte STIM"),
        (MsgType.STIMULUS, bytes(25), "25-byte STIM"),
        (MsgType.STEP_END, b"", "empty STEN"),
        (MsgType.KERN_ADDRS, bytes(16), "16-byte KADR"),
        (MsgType.KERN_ADDRS, b"\xff" * 23, "23-byte KADR"),
        (MsgType.SNAPSHOT_REQUEST, bytes(71), "71-byte SNRQ"),
        (MsgType.SNAPSHOT_REQUEST, bytes(8) + b"\xff" * 64, "SNRQ tag not UTF-8, no NUL"),
        (MsgType.SNAPSHOT_REPLY, bytes(73), "73-byte SNRP"),
        (MsgType.SYS_RDY, b"x", "non-empty SRDY"),
        (MsgType.TEST_RESULT, b"\xff" * 11, "TEST with an overlong varint"),
        (MsgType.TEST_RESULT, rng.randbytes(rng.randint(1, 64)), "TEST of random bytes"),
        (MsgType.PAYLOAD_METRICS, rng.randbytes(rng.randint(1, 32)), "PMET of random bytes"),
        (MsgType.RAW_PAYLOAD_OUTPUT, b"\x00\x05ab", "RAWO with a short string"),
        (MsgType.KERNEL_OP_REQUEST, rng.randbytes(rng.randint(1, 32)), "KORQ of random bytes"),
        (MsgType.STDOUT, b"\xff\xfe\xc3(\x00\r", "SOUT not UTF-8"),
    ]


def _wrong_payload(c: _Ctx) -> Mutation | None:
    tag, payload, what = c.rng.choice(_wrong_payloads(c.rng))
    j, off = c.gap()
    c.segs.insert(j, Segment(build_frame(tag, payload), True))
    return Mutation("wrong-payload", f"{what} (valid CRC) at offset {off}")


def _truncate_stream(c: _Ctx) -> Mutation | None:
    size = c.size
    if size < 2:
        return None
    keep = c.rng.randrange(1, size)
    data = b"".join(s.data for s in c.segs)[:keep]
    c.segs[:] = segments(data)
    return Mutation("truncate-stream", f"stream cut at offset {keep} of {size}")


# ---- delivery mutations (read boundaries) --------------------------------------------


def _split_reads(c: _Ctx) -> Mutation | None:
    size = c.size
    if size < 2:
        return None
    new = sorted({c.rng.randrange(1, size) for _ in range(c.rng.randint(1, 8))})
    c.cuts.update(new)
    return Mutation("split-reads", f"reads cut at {', '.join(map(str, new))}")


def _bytewise(c: _Ctx) -> Mutation | None:
    size = c.size
    if size < 2:
        return None
    start = 0 if size <= 2048 else c.rng.randrange(0, size - 512)
    stop = min(size, start + 2048)
    c.cuts.update(range(max(1, start), stop))
    return Mutation("bytewise", f"one byte per read from offset {start} to {stop}")


def _header_dribble(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    off = c.offset(i)
    c.cuts.update(range(max(1, off), off + HEADER_SIZE + 1))
    return Mutation("header-dribble", f"header of {c.where(i)} fed one byte per read")


def _split_in_header(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    at = c.offset(i) + c.rng.randint(1, HEADER_SIZE - 1)
    c.cuts.add(at)
    return Mutation("split-in-header", f"{c.where(i)}: read ends at offset {at}")


def _split_after_header(c: _Ctx) -> Mutation | None:
    i = c.pick()
    if i is None:
        return None
    payload = len(c.segs[i].data) - HEADER_SIZE
    at = c.offset(i) + HEADER_SIZE + c.rng.randint(0, min(3, payload))
    c.cuts.add(at)
    return Mutation("split-after-header", f"{c.where(i)}: read ends at offset {at}")


_Fn = Callable[[_Ctx], Mutation | None]

CONTENT: dict[str, _Fn] = {
    "crc-flip": _crc_flip,
    "payload-flip": _payload_flip,
    "length-short": _length_short,
    "length-long": _length_long,
    "length-over-cap": _length_over_cap,
    "length-u32-max": _length_u32_max,
    "pad-nonzero": _pad_nonzero,
    "unknown-tag": _unknown_tag,
    "header-bitflip": _header_bitflip,
    "truncate-frame": _truncate_frame,
    "header-only": _header_only,
    "duplicate": _duplicate,
    "reorder": _reorder,
    "drop-frame": _drop_frame,
    "garbage": _garbage,
    "oversized-frame": _oversized_frame,
    "nested-frame": _nested_frame,
    "wrong-payload": _wrong_payload,
    "truncate-stream": _truncate_stream,
}
DELIVERY: dict[str, _Fn] = {
    "split-reads": _split_reads,
    "bytewise": _bytewise,
    "header-dribble": _header_dribble,
    "split-in-header": _split_in_header,
    "split-after-header": _split_after_header,
}
BULK_MUTATIONS: tuple[str, ...] = (*CONTENT, *DELIVERY)
"""Every bulk mutation kind, content kinds first."""


def mutate_bulk(
    stream: bytes,
    seed: random.Random | int,
    *,
    cap: int = DEFAULT_CAP,
    count: int | None = None,
    kinds: Sequence[str] | None = None,
) -> Mutant:
    """Apply ``count`` (default 1 to 3) random mutations to a bulk stream.

    ``cap`` is the cap of the profile under attack (for the over-cap lies); ``kinds``
    restricts the choice (see :data:`BULK_MUTATIONS`). A kind that does not apply (no
    frame to damage) is replaced by another applicable one of the same class; when
    ``kinds`` allows nothing applicable, :class:`UsageError` is raised.
    """
    rng = as_rng(seed)
    if not isinstance(stream, bytes | bytearray | memoryview):
        raise UsageError(f"stream must be bytes-like, got {type(stream).__name__}")
    if not 0 < cap <= U32_MAX:
        raise UsageError("cap must be in 1..u32::MAX")
    chosen = check_kinds(kinds, BULK_MUTATIONS, "bulk")
    c = _Ctx(rng, cap, segments(bytes(stream)), set())
    done = apply_kinds(
        c,
        rng,
        chosen=chosen,
        count=count,
        content=CONTENT,
        delivery=DELIVERY,
        explicit=kinds is not None,
        fallback=_garbage,
    )
    data = b"".join(s.data for s in c.segs)
    cuts = tuple(sorted(x for x in c.cuts if 0 < x < len(data)))
    return Mutant(data, tuple(done), cuts)


def sample_bulk_streams() -> dict[str, bytes]:
    """Valid guest streams to mutate: a normal ``ktstr-0.15`` run, an E3 run with a
    snapshot request, and a ``ktstr-0.20`` run with a wprof upload."""
    from ktstr_proto.payloads import KernAddrs, LifecyclePhase, SnapshotKind, Stimulus

    from ..bulk_writer import GuestBulkWriter

    w = GuestBulkWriter("ktstr-0.15")
    step = Stimulus(1500, 1, 3, 5, 2, 8, 100000)
    normal = b"".join(
        [
            w.kern_addrs(KernAddrs(0x1000000, 0xFFFF888000000000, 0xFFFFFFFF81000000)),
            w.sys_rdy(),
            w.lifecycle(LifecyclePhase.INIT_STARTED),
            w.scenario_start(),
            w.stimulus(step),
            w.stdout(b"running workload\n"),
            w.step_end(step),
            w.scenario_end(1234, 5678),
            w.test_result(bytes(45)),
            w.exit(0),
        ]
    )
    old = GuestBulkWriter("ktstr-0.10")
    e3 = b"".join(
        [
            old.sys_rdy(),
            old.stimulus(step),
            old.snapshot_request(SnapshotKind.CAPTURE, "hello!"),
            old.scenario_end(99),
            old.sched_exit(1),
            old.exit(1),
        ]
    )
    new = GuestBulkWriter("ktstr-0.20")
    wprof = new.sched_swap_notify() + new.wprof(bytes(range(200)) * 2) + new.exit(0)
    return {"normal": normal, "e3": e3, "wprof": wprof}
