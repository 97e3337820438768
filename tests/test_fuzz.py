"""The fuzzing toolkit: mutators, strategies, harness oracles, runners, differential mode."""

from __future__ import annotations

import dataclasses
import io
import math
import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings

from ktstr_guest.fuzz import (
    BULK_MUTATIONS,
    SERIAL_MUTATIONS,
    TRANSCRIPT_MUTATIONS,
    Mutant,
    damage_transcript,
    damaged_transcript_lines,
    mutate_bulk,
    mutate_serial,
    mutated_bulk_streams,
    sample_bulk_streams,
    sample_serial_streams,
    sample_transcript,
    segments,
    serial_noise,
    split_at,
)
from ktstr_guest.fuzz.serial import KERNEL_LINES, MARKERS, PANIC_SPLICES
from ktstr_host.cli import main
from ktstr_host.decode.bulk import BulkDecoder, scan_tlv_stream
from ktstr_host.decode.events import Dropped, DropReason, Frame
from ktstr_host.fuzzing import reference, runner
from ktstr_host.fuzzing.corpus import find_fixtures, load_corpus, seed_inputs, write_corpus
from ktstr_host.fuzzing.differential import (
    ExternalRun,
    compare,
    decode_json_lines,
    differential,
    minimise,
)
from ktstr_host.fuzzing.runner import ENGINES, Finding
from ktstr_host.fuzzing.targets import (
    FUZZ_PROFILES,
    TARGETS,
    OracleError,
    bulk_profile_index,
    check_bulk,
    check_serial,
    decode_plan,
    encode_bulk_input,
    fuzz_bulk,
    serial_options,
)
from ktstr_host.transcripts.io import TranscriptReader
from ktstr_proto.frame import build_frame, build_header
from ktstr_proto.profiles import get_profile
from ktstr_proto.tags import MsgType
from ktstr_proto.transcript import TranscriptError

ROOT = Path(__file__).resolve().parents[1]
HDR = struct.Struct("<IIII")
BASE = b"".join(
    [
        build_frame(MsgType.SYS_RDY, b""),
        build_frame(MsgType.STDOUT, b"hello world\n"),
        build_frame(MsgType.EXIT, bytes(4)),
        build_frame(MsgType.DMESG, b"kernel log line"),
    ]
)
SEEDS = range(12)


def frames(data: bytes) -> list[Frame]:
    """Every complete frame of a walk without a cap."""
    profile = dataclasses.replace(get_profile("ktstr-0.15"), name="uncapped", cap=0xFFFFFFFF)
    return [e for e in scan_tlv_stream(data, profile) if isinstance(e, Frame)]


def headers(data: bytes) -> list[tuple[int, int, int, int]]:
    """Every 16-byte window that starts a frame in the segment walk, and the headers
    of raw segments."""
    return [HDR.unpack_from(s.data) for s in segments(data) if len(s.data) >= 16]


# ---- determinism and labels ------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_mutators_are_deterministic_and_labelled(seed: int) -> None:
    for stream in sample_bulk_streams().values():
        a, b = mutate_bulk(stream, seed), mutate_bulk(stream, seed)
        assert a == b and a.mutations
        assert all(m.name in BULK_MUTATIONS and m.detail for m in a.mutations)
        assert a.label == "; ".join(f"{m.name} ({m.detail})" for m in a.mutations)
        assert b"".join(a.reads) == a.data
    for stream in sample_serial_streams().values():
        a = mutate_serial(stream, seed)
        assert a == mutate_serial(stream, seed)
        assert a.mutations and all(m.name in SERIAL_MUTATIONS for m in a.mutations)
    t = sample_transcript()
    a = damage_transcript(t, seed)
    assert a == damage_transcript(t, seed)
    assert a.mutations and all(m.name in TRANSCRIPT_MUTATIONS for m in a.mutations)


def test_different_seeds_give_different_mutants() -> None:
    stream = sample_bulk_streams()["normal"]
    assert len({mutate_bulk(stream, s).data for s in range(40)}) > 30


def test_a_kind_that_cannot_apply_is_a_usage_error() -> None:
    from ktstr_proto.errors import UsageError

    with pytest.raises(UsageError, match="applies"):
        mutate_bulk(b"", 1, kinds=["crc-flip"], count=1)
    with pytest.raises(UsageError, match="unknown bulk mutation"):
        mutate_bulk(BASE, 1, kinds=["no-such-kind"])
    assert mutate_bulk(b"", 1).names  # unrestricted: falls back to garbage


# ---- each bulk kind does its damage ------------------------------------------------------


def _one_crc_bad(base: bytes, m: Mutant) -> bool:
    got = frames(m.data)
    return len(got) == len(frames(base)) and sum(not f.crc_ok for f in got) == 1


def _bit_diff(a: bytes, b: bytes) -> list[int]:
    return [i * 8 + k for i in range(len(a)) for k in range(8) if (a[i] ^ b[i]) >> k & 1]


def _lengths(data: bytes) -> list[int]:
    return [h[1] for h in headers(data)]


BULK_CHECKS: dict[str, Callable[[bytes, Mutant], bool]] = {
    "crc-flip": _one_crc_bad,
    "payload-flip": lambda b, m: _one_crc_bad(b, m) and len(_bit_diff(b, m.data)) == 1,
    "length-short": lambda b, m: len(m.data) == len(b) and _lengths(m.data) != _lengths(b),
    "length-long": lambda b, m: len(m.data) == len(b) and len(frames(m.data)) < len(frames(b)),
    "length-over-cap": lambda b, m: any(n > 256 for n in _lengths(m.data)),
    "length-u32-max": lambda b, m: 0xFFFFFFFF in _lengths(m.data),
    "pad-nonzero": lambda b, m: sum(f.pad != 0 for f in frames(m.data)) == 1,
    "unknown-tag": lambda b, m: sum(f.tag is None for f in frames(m.data)) == 1,
    "header-bitflip": lambda b, m: (
        len(m.data) == len(b)
        and len(bits := _bit_diff(b, m.data)) == 1
        # the flipped bit lies in the header of a frame of the base stream
        and any(f.offset * 8 <= bits[0] < (f.offset + 16) * 8 for f in frames(b))
    ),
    "truncate-frame": lambda b, m: len(m.data) < len(b),
    "header-only": lambda b, m: (len(b) - len(m.data)) in {f.length for f in frames(b)},
    "duplicate": lambda b, m: len(frames(m.data)) == len(frames(b)) + 1,
    "reorder": lambda b, m: (
        sorted(s.data for s in segments(m.data)) == sorted(s.data for s in segments(b))
        and m.data != b
    ),
    "drop-frame": lambda b, m: len(frames(m.data)) == len(frames(b)) - 1,
    "garbage": lambda b, m: len(m.data) > len(b),
    "oversized-frame": lambda b, m: any(f.length == 257 and f.crc_ok for f in frames(m.data)),
    "nested-frame": lambda b, m: any(
        isinstance(e, Dropped) and e.reason == DropReason.SCAN_SKIP
        for e in BulkDecoder("ktstr-0.44").feed(m.data)
    ),
    "wrong-payload": lambda b, m: (
        len(frames(m.data)) == len(frames(b)) + 1 and all(f.crc_ok for f in frames(m.data))
    ),
    "truncate-stream": lambda b, m: len(m.data) < len(b) and b.startswith(m.data),
    "split-reads": lambda b, m: m.data == b and len(m.reads) > 1,
    "bytewise": lambda b, m: m.data == b and m.reads == [bytes([x]) for x in b],
    "header-dribble": lambda b, m: (
        m.data == b
        and any(all(c in m.cuts for c in range(f.offset + 1, f.offset + 17)) for f in frames(b))
    ),
    "split-in-header": lambda b, m: (
        m.data == b and any(f.offset < c < f.offset + 16 for c in m.cuts for f in frames(b))
    ),
    "split-after-header": lambda b, m: (
        m.data == b and any(f.offset + 16 <= c <= f.offset + 19 for c in m.cuts for f in frames(b))
    ),
}


def test_every_bulk_kind_has_a_check() -> None:
    assert set(BULK_CHECKS) == set(BULK_MUTATIONS)


@pytest.mark.parametrize("kind", BULK_MUTATIONS)
def test_bulk_mutation_does_its_damage(kind: str) -> None:
    for seed in SEEDS:
        m = mutate_bulk(BASE, seed, cap=256, count=1, kinds=[kind])
        assert m.names == (kind,)
        assert BULK_CHECKS[kind](BASE, m), f"{kind} seed {seed}: {m.label}"


def test_labels_name_the_frame_and_offset() -> None:
    m = mutate_bulk(BASE, 3, count=1, kinds=["crc-flip"])
    (label,) = m.mutations
    bad = next(f for f in frames(m.data) if not f.crc_ok)
    assert re.match(rf"frame \d+ \({bad.label}\) at offset {bad.offset}: crc ", label.detail)


# ---- serial kinds --------------------------------------------------------------------


def _lines_max(data: bytes) -> int:
    return max(len(x) for x in data.split(b"\n"))


SERIAL_BASE = sample_serial_streams()["com1-dump"] + "é✓\r\n".encode()

SERIAL_CHECKS: dict[str, Callable[[bytes, Mutant], bool]] = {
    "invalid-utf8": lambda b, m: _not_utf8(m.data),
    "nul": lambda b, m: b"\0" in m.data,
    "bare-cr": lambda b, m: (
        m.data.count(b"\r") > b.count(b"\r") and m.data.count(b"\n") == b.count(b"\n")
    ),
    "drop-lf": lambda b, m: m.data.count(b"\n") == b.count(b"\n") - 1,
    "lf-only": lambda b, m: (
        m.data.count(b"\r\n") == b.count(b"\r\n") - 1 and m.data.count(b"\n") == b.count(b"\n")
    ),
    "kernel-splice": lambda b, m: any(m.data.count(x) > b.count(x) for x in KERNEL_LINES),
    "panic-splice": lambda b, m: any(m.data.count(x) > b.count(x) for x in PANIC_SPLICES),
    "marker-splice": lambda b, m: any(m.data.count(x) > b.count(x) for x in MARKERS),
    "long-line": lambda b, m: _lines_max(m.data) >= 255 + _lines_max(b) // 2,
    "latch-far": lambda b, m: (
        re.search(rb"Kernel panic - not syncing[^\n]{254,}\n", m.data) is not None
    ),
    "duplicate-line": lambda b, m: m.data.count(b"\n") == b.count(b"\n") + 1,
    "drop-line": lambda b, m: m.data.count(b"\n") == b.count(b"\n") - 1,
    "truncate": lambda b, m: b.startswith(m.data) and len(m.data) < len(b),
    "split-crlf": lambda b, m: any(m.data[c - 1 : c + 1] == b"\r\n" for c in m.cuts),
    "cut-marker": lambda b, m: any(
        i < c < i + len(x) for x in MARKERS for i in _finds(m.data, x) for c in m.cuts
    ),
    "cut-utf8": lambda b, m: any(0x80 <= m.data[c] <= 0xBF for c in m.cuts),
    "split-reads": lambda b, m: m.data == b and len(m.reads) > 1,
    "bytewise": lambda b, m: (
        m.data == b
        and m.cuts == tuple(range(m.cuts[0], m.cuts[-1] + 1))
        and len(m.cuts) >= min(511, len(b) - m.cuts[0] - 1)
    ),
}


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _finds(data: bytes, needle: bytes) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(needle), data)]


def test_every_serial_kind_has_a_check() -> None:
    assert set(SERIAL_CHECKS) == set(SERIAL_MUTATIONS)


@pytest.mark.parametrize("kind", SERIAL_MUTATIONS)
def test_serial_mutation_does_its_damage(kind: str) -> None:
    for seed in SEEDS:
        m = mutate_serial(SERIAL_BASE, seed, count=1, kinds=[kind])
        assert m.names == (kind,)
        assert SERIAL_CHECKS[kind](SERIAL_BASE, m), f"{kind} seed {seed}: {m.label}"


# ---- transcript kinds ----------------------------------------------------------------

REJECTED = {
    "bad-json": "invalid JSON",
    "non-object": "expected a JSON object",
    "empty-line": "empty line|invalid JSON",
    "time-backwards": "time goes backwards",
    "unknown-channel": "unknown channel",
    "bad-direction": "direction must be|does not carry",
    "bad-base64": "not valid base64",
    "text-and-b64": "exactly one of 'text' or 'b64'",
    "not-utf8": "not UTF-8",
    "missing-field": "missing field|not a ktstr transcript",
    "wrong-type": "must be|expected an object",
    "header-damage": "not a ktstr transcript|version|must be|channel",
    "no-header": "not a ktstr transcript",
    "long-line": "longer than 4096 bytes",
    "deep-nesting": "nested too deeply|line longer",
    "bom": "invalid JSON",
    "empty-file": "empty file",
    "gzip-corrupt": "compressed stream is corrupt or truncated|not UTF-8|invalid JSON",
}
CUT = {
    "gzip-truncate": "gzip stream ends before its end marker|empty file|Not a gzipped",
    "gzip-trailing": "gzip stream ends before its end marker|compressed stream is corrupt",
}
"""A gzip stream that ends early (cut, or a second member only begun): read as far as the
cut and reported as a truncation; an error only with ``strict`` or when nothing before
the cut decodes (or the bytes after the stream are not gzip at all)."""
ACCEPTED = {"crlf", "no-final-newline", "gzip"}
TEXTUAL = {"bad-time", "lone-surrogate", "swap-lines", "duplicate-line"}


def test_every_transcript_kind_has_an_expectation() -> None:
    assert set(REJECTED) | set(CUT) | ACCEPTED | TEXTUAL == set(TRANSCRIPT_MUTATIONS)


def _reader(data: bytes, max_line: int = 4096, strict: bool = False) -> TranscriptReader:
    return TranscriptReader(io.BufferedReader(io.BytesIO(data)), max_line=max_line, strict=strict)


def _read(data: bytes, max_line: int = 4096) -> object:
    with _reader(data, max_line) as r:
        return list(r)


@pytest.mark.parametrize("kind", sorted(CUT))
def test_a_gzip_stream_ending_early_reads_up_to_the_cut(kind: str) -> None:
    t = sample_transcript()
    for seed in SEEDS:
        m = damage_transcript(t, seed, count=1, kinds=[kind])
        with pytest.raises(TranscriptError, match=CUT[kind]), _reader(m.data, strict=True) as r:
            list(r)
        try:
            with _reader(m.data) as r:
                events, cut = list(r), r.truncated
        except TranscriptError as exc:  # nothing before the cut, or junk that is not gzip
            assert re.search("empty file|Not a gzipped|corrupt", str(exc)), exc
            continue
        assert events == t.events[: len(events)], m.label
        assert cut is not None and "end marker" in cut.reason


@pytest.mark.parametrize("kind", sorted(REJECTED))
def test_transcript_damage_is_rejected_with_its_reason(kind: str) -> None:
    for seed in SEEDS:
        m = damage_transcript(sample_transcript(), seed, count=1, kinds=[kind])
        with pytest.raises(TranscriptError, match=REJECTED[kind]):
            _read(m.data)


@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_benign_transcript_variants_still_read(kind: str) -> None:
    t = sample_transcript()
    m = damage_transcript(t, 1, count=1, kinds=[kind])
    assert len(_read(m.data)) == len(t.events)  # type: ignore[arg-type]


def _bad_t(value: bytes) -> bool:
    text = value.decode().strip()
    try:
        t = float(text)
    except ValueError:
        return True
    return not math.isfinite(t) or t < 0 or len(text) > 300


def test_textual_transcript_damage() -> None:
    t = sample_transcript()
    for seed in SEEDS:
        bad = damage_transcript(t, seed, count=1, kinds=["bad-time"]).data
        assert any(_bad_t(v) for v in re.findall(rb'"t": ([^,}]+)', bad))
        sur = damage_transcript(t, seed, count=1, kinds=["lone-surrogate"]).data
        assert b'"a\\ud800b"' in sur
        swapped = damage_transcript(t, seed, count=1, kinds=["swap-lines"]).data
        assert sorted(swapped.splitlines()) == sorted(
            damage_transcript(t, 0, count=0).data.splitlines()
        )
        dup = damage_transcript(t, seed, count=1, kinds=["duplicate-line"]).data
        assert dup.count(b"\n") == len(t.events) + 2


# ---- strategies --------------------------------------------------------------------------


@settings(max_examples=60)
@given(mutated_bulk_streams(cap=64))
def test_bulk_strategy_feeds_the_oracles(m: Mutant) -> None:
    assert m.mutations
    check_bulk(FUZZ_PROFILES[bulk_profile_index("ktstr-0.15/cap64")], m.data, m.reads)
    check_bulk(FUZZ_PROFILES[bulk_profile_index("ktstr-0.44/cap64")], m.data, m.reads)


@settings(max_examples=60)
@given(serial_noise())
def test_serial_strategy_feeds_the_oracles(m: Mutant) -> None:
    assert m.mutations
    check_serial(serial_options(0x02), m.data, m.reads)


@settings(max_examples=40)
@given(damaged_transcript_lines(kinds=sorted(REJECTED), max_mutations=1))
def test_transcript_strategy_yields_rejected_files(m: Mutant) -> None:
    with pytest.raises(TranscriptError):
        _read(m.data)


# ---- harness, oracles and plans ----------------------------------------------------------


def test_plans_cut_the_stream() -> None:
    stream = bytes(range(50))
    assert decode_plan(b"\x00" + stream, 0) == (stream, [stream], False)
    assert decode_plan(b"\x01" + stream, 0)[1] == [bytes([x]) for x in stream]
    data = encode_bulk_input(0, stream, [10, 20], take_residual=True)
    assert decode_plan(data, 1) == (stream, [stream[:10], stream[10:20], stream[20:]], True)
    s, reads, _ = decode_plan(b"\x09" + stream, 0)
    assert s == stream and b"".join(reads) == stream and len(reads) > 1


def test_oracle_catches_a_decoder_that_hides_bad_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    from ktstr_host.fuzzing import targets

    class Lenient(BulkDecoder):
        def feed(self, data: object) -> list[Frame | Dropped]:
            return [e for e in super().feed(data) if not (isinstance(e, Frame) and not e.crc_ok)]  # type: ignore[arg-type]

    bad = bytearray(build_frame(MsgType.EXIT, bytes(4)))
    bad[-1] ^= 1
    monkeypatch.setattr(targets, "BulkDecoder", Lenient)
    with pytest.raises(OracleError, match="upstream's model"):
        fuzz_bulk(encode_bulk_input("ktstr-0.15", bytes(bad)))


def test_oracle_catches_split_dependence(monkeypatch: pytest.MonkeyPatch) -> None:
    from ktstr_host.fuzzing import targets

    class Forgetful(BulkDecoder):
        def feed(self, data: object) -> list[Frame | Dropped]:
            return super().feed(data)[:1]  # type: ignore[arg-type]

    monkeypatch.setattr(targets, "BulkDecoder", Forgetful)
    monkeypatch.setattr(targets, "ReferenceAssembler", _ForgetfulRef)
    stream = build_frame(MsgType.SYS_RDY, b"") * 3
    with pytest.raises(OracleError, match="split changed the events"):
        targets.fuzz_bulk(encode_bulk_input("ktstr-0.15", stream, [16, 32]))


class _ForgetfulRef(reference.ReferenceAssembler):
    def feed(self, data: bytes) -> list[tuple[int, bytes, bool]]:
        return super().feed(data)[:1]


def test_memory_bound_and_accounting_are_checked_per_feed() -> None:
    cap64 = FUZZ_PROFILES[bulk_profile_index("ktstr-0.15/cap64")]
    # an oversized header waits for its payload: 2 x cap pending is fine, more is cleared
    stream = struct.pack("<IIII", MsgType.STDOUT, 200, 0, 0) + bytes(112)
    events = check_bulk(cap64, stream, [stream[:100], stream[100:]])
    assert [type(e) for e in events] == [Dropped]


def test_seed_corpus_covers_fixtures(tmp_path: Path) -> None:
    fixtures = find_fixtures()
    assert fixtures is not None
    bulk = seed_inputs("bulk", fixtures)
    raw = (fixtures / "bulk" / "hostile-run.bin").read_bytes()
    assert encode_bulk_input(0, raw) in bulk
    counts = write_corpus(tmp_path, fixtures)
    assert set(counts) == set(TARGETS) and all(counts.values())
    assert sorted(load_corpus(tmp_path, "payloads")) == sorted(seed_inputs("payloads", fixtures))
    for target, fn in TARGETS.items():
        for seed in load_corpus(tmp_path, target):
            fn(seed)


# ---- smoke run: a few thousand inputs per target, all oracles -------------------------------

KNOWN_BUGS: set[tuple[str, str, str]] = set()
"""(target, exception type, file) of open findings the smoke run tolerates, each with a
strict-xfail test in tests/test_fuzz_regressions.py; empty: all found bugs are fixed."""


def _known(f: Finding) -> bool:
    return any(
        f.target == t and f.error.startswith(e + ":") and p in f.signature for t, e, p in KNOWN_BUGS
    )


def test_bulk_cap_target_finds_a_slow_input() -> None:
    """The time budget is an oracle: an input over it is a finding."""
    from ktstr_host.fuzzing.targets import OracleError, check_bulk_large

    stream = build_header(MsgType.STDOUT, 16 << 20, 0) * ((17 << 20) // 16)
    with pytest.raises(OracleError, match="CPU"):
        check_bulk_large(get_profile("ktstr-0.44"), stream, budget=0.0)
    check_bulk_large(get_profile("ktstr-0.44"), stream)


@pytest.mark.parametrize("engine,iterations", [("mutate", 3000), ("hypothesis", 400)])
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_smoke_fuzz_run_passes_every_oracle(target: str, engine: str, iterations: int) -> None:
    seeds = seed_inputs(target, find_fixtures())
    if target == "bulk-cap":  # 17 MiB per input: the hostile seeds and a few mutants
        seeds, iterations = seeds[4:6], 3
    report = ENGINES[engine](target, seeds, iterations=iterations, seed=20240601)
    assert report.inputs >= iterations
    unknown = [f for f in report.findings if not _known(f)]
    assert not unknown, "\n\n".join(f"{f.label}\n{f.input.hex()}\n{f.traceback}" for f in unknown)


class _Clock:
    """A clock that moves only when the fake target runs (one second per input)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_slow_target_stops_near_the_time_limit(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target taking a second per input, a 5 s limit: about 5 inputs, not a batch of
    2,000 (``bulk-cap`` once ran 11 minutes with ``--time 20``)."""
    clock = _Clock()

    def slow(data: bytes) -> None:
        clock.now += 1.0

    monkeypatch.setattr(runner, "time", clock)
    monkeypatch.setitem(TARGETS, "bulk", slow)
    seeds = seed_inputs("bulk", find_fixtures())[:3]
    report = ENGINES[engine]("bulk", seeds, iterations=10_000, seed=1, time_limit=5.0)
    assert report.inputs in (5, 6) and clock.now == report.inputs
    assert report.seconds == clock.now


def test_cli_runs_the_harness(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "--target", "payloads", "--iterations", "500", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert re.match(
        r"target payloads \(engine mutate, seed 2\): 500 inputs in .* inputs/s, 0 findings", out
    )
    assert main(["fuzz", "--write-corpus", str(tmp_path)]) == 0
    assert "bulk:" in capsys.readouterr().out


# ---- differential mode -------------------------------------------------------------------

LENIENT_DECODER = """
import json, sys
from ktstr_host.decode.bulk import BulkDecoder
from ktstr_host.decode.describe import describe_event
from ktstr_proto.profiles import get_profile

profile = get_profile(sys.argv[1])
d = BulkDecoder(profile)
events = d.feed(sys.stdin.buffer.read()) + d.close()
for e in events:
    row = describe_event(e, profile)
    if row["event"] == "frame":
        row["crc_ok"] = True  # the bug: CRC never checked
    print(json.dumps(row))
s = d.stats
print(json.dumps({"event": "end", "bytes": s.fed, "frames": s.frames, "framed_bytes": s.framed,
                  "drops": s.drops, "dropped_bytes": s.dropped}))
"""


def _bulk_corpus(tmp_path: Path, *streams: bytes) -> Path:
    d = tmp_path / "corpus" / "bulk"
    d.mkdir(parents=True)
    for i, s in enumerate(streams):
        (d / f"seed{i}").write_bytes(encode_bulk_input(0, s))
    return d.parent


def test_differential_detects_a_decoder_that_ignores_crc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "lenient.py"
    script.write_text(LENIENT_DECODER)
    good = build_frame(MsgType.STDOUT, b"ok\n") + build_frame(MsgType.EXIT, bytes(4))
    corpus = _bulk_corpus(tmp_path, good)
    args = ["fuzz", "--against", f"{sys.executable} {script} {{profile}}", "--seed", "4"]
    args += ["--shrink-budget", "150"]
    status = main([*args, "--iterations", "40", "--corpus", str(corpus)])
    out = capsys.readouterr().out
    assert status == 1, out
    assert "first difference at output line" in out and "crc_ok" in out
    hexed = re.search(r"minimised input \(hex\): ([0-9a-f]+)", out)
    assert hexed is not None
    small = bytes.fromhex(hexed.group(1))
    assert len(small) <= 20  # one header (+ at most a few payload bytes)
    (frame,) = frames(small)
    assert not frame.crc_ok
    assert re.search(r'ours: .*"crc_ok": false', out) and re.search(
        r'theirs: .*"crc_ok": true', out
    )
    assert "mutations: " in out


def test_differential_finds_no_disagreement_with_ourselves(
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = f"{sys.executable} -m ktstr_host.cli decode --json --profile {{profile}} -"
    status = main(["fuzz", "--against", command, "--iterations", "8", "--seed", "5"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.startswith("no disagreement with ") and "in 8 inputs" in out


def test_compare_and_minimise_in_process() -> None:
    profile = get_profile("ktstr-0.15")
    data = sample_bulk_streams()["normal"]
    ours = decode_json_lines(data, profile)
    assert compare(ours, ExternalRun(0, list(ours), "")) is None
    assert compare(ours, ExternalRun(3, [], "boom")).kind == "exit-status"  # type: ignore[union-attr]
    assert compare(ours, ExternalRun(0, ours[:-1], "")).kind == "line"  # type: ignore[union-attr]
    assert compare(ours, ExternalRun(0, ["nope", *ours[1:]], "")).kind == "not-json"  # type: ignore[union-attr]
    # shrink to the single frame that makes a predicate hold
    target = build_frame(MsgType.EXIT, b"\x07\0\0\0")
    small, calls = minimise(data + target + data, lambda d: b"\x07\0\0\0" in d and len(d) >= 4)
    assert small == b"\x07\0\0\0" and calls < 500


def test_differential_loop_in_process_with_a_fake_command(tmp_path: Path) -> None:
    script = tmp_path / "fake.py"
    script.write_text(LENIENT_DECODER)
    bad = bytearray(build_frame(MsgType.EXIT, bytes(4)))
    bad[-2] ^= 0x10
    report = differential(
        [sys.executable, str(script), "ktstr-0.15"], get_profile("ktstr-0.15"), [bytes(bad)],
        iterations=1, shrink_budget=40,
    )  # fmt: skip
    assert report.disagreement is not None and report.disagreement.keys == {"crc_ok"}
    assert len(report.minimised) <= len(bad)


def test_atheris_entry_scripts_exist() -> None:
    for target in TARGETS:
        text = (ROOT / "fuzz" / f"atheris_{target}.py").read_text()
        assert f'main("{target}")' in text
    assert "instrument_imports" in (ROOT / "fuzz" / "atheris_main.py").read_text()


def test_split_at_and_cuts() -> None:
    assert split_at(b"abcdef", [4, 2, 2, 0, 9]) == [b"ab", b"cd", b"ef"]
    assert split_at(b"", [1]) == []


def test_cli_module_is_runnable() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ktstr_host.cli", "fuzz", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--against" in out and "--target" in out


@pytest.mark.parametrize("target", ["bulk", "serial", "payloads", "transcript"])
def test_hypothesis_fuzz_one_input_entries(target: str) -> None:
    import random

    from ktstr_host.fuzzing.hypothesis_entry import ENTRIES, fuzz_one_input

    rng = random.Random(target)
    for _ in range(200):
        fuzz_one_input(target, rng.randbytes(rng.randrange(0, 600)))
    assert callable(ENTRIES[target].hypothesis.fuzz_one_input)
