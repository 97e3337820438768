"""Transcript-level damage (docs/transcript-format.md, "Reader rules").

A transcript is handled as its JSON lines; content mutations break one rule of the
format each (bad JSON, time going backwards, unknown channel, bad base64, lone
surrogates, bytes that are not UTF-8, header damage, overlong or deeply nested lines,
...); container mutations then gzip the file and may truncate or corrupt it. The
resulting :class:`Mutant` holds the whole file's bytes.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Header, Mark, Transcript, encode_event, encode_header

from ..bulk_writer import GuestBulkWriter
from .mutation import Mutant, Mutation, apply_kinds, as_rng, check_kinds, split_at
from .serial import sample_serial_streams

_RAW = "@@RAW@@"


def sample_transcript() -> Transcript:
    """A small, valid transcript of a whole run: bulk frames, COM1/COM2 text, a wake
    byte on hvc0 and the ``vm-exit`` mark."""
    w = GuestBulkWriter("ktstr-0.15")
    bulk = w.sys_rdy() + w.lifecycle(1) + w.stdout(b"hello\n") + w.exit(0)
    serial = sample_serial_streams()
    events: list[Chunk | Mark] = []
    t = 0.0
    for piece in split_at(serial["com1-panic"], [40, 120]):
        t += 0.125
        events.append(Chunk(t, "com1", "g2h", piece))
    for piece in split_at(bulk, [16, 30]):
        t += 0.125
        events.append(Chunk(t, "bulk", "g2h", piece))
    events.append(Chunk(t, "hvc0", "h2g", b"\xd1"))
    events.append(Chunk(t + 0.5, "com2", "g2h", serial["com2-panic"][:64]))
    events.append(Mark(t + 1, "vm-exit", {"status": 0, "timed_out": False}))
    header = Header("ktstr-0.15", recorder={"name": "ktstr-py fuzz", "source": "synthetic"})
    return Transcript(header, events)


def transcript_lines(transcript: Transcript) -> list[str]:
    """A transcript as its JSON lines (header first), as the writer would put them."""
    kinds = {name: spec.kind for name, spec in transcript.header.channels.items()}
    out = [encode_header(transcript.header)]
    for e in transcript.events:
        if isinstance(e, Chunk):
            if e.data:
                out.append(encode_event(e, kinds.get(e.channel, "binary")))
        else:
            out.append(encode_event(e))
    return out


@dataclass(slots=True)
class _Ctx:
    rng: random.Random
    lines: list[bytes]
    final_lf: bool = True
    prefix: bytes = b""
    eol: bytes = b"\n"
    post: list[Callable[[bytes], bytes]] = field(default_factory=list)

    def docs(self, want: Callable[[dict[str, Any]], bool], events: bool = True) -> list[int]:
        out = []
        for i, line in enumerate(self.lines):
            if events and i == 0:
                continue
            try:
                doc = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(doc, dict) and want(doc):
                out.append(i)
        return out

    def edit(
        self, want: Callable[[dict[str, Any]], bool], fn: Callable[[dict[str, Any]], str | None]
    ) -> tuple[int, str] | None:
        """Rewrite one random event line matching ``want``; ``fn`` returns raw JSON text
        to put where it stored :data:`_RAW`, and a description."""
        found = self.docs(want)
        if not found:
            return None
        i = self.rng.choice(found)
        doc = json.loads(self.lines[i])
        raw = fn(doc)
        text = json.dumps(doc, ensure_ascii=False)
        if raw is not None:
            text = text.replace(json.dumps(_RAW), raw)
        self.lines[i] = text.encode("utf-8", "surrogatepass")
        return i, text

    def line_no(self, i: int) -> str:
        return f"line {i + 1}"


def _is_chunk(doc: dict[str, Any]) -> bool:
    return "ch" in doc


def _bad_json(c: _Ctx) -> Mutation | None:
    """Cut a line short, or put a stray character where a key must start (inside a
    string most characters would still be valid JSON)."""
    found = [i for i, line in enumerate(c.lines) if len(line) > 1]
    if not found:
        return None
    i = c.rng.choice(found)
    line = c.lines[i]
    if c.rng.random() < 0.5 or not line.startswith(b"{"):
        k = c.rng.randrange(1, len(line))
        c.lines[i] = line[:k]
        return Mutation("bad-json", f"{c.line_no(i)} cut to {k} bytes")
    junk = c.rng.choice([b"}", b",", b'"', b"{", b"]", b"\\"])
    c.lines[i] = line[:1] + junk + line[1:]
    return Mutation("bad-json", f"{c.line_no(i)}: {junk!r} inserted at column 2")


def _non_object(c: _Ctx) -> Mutation:
    i = c.rng.randrange(len(c.lines) + 1)
    blob = c.rng.choice([b"[]", b"1", b"null", b'"x"', b"true", b"[{}]"])
    c.lines.insert(i, blob)
    return Mutation("non-object", f"{blob.decode()} as {c.line_no(i)}")


def _empty_line(c: _Ctx) -> Mutation:
    i = c.rng.randint(1, len(c.lines)) if c.lines else 0
    blob = c.rng.choice([b"", b"   ", b"\t", b"\r"])
    c.lines.insert(i, blob)
    return Mutation("empty-line", f"{blob!r} as {c.line_no(i)}")


def _finite_t(doc: dict[str, Any]) -> bool:
    t = doc.get("t")
    if not isinstance(t, int | float) or isinstance(t, bool):
        return False
    try:
        return math.isfinite(float(t))
    except OverflowError:  # an int with hundreds of digits
        return False


def _time_backwards(c: _Ctx) -> Mutation | None:
    timed = c.docs(_finite_t)
    if len(timed) < 2:
        return None
    k = c.rng.randrange(1, len(timed))
    i = timed[k]
    t = float(json.loads(c.lines[i])["t"])
    prev = timed[k - 1]
    doc = json.loads(c.lines[prev])
    doc["t"] = t + c.rng.choice([1e-6, 0.5, 10.0])
    c.lines[prev] = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return Mutation(
        "time-backwards", f"{c.line_no(i)} at t={t} now follows t={doc['t']} on {c.line_no(prev)}"
    )


_BAD_TIMES: tuple[str, ...] = (
    *("-1", "-0.000001", "NaN", "Infinity", "-Infinity", "1e999", '"0.5"', "true"),
    *("null", "[]", "1" * 400, "1" * 5000),
)


def _bad_time(c: _Ctx) -> Mutation | None:
    value = c.rng.choice(_BAD_TIMES)

    def fn(doc: dict[str, Any]) -> str:
        doc["t"] = _RAW
        return value

    hit = c.edit(lambda d: "t" in d, fn)
    if hit is None:
        return None
    shown = value if len(value) < 20 else f"a {len(value)}-digit integer"
    return Mutation("bad-time", f"{c.line_no(hit[0])}: t = {shown}")


def _unknown_channel(c: _Ctx) -> Mutation | None:
    name = c.rng.choice(["com9", "", "BULK", "com1 ", "ttyS0"])

    def fn(doc: dict[str, Any]) -> None:
        doc["ch"] = name

    hit = c.edit(_is_chunk, fn)
    return None if hit is None else Mutation("unknown-channel", f"{c.line_no(hit[0])}: ch={name!r}")


def _bad_direction(c: _Ctx) -> Mutation | None:
    choice = c.rng.choice(["sideways", "G2H", "both", "", "h2g-on-g2h-channel"])

    def fn(doc: dict[str, Any]) -> None:
        if choice == "h2g-on-g2h-channel":
            doc["ch"], doc["dir"] = "com1", "h2g"
        else:
            doc["dir"] = choice

    hit = c.edit(_is_chunk, fn)
    if hit is None:
        return None
    return Mutation("bad-direction", f"{c.line_no(hit[0])}: {choice}")


_BAD_B64 = ("!!!!", "QQ=", "Q", "QQ==QQ==", "QU JD", "QUJD\n", "QUJ-", "é")


def _bad_base64(c: _Ctx) -> Mutation | None:
    value = c.rng.choice(_BAD_B64)

    def fn(doc: dict[str, Any]) -> None:
        doc.pop("text", None)
        doc["b64"] = value

    hit = c.edit(_is_chunk, fn)
    return None if hit is None else Mutation("bad-base64", f"{c.line_no(hit[0])}: b64={value!r}")


def _text_and_b64(c: _Ctx) -> Mutation | None:
    both = c.rng.random() < 0.5

    def fn(doc: dict[str, Any]) -> None:
        doc.pop("text", None)
        doc.pop("b64", None)
        if both:
            doc["text"], doc["b64"] = "x", "eA=="

    hit = c.edit(_is_chunk, fn)
    if hit is None:
        return None
    return Mutation("text-and-b64", f"{c.line_no(hit[0])}: {'both' if both else 'neither'}")


def _lone_surrogate(c: _Ctx) -> Mutation | None:
    want = c.rng.choice(["text", "mark", "ch"])
    used: list[str] = []

    def fn(doc: dict[str, Any]) -> str:
        key = "mark" if "mark" in doc else want if want != "mark" else "text"
        if key == "text":
            doc.pop("b64", None)
        doc[key] = _RAW
        used.append(key)
        return '"a\\ud800b"'

    hit = c.edit(lambda d: True, fn)
    if hit is None:
        return None
    return Mutation("lone-surrogate", f"{c.line_no(hit[0])}: \\ud800 in field {used[0]!r}")


def _not_utf8(c: _Ctx) -> Mutation | None:
    i = c.rng.randrange(len(c.lines)) if c.lines else None
    if i is None:
        return None
    line = c.lines[i]
    quote = line.find(b'"', c.rng.randrange(0, len(line) + 1))
    k = quote + 1 if quote >= 0 else len(line)
    blob = c.rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"])
    c.lines[i] = line[:k] + blob + line[k:]
    return Mutation("not-utf8", f"{c.line_no(i)}: {blob.hex()} at byte {k}")


def _missing_field(c: _Ctx) -> Mutation | None:
    names = ("t", "ch", "dir", "mark", "format", "version", "profile", "channels")
    found = c.docs(lambda d: any(n in d for n in names), events=False)
    if not found:
        return None
    i = c.rng.choice(found)
    doc = json.loads(c.lines[i])
    name = c.rng.choice([n for n in names if n in doc])
    del doc[name]
    c.lines[i] = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return Mutation("missing-field", f"{c.line_no(i)}: {name!r} removed")


_WRONG_TYPES: dict[str, tuple[Any, ...]] = {
    "ch": (5, None, ["com1"]),
    "dir": (0, None),
    "text": (7, None, ["x"]),
    "b64": ({}, 1),
    "mark": (1, None),
    "data": ([], "x", 3),
    "t": ({"t": 1},),
}


def _wrong_type(c: _Ctx) -> Mutation | None:
    found = c.docs(lambda d: any(k in d for k in _WRONG_TYPES))
    if not found:
        return None
    i = c.rng.choice(found)
    doc = json.loads(c.lines[i])
    key = c.rng.choice([k for k in _WRONG_TYPES if k in doc])
    doc[key] = c.rng.choice(_WRONG_TYPES[key])
    c.lines[i] = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return Mutation("wrong-type", f"{c.line_no(i)}: {key} = {json.dumps(doc[key])}")


def _chan(doc: dict[str, Any], **spec: Any) -> None:
    doc["channels"]["com1"] = {"kind": "text", "direction": "g2h", "device": "", **spec}


_HEADER_DAMAGE: tuple[tuple[str, Callable[[dict[str, Any]], None]], ...] = (
    ("format 'other'", lambda d: d.update(format="other")),
    ("version 2", lambda d: d.update(version=2)),
    ("version 0", lambda d: d.update(version=0)),
    ("version '1'", lambda d: d.update(version="1")),
    ("version true", lambda d: d.update(version=True)),
    ("version 1.0", lambda d: d.update(version=1.0)),
    ("profile 1", lambda d: d.update(profile=1)),
    ("channels []", lambda d: d.update(channels=[])),
    ("channel kind 'hex'", lambda d: _chan(d, kind="hex")),
    ("channel direction 'up'", lambda d: _chan(d, direction="up")),
    ("channel spec 3", lambda d: d["channels"].update(com1=3)),
    ("device 5", lambda d: _chan(d, device=5)),
    ("recorder []", lambda d: d.update(recorder=[])),
    ("started_at 5", lambda d: d.update(started_at=5)),
    ("no channels at all", lambda d: d.update(channels={})),
)


def _header_damage(c: _Ctx) -> Mutation | None:
    if not c.lines:
        return None
    try:
        doc = json.loads(c.lines[0])
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("channels"), dict):
        return None
    what, fn = c.rng.choice(_HEADER_DAMAGE)
    fn(doc)
    c.lines[0] = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return Mutation("header-damage", what)


def _no_header(c: _Ctx) -> Mutation | None:
    if not c.lines:
        return None
    del c.lines[0]
    return Mutation("no-header", "line 1 removed")


def _long_line(c: _Ctx) -> Mutation:
    n = c.rng.choice([4095, 4096, 4097, 70_000])
    i = len(c.lines)
    doc = json.dumps({"t": 1e9, "ch": "com1", "dir": "g2h", "text": "x" * n})
    c.lines.append(doc.encode())
    return Mutation("long-line", f"{c.line_no(i)}: {len(doc)} bytes")


def _deep_nesting(c: _Ctx) -> Mutation:
    depth = c.rng.choice([10_000, 100_000])
    opener, closer = c.rng.choice([("[", "]"), ('{"a":', "}")])
    nested = opener * depth + "1" + closer * depth
    i = len(c.lines)
    c.lines.append(f'{{"t": 1e9, "mark": "note", "data": {{"x": {nested}}}}}'.encode())
    return Mutation("deep-nesting", f"{c.line_no(i)}: mark data nested {depth} deep")


def _swap_lines(c: _Ctx) -> Mutation | None:
    if len(c.lines) < 2:
        return None
    i, j = sorted(c.rng.sample(range(len(c.lines)), 2))
    c.lines[i], c.lines[j] = c.lines[j], c.lines[i]
    return Mutation("swap-lines", f"{c.line_no(i)} <-> {c.line_no(j)}")


def _duplicate_line(c: _Ctx) -> Mutation | None:
    if not c.lines:
        return None
    i = c.rng.randrange(len(c.lines))
    c.lines.insert(i, c.lines[i])
    return Mutation("duplicate-line", f"{c.line_no(i)} repeated")


def _crlf(c: _Ctx) -> Mutation:
    c.eol = b"\r\n"
    return Mutation("crlf", "lines end in CR LF")


def _bom(c: _Ctx) -> Mutation:
    c.prefix = b"\xef\xbb\xbf"
    return Mutation("bom", "UTF-8 byte order mark before line 1")


def _no_final_newline(c: _Ctx) -> Mutation:
    c.final_lf = False
    return Mutation("no-final-newline", "last line has no LF")


def _empty_file(c: _Ctx) -> Mutation:
    c.lines.clear()
    c.final_lf = False
    return Mutation("empty-file", "no bytes at all")


# ---- container (gzip) ------------------------------------------------------------------


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _gzip(c: _Ctx) -> Mutation:
    c.post.append(_gz)
    return Mutation("gzip", "whole file gzip-compressed")


def _gzip_truncate(c: _Ctx) -> Mutation:
    frac = c.rng.random()

    def cut(data: bytes) -> bytes:
        gz = data if data[:2] == b"\x1f\x8b" else _gz(data)
        return gz[: int(len(gz) * frac)]

    c.post.append(cut)
    return Mutation("gzip-truncate", f"gzip stream cut to {frac:.0%} of its bytes")


def _gzip_corrupt(c: _Ctx) -> Mutation:
    where = c.rng.random()
    bit = c.rng.randrange(8)

    def flip(data: bytes) -> bytes:
        gz = bytearray(data if data[:2] == b"\x1f\x8b" else _gz(data))
        k = 10 + int((len(gz) - 10) * where) if len(gz) > 10 else 0
        gz[min(k, len(gz) - 1)] ^= 1 << bit
        return bytes(gz)

    c.post.append(flip)
    return Mutation("gzip-corrupt", f"bit {bit} flipped at {where:.0%} of the gzip stream")


def _gzip_trailing(c: _Ctx) -> Mutation:
    junk = c.rng.choice([b"garbage", b"\x1f\x8b", b"\x1f\x8b\x08"])  # zero padding is legal
    c.post.append(lambda data: (data if data[:2] == b"\x1f\x8b" else _gz(data)) + junk)
    return Mutation("gzip-trailing", f"{junk!r} after the gzip stream")


CONTENT: dict[str, Callable[[_Ctx], Mutation | None]] = {
    "bad-json": _bad_json,
    "non-object": _non_object,
    "empty-line": _empty_line,
    "time-backwards": _time_backwards,
    "bad-time": _bad_time,
    "unknown-channel": _unknown_channel,
    "bad-direction": _bad_direction,
    "bad-base64": _bad_base64,
    "text-and-b64": _text_and_b64,
    "lone-surrogate": _lone_surrogate,
    "not-utf8": _not_utf8,
    "missing-field": _missing_field,
    "wrong-type": _wrong_type,
    "header-damage": _header_damage,
    "no-header": _no_header,
    "long-line": _long_line,
    "deep-nesting": _deep_nesting,
    "swap-lines": _swap_lines,
    "duplicate-line": _duplicate_line,
    "crlf": _crlf,
    "bom": _bom,
    "no-final-newline": _no_final_newline,
    "empty-file": _empty_file,
}
CONTAINER: dict[str, Callable[[_Ctx], Mutation | None]] = {
    "gzip": _gzip,
    "gzip-truncate": _gzip_truncate,
    "gzip-corrupt": _gzip_corrupt,
    "gzip-trailing": _gzip_trailing,
}
TRANSCRIPT_MUTATIONS: tuple[str, ...] = (*CONTENT, *CONTAINER)
"""Every transcript mutation kind, content kinds first."""


def damage_transcript(
    source: Transcript | Sequence[str],
    seed: random.Random | int,
    *,
    count: int | None = None,
    kinds: Sequence[str] | None = None,
) -> Mutant:
    """Damage a transcript (or its JSON lines); the mutant holds the file's bytes."""
    rng = as_rng(seed)
    if isinstance(source, Transcript):
        lines = transcript_lines(source)
    elif isinstance(source, Sequence) and all(isinstance(x, str) for x in source):
        lines = list(source)
    else:
        raise UsageError("source is a Transcript or a sequence of JSON lines")
    chosen = check_kinds(kinds, TRANSCRIPT_MUTATIONS, "transcript")
    c = _Ctx(rng, [x.encode("utf-8", "surrogatepass") for x in lines])
    done = apply_kinds(
        c,
        rng,
        chosen=chosen,
        count=count,
        content=CONTENT,
        delivery=CONTAINER,
        explicit=kinds is not None,
        fallback=_bad_json,
    )
    data = c.prefix + c.eol.join(c.lines) + (c.eol if c.final_lf and c.lines else b"")
    for fn in c.post:
        data = fn(data)
    return Mutant(data, tuple(done))
