"""Seed corpora for the fuzz targets, from ``fixtures/`` and built-in samples.

Every seed is already in its target's input layout (``targets`` module docstring), so a
corpus directory written by :func:`write_corpus` can be handed to atheris/libFuzzer as
is. ``fixtures/bulk/*.bin`` are raw bulk streams; any ``fixtures/**/*.jsonl[.gz]`` that
reads as a transcript contributes its file and its bulk, COM1 and COM2 bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_guest.fuzz import sample_bulk_streams, sample_serial_streams, segments
from ktstr_guest.fuzz.transcript import sample_transcript, transcript_lines
from ktstr_proto.channels import names_read_by
from ktstr_proto.errors import KtstrError, UsageError
from ktstr_proto.frame import HEADER_SIZE, build_header
from ktstr_proto.schemas import (
    AssertResult,
    DirectTarget,
    KernelOpDirection,
    KernelOpEntry,
    KernelOpMode,
    KernelOpReplyPayload,
    KernelOpRequestPayload,
    KernelOpValue,
    KvaTarget,
    Metric,
    MetricBounds,
    MetricSource,
    MetricStream,
    PayloadMetrics,
    PerCpuFieldTarget,
    Polarity,
    PolarityKind,
    RawPayloadOutput,
    SymbolTarget,
    TaskFieldTarget,
    ValueKind,
    WireMetricHint,
    encode_assert_result,
    encode_kernel_op_reply,
    encode_kernel_op_request,
    encode_payload_metrics,
    encode_raw_payload_output,
)
from ktstr_proto.tags import MsgType, tag_label

from ..transcripts.io import read_transcript
from .targets import (
    BUILTIN_BULK_PROFILES,
    FIXED_TAGS,
    FUZZ_PROFILES,
    TARGETS,
    encode_bulk_input,
    encode_serial_input,
    payload_decoder_index,
)

SERIAL_SEED_OPTIONS = (0x00, 0x01, 0x02, 0x0A, 0x21 | 0x10, 0x4C)
"""Serial option bytes every serial seed is paired with (channels, capture models,
``max_line`` values and latch settings)."""


def find_fixtures() -> Path | None:
    """``$KTSTR_FIXTURES`` or the repository's ``fixtures/`` directory, if present."""
    env = os.environ.get("KTSTR_FIXTURES")
    for candidate in ([Path(env)] if env else []) + [
        Path(__file__).resolve().parents[2] / "fixtures"
    ]:
        if candidate.is_dir():
            return candidate
    return None


def fixture_transcripts(fixtures: Path | None) -> dict[str, bytes]:
    """The raw bytes of every fixture file that reads as a transcript."""
    out: dict[str, bytes] = {}
    if fixtures is None:
        return out
    for path in sorted([*fixtures.rglob("*.jsonl"), *fixtures.rglob("*.jsonl.gz")]):
        try:
            read_transcript(path)
        except (KtstrError, OSError, ValueError):
            continue  # e.g. golden decode outputs: JSON lines, but not transcripts
        out[str(path.relative_to(fixtures))] = path.read_bytes()
    return out


def _channels(fixtures: Path | None, names: tuple[str, ...]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for rel in fixture_transcripts(fixtures):
        assert fixtures is not None
        t = read_transcript(fixtures / rel)
        for name in names:
            data = t.channel_bytes(name)
            if data:
                out[f"{rel}:{name}"] = data
    return out


def bulk_streams(fixtures: Path | None = None) -> dict[str, bytes]:
    """Raw bulk streams to mutate: samples, ``fixtures/bulk/*.bin``, transcripts' bulk."""
    out = {f"sample:{k}": v for k, v in sample_bulk_streams().items()}
    if fixtures is not None:
        for path in sorted((fixtures / "bulk").glob("*.bin")):
            out[f"bulk/{path.name}"] = path.read_bytes()
    out.update(_channels(fixtures, names_read_by("bulk")))
    return out


def serial_streams(fixtures: Path | None = None) -> dict[str, bytes]:
    """Serial captures to mutate: samples and the COM1/COM2 bytes of transcripts."""
    out = {f"sample:{k}": v for k, v in sample_serial_streams().items()}
    out.update(_channels(fixtures, names_read_by("serial")))
    return out


def transcript_files(fixtures: Path | None = None) -> dict[str, bytes]:
    """Transcript files to damage: the built-in sample and fixture transcripts."""
    sample = ("\n".join(transcript_lines(sample_transcript())) + "\n").encode()
    return {"sample": sample, **fixture_transcripts(fixtures)}


def _postcard_payloads() -> list[tuple[str, bytes]]:
    metric = Metric(
        "latency", 1.5, Polarity(PolarityKind.LOWER_BETTER), "ms", MetricSource.JSON,
        MetricStream.STDOUT,
    )  # fmt: skip
    target = Metric(
        "rate", 2.0, Polarity.target_value(3.0), "", MetricSource.LLM_EXTRACT, MetricStream.STDERR
    )
    entries = (
        KernelOpEntry(SymbolTarget("jiffies"), KernelOpValue(ValueKind.U64, 1 << 40)),
        KernelOpEntry(DirectTarget(0xFFFF888000000000), KernelOpValue(ValueKind.U32, 7)),
        KernelOpEntry(KvaTarget(0xFFFFC90000000000), KernelOpValue(ValueKind.BYTES, b"\x00\xff")),
        KernelOpEntry(PerCpuFieldTarget("rq", "nr_running", 1), KernelOpValue(ValueKind.OR_U32, 2)),
        KernelOpEntry(TaskFieldTarget(1, 5, "prio"), KernelOpValue(ValueKind.U32, 120)),
    )
    request = KernelOpRequestPayload(9, KernelOpMode.HOT, KernelOpDirection.READ, "t", entries)
    reply = KernelOpReplyPayload(9, True, "", (KernelOpValue(ValueKind.BYTES, b"ab"),))
    raw = RawPayloadOutput(
        1,
        "out\n",
        "err",
        "hint",
        (WireMetricHint("rate", Polarity(PolarityKind.HIGHER_BETTER), "ops"),),
        MetricBounds(1, 0.0, 2.5),
    )
    e4 = [AssertResult.pass_("e4"), AssertResult.fail_msg("boom", "e4")]
    e3 = [AssertResult.pass_("e3"), AssertResult.skip("no cgroup", "e3")]
    out = [("assert-result/ktstr-0.15", encode_assert_result(r, "ktstr-0.15")) for r in e4 + e3]
    out += [("assert-result/ktstr-0.10", encode_assert_result(r, "ktstr-0.10")) for r in e3]
    out += [("assert-result/e4", encode_assert_result(r, "ktstr-0.20")) for r in e4]
    out += [("assert-result/e3", encode_assert_result(r, "ktstr-0.10")) for r in e3]
    out += [
        ("payload-metrics", encode_payload_metrics(PayloadMetrics(0, (metric, target), -1))),
        ("payload-metrics", encode_payload_metrics(PayloadMetrics(3, (), 0))),
        ("raw-payload-output", encode_raw_payload_output(raw)),
        ("raw-payload-output", encode_raw_payload_output(RawPayloadOutput(0, "", ""))),
        ("kernel-op-request", encode_kernel_op_request(request)),
        ("kernel-op-reply", encode_kernel_op_reply(reply)),
        ("kernel-op-reply", encode_kernel_op_reply(KernelOpReplyPayload(1, False, "nope"))),
    ]
    return out


def _fixed_payloads(streams: dict[str, bytes]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    fixed = {int(t) for t in FIXED_TAGS}
    for name, stream in streams.items():
        profile = "ktstr-0.10" if "e3" in name else "ktstr-0.15"
        for seg in segments(stream):
            tag = int.from_bytes(seg.data[:4], "little") if seg.frame else None
            if tag in fixed:
                assert tag is not None
                out.append((f"fixed/{tag_label(tag)}/{profile}", seg.data[HEADER_SIZE:]))
    w = GuestBulkWriter("ktstr-bulk-256k")
    out.append(("fixed/SCEN/ktstr-bulk-256k", w.scenario_end(5)[HEADER_SIZE:]))
    return out


def seed_inputs(target: str, fixtures: Path | None = None) -> list[bytes]:
    """Seeds for ``target`` in its input layout (deterministic order, no duplicates)."""
    seeds: list[bytes] = []
    if target == "bulk":
        for stream in bulk_streams(fixtures).values():
            seeds += [encode_bulk_input(i, stream) for i in range(len(FUZZ_PROFILES))]
            seeds.append(bytes([0, 7]) + stream)  # small random feeds
    elif target == "bulk-cap":
        # 17 MiB per input: one plausible header waiting for a whole cap, then the
        # first three fixture streams, spread over the built-in profiles.
        hostile = build_header(MsgType.STDOUT, 16 << 20, 0)
        seeds += [bytes([i, 0]) + hostile for i in range(len(BUILTIN_BULK_PROFILES))]
        for k, stream in enumerate(list(bulk_streams(fixtures).values())[:3]):
            seeds.append(bytes([k % len(BUILTIN_BULK_PROFILES), 0]) + stream[:4096])
    elif target == "serial":
        for stream in serial_streams(fixtures).values():
            seeds += [encode_serial_input(o, stream) for o in SERIAL_SEED_OPTIONS]
    elif target == "payloads":
        pairs = _postcard_payloads() + _fixed_payloads(bulk_streams(fixtures))
        seeds += [bytes([payload_decoder_index(n)]) + p for n, p in pairs]
    elif target == "transcript":
        for data in transcript_files(fixtures).values():
            seeds += [b"\x00" + data, b"\x01" + data, b"\x00" + gzip.compress(data, mtime=0)]
    else:
        raise UsageError(f"unknown fuzz target {target!r}; known: {', '.join(TARGETS)}")
    return list(dict.fromkeys(seeds))


def write_corpus(directory: str | os.PathLike[str], fixtures: Path | None = None) -> dict[str, int]:
    """Write every target's seeds to ``directory/<target>/<sha1>``; return the counts."""
    counts: dict[str, int] = {}
    for target in TARGETS:
        sub = Path(directory) / target
        sub.mkdir(parents=True, exist_ok=True)
        seeds = seed_inputs(target, fixtures)
        for seed in seeds:
            (sub / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        counts[target] = len(seeds)
    return counts


def load_corpus(directory: str | os.PathLike[str], target: str) -> list[bytes]:
    """Inputs stored in ``directory/<target>/`` (or directly in ``directory``)."""
    root = Path(directory)
    sub = root / target if (root / target).is_dir() else root
    if not sub.is_dir():
        raise UsageError(f"{sub}: not a corpus directory")
    return [p.read_bytes() for p in sorted(sub.iterdir()) if p.is_file()]
