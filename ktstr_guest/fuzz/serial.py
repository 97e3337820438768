"""Serial-console noise: what a buggy guest, a kernel printing over userspace, or the
transport does to COM1/COM2 text (serial.md sections 2, 3 and 6).

Content mutations insert invalid UTF-8, NULs and stray CRs, splice kernel lines and
panic heads into the middle of other lines, plant or drop dump markers, and build
overlong lines; delivery mutations put read boundaries between a CR and its LF, inside
a dump or panic marker, and inside multi-byte UTF-8 sequences.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ktstr_proto import serial as s
from ktstr_proto.errors import UsageError

from .. import console
from .mutation import Mutant, Mutation, apply_kinds, as_rng, check_kinds

INVALID_UTF8: tuple[bytes, ...] = (
    b"\xff",
    b"\xfe\xff",
    b"\x80",
    b"\xc3",  # a lead byte with no continuation
    b"\xe2\x82",  # a truncated 3-byte sequence
    b"\xc0\xaf",  # overlong '/'
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xf4\x90\x80\x80",  # above U+10FFFF
)
KERNEL_LINES: tuple[bytes, ...] = (
    b'[    1.234567] sched_ext: BPF scheduler "simple" enabled\r\n',
    b"[    2.000001] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n",
    b"[    2.000002] Attempted to kill init! exitcode=0x0000000b\r\n",
    b"[    3.141592] ------------[ cut here ]------------\r\n",
)
MARKERS: tuple[bytes, ...] = tuple(
    m.encode("ascii")
    for m in (
        s.SCHED_EXT_DUMP_MARKER,
        *s.DUMP_END_MARKERS,
        s.EXIT_ANCHOR,
        s.DEBUG_DUMP_ANCHOR,
        s.PANIC_PREFIX,
        *s.KERNEL_PANIC_MARKERS,
    )
)
PANIC_SPLICES: tuple[bytes, ...] = (
    b"PANIC: panicked at src/x.rs:1:1:\nspliced\n",
    b"PANIC: fatal signal SIGBUS at addr 0x00000000deadbeef\n",
    b"   PANIC:\t\n",
    b"   0: frame::without::head\n",
)
_UTF8_LEAD = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def sample_serial_streams() -> dict[str, bytes]:
    """Realistic COM1/COM2 captures to mutate: boot log, an exit dump, a Rust panic, a
    native fault, legacy sentinels and a kernel panic."""
    trace = console.exit_dump(
        1025, msg="runnable task stall", reason="scx_bpf_error", chunk=97, cpu_states=["R x"]
    )
    panic = console.rust_panic(
        s.rust_panic_info("src/main.rs", 7, 5, "boom\nsecond line"),
        s.format_backtrace(["ktstr::main", "std::rt::lang_start"]),
    )
    boot = console.printk(["Linux version 6.12.0 (ktstr)", "smp: Brought up 1 node, 2 CPUs"])
    death = console.printk(["Kernel panic - not syncing: Attempted to kill init!"], start_us=9)
    fault = console.native_fault(s.FaultSignal.SIGSEGV, 0x10)
    legacy = console.legacy_com2(["KTSTR_INIT_STARTED", "KTSTR_EXIT=1", "SCHEDULER_DIED"])
    return {
        "com1-dump": console.transcript(boot + trace + death, "com1"),
        "com1-panic": console.transcript(boot + panic + fault, "com1"),
        "com2-panic": console.transcript(panic + fault + legacy, "com2"),
        "com1-utf8": "[    0.000000] Üñïçødé ✓ 𝄞 test\r\n".encode() + b"tail without LF",
    }


@dataclass(slots=True)
class _Ctx:
    rng: random.Random
    data: bytearray
    cuts: set[int]

    def pos(self) -> int:
        return self.rng.randint(0, len(self.data))

    def insert(self, at: int, blob: bytes) -> None:
        self.data[at:at] = blob

    def find_all(self, needle: bytes) -> list[int]:
        return [m.start() for m in re.finditer(re.escape(needle), self.data)]


def _invalid_utf8(c: _Ctx) -> Mutation:
    at, blob = c.pos(), c.rng.choice(INVALID_UTF8)
    c.insert(at, blob)
    return Mutation("invalid-utf8", f"{blob.hex()} inserted at offset {at}")


def _nul(c: _Ctx) -> Mutation:
    at, n = c.pos(), c.rng.randint(1, 8)
    c.insert(at, bytes(n))
    return Mutation("nul", f"{n} NUL bytes inserted at offset {at}")


def _bare_cr(c: _Ctx) -> Mutation:
    lfs = c.find_all(b"\n")
    at = c.rng.choice(lfs) if lfs and c.rng.random() < 0.5 else c.pos()
    blob = c.rng.choice([b"\r", b"\r\r", b"\r\r\r"])
    c.insert(at, blob)
    return Mutation("bare-cr", f"{len(blob)} CR inserted at offset {at}")


def _drop_lf(c: _Ctx) -> Mutation | None:
    lfs = c.find_all(b"\n")
    if not lfs:
        return None
    at = c.rng.choice(lfs)
    del c.data[at]
    return Mutation("drop-lf", f"LF at offset {at} removed (two lines joined)")


def _lf_only(c: _Ctx) -> Mutation | None:
    crlfs = c.find_all(b"\r\n")
    if not crlfs:
        return None
    at = c.rng.choice(crlfs)
    del c.data[at]
    return Mutation("lf-only", f"CR of the CR LF at offset {at} removed")


def _kernel_splice(c: _Ctx) -> Mutation:
    dumps = c.find_all(s.SCHED_EXT_DUMP_MARKER.encode())
    at = c.rng.choice(dumps) + c.rng.randint(0, 40) if dumps else c.pos()
    at = min(at, len(c.data))
    line = c.rng.choice(KERNEL_LINES)
    c.insert(at, line)
    inside = " inside a dump line" if dumps else ""
    return Mutation("kernel-splice", f"{line[:14]!r}... spliced at offset {at}{inside}")


def _panic_splice(c: _Ctx) -> Mutation:
    at = c.pos()
    blob = c.rng.choice(PANIC_SPLICES)
    c.insert(at, blob)
    return Mutation("panic-splice", f"{blob[:16]!r}... inserted at offset {at}")


def _marker_splice(c: _Ctx) -> Mutation:
    at, marker = c.pos(), c.rng.choice(MARKERS)
    if c.rng.random() < 0.5:
        marker += b"\n"
    c.insert(at, marker)
    return Mutation("marker-splice", f"{marker!r} inserted at offset {at}")


def _long_line(c: _Ctx) -> Mutation:
    at, n = c.pos(), c.rng.choice([255, 256, 257, 1000, 4097, c.rng.randint(255, 6000)])
    fill = c.rng.choice([b"A", b"\xc3\xa9", b"\r", b" "])
    blob = (fill * n)[:n]
    c.insert(at, blob)
    return Mutation("long-line", f"{n} bytes of {fill!r} without LF at offset {at}")


def _latch_far(c: _Ctx) -> Mutation:
    """A kernel-panic marker whose LF comes more than 255 bytes later: upstream's latch
    sees only the last 256 bytes and must not fire on it."""
    at = c.pos()
    gap = c.rng.choice([254, 255, 256, 300])
    blob = s.KERNEL_PANIC_MARKERS[0].encode() + b"x" * gap + b"\r\n"
    c.insert(at, blob)
    return Mutation("latch-far", f"kernel-panic marker with {gap} bytes before LF at {at}")


def _duplicate_line(c: _Ctx) -> Mutation | None:
    lines = _line_spans(c.data)
    if not lines:
        return None
    a, b = c.rng.choice(lines)
    c.insert(b, bytes(c.data[a:b]))
    return Mutation("duplicate-line", f"line at offset {a} repeated")


def _drop_line(c: _Ctx) -> Mutation | None:
    lines = _line_spans(c.data)
    if not lines:
        return None
    a, b = c.rng.choice(lines)
    del c.data[a:b]
    return Mutation("drop-line", f"line at offset {a} ({b - a} bytes) removed")


def _truncate(c: _Ctx) -> Mutation | None:
    if len(c.data) < 2:
        return None
    keep = c.rng.randrange(1, len(c.data))
    del c.data[keep:]
    return Mutation("truncate", f"stream cut at offset {keep}")


def _line_spans(data: bytearray) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in re.finditer(b"\n", data):
        out.append((start, m.end()))
        start = m.end()
    return out


# ---- delivery ------------------------------------------------------------------------


def _split_crlf(c: _Ctx) -> Mutation | None:
    crlfs = c.find_all(b"\r\n")
    if not crlfs:
        return None
    at = c.rng.choice(crlfs) + 1
    c.cuts.add(at)
    return Mutation("split-crlf", f"read ends between CR and LF at offset {at}")


def _cut_marker(c: _Ctx) -> Mutation | None:
    hits = [(m, i) for m in MARKERS for i in c.find_all(m)]
    if not hits:
        return None
    marker, i = c.rng.choice(hits)
    at = i + c.rng.randint(1, len(marker) - 1)
    c.cuts.add(at)
    return Mutation("cut-marker", f"read ends inside {marker.decode()!r} at offset {at}")


def _cut_utf8(c: _Ctx) -> Mutation | None:
    seqs = [m.span() for m in _UTF8_LEAD.finditer(c.data)]
    if not seqs:
        return None
    a, b = c.rng.choice(seqs)
    at = c.rng.randint(a + 1, b - 1)
    c.cuts.add(at)
    return Mutation("cut-utf8", f"read ends inside a UTF-8 sequence at offset {at}")


def _split_reads(c: _Ctx) -> Mutation | None:
    if len(c.data) < 2:
        return None
    new = sorted({c.rng.randrange(1, len(c.data)) for _ in range(c.rng.randint(1, 8))})
    c.cuts.update(new)
    return Mutation("split-reads", f"reads cut at {', '.join(map(str, new))}")


def _bytewise(c: _Ctx) -> Mutation | None:
    if len(c.data) < 2:
        return None
    start = c.rng.randrange(0, len(c.data))
    stop = min(len(c.data), start + 512)
    c.cuts.update(range(max(1, start), stop))
    return Mutation("bytewise", f"one byte per read from offset {start} to {stop}")


CONTENT = {
    "invalid-utf8": _invalid_utf8,
    "nul": _nul,
    "bare-cr": _bare_cr,
    "drop-lf": _drop_lf,
    "lf-only": _lf_only,
    "kernel-splice": _kernel_splice,
    "panic-splice": _panic_splice,
    "marker-splice": _marker_splice,
    "long-line": _long_line,
    "latch-far": _latch_far,
    "duplicate-line": _duplicate_line,
    "drop-line": _drop_line,
    "truncate": _truncate,
}
DELIVERY = {
    "split-crlf": _split_crlf,
    "cut-marker": _cut_marker,
    "cut-utf8": _cut_utf8,
    "split-reads": _split_reads,
    "bytewise": _bytewise,
}
SERIAL_MUTATIONS: tuple[str, ...] = (*CONTENT, *DELIVERY)
"""Every serial mutation kind, content kinds first."""


def mutate_serial(
    stream: bytes,
    seed: random.Random | int,
    *,
    count: int | None = None,
    kinds: Sequence[str] | None = None,
) -> Mutant:
    """Apply ``count`` (default 1 to 3) random noise mutations to a serial capture."""
    rng = as_rng(seed)
    if not isinstance(stream, bytes | bytearray | memoryview):
        raise UsageError(f"stream must be bytes-like, got {type(stream).__name__}")
    chosen = check_kinds(kinds, SERIAL_MUTATIONS, "serial")
    c = _Ctx(rng, bytearray(stream), set())
    done = apply_kinds(
        c,
        rng,
        chosen=chosen,
        count=count,
        content=CONTENT,
        delivery=DELIVERY,
        explicit=kinds is not None,
        fallback=_nul,
    )
    data = bytes(c.data)
    return Mutant(data, tuple(done), tuple(sorted(x for x in c.cuts if 0 < x < len(data))))
