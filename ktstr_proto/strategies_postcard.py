"""Hypothesis strategies for the postcard payload schemas (tests and fuzzing).

Every value drawn encodes without error under its schema. Floats include NaN (with any
payload), infinities and -0.0: compare decoded values bitwise, not with ``==``.
Collections are kept small so that composite values stay cheap to build.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hypothesis import strategies as st

from .schemas import (
    DETAIL_KINDS_E3,
    DETAIL_KINDS_E4,
    OUTCOME_KINDS_E3,
    OUTCOME_KINDS_E4,
    AssertDetail,
    AssertResult,
    CgroupStats,
    CgroupStatsE3,
    DirectTarget,
    InfoNote,
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
    NoteKind,
    NoteValue,
    Outcome,
    OutcomeKind,
    PassDetail,
    PayloadMetrics,
    PerCpuFieldTarget,
    PhaseBucket,
    PhaseBucketE3,
    PhaseCgroupStats,
    Polarity,
    PolarityKind,
    RawPayloadOutput,
    ScenarioStats,
    ScenarioStatsE3,
    Schema,
    SymbolTarget,
    TaskFieldTarget,
    ValueKind,
    WireMetricHint,
)

S = st.SearchStrategy
SMALL = 3

u16 = st.integers(0, 2**16 - 1)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
f64 = st.floats(allow_nan=True, allow_infinity=True)
text = st.text(max_size=12)
phases = st.none() | st.sampled_from(["BASELINE", "Step[0]", "Step[12]"]) | text
opt_f64 = st.none() | f64
f64_map = st.dictionaries(text, f64, max_size=SMALL)


def _tuples(elements: S[Any], max_size: int = SMALL) -> S[tuple[Any, ...]]:
    return st.lists(elements, max_size=max_size).map(tuple)


def _float_fields(cls: type) -> list[str]:
    return [f.name for f in fields(cls) if f.type == "float"]


def _sets(elements: S[Any]) -> S[frozenset[Any]]:
    return st.frozensets(elements, max_size=4)


# ---- AssertResult --------------------------------------------------------------------


def note_values() -> S[NoteValue]:
    return st.one_of(
        i64.map(lambda v: NoteValue(NoteKind.INT, v)),
        u64.map(lambda v: NoteValue(NoteKind.UINT, v)),
        f64.map(lambda v: NoteValue(NoteKind.FLOAT, v)),
        st.booleans().map(lambda v: NoteValue(NoteKind.BOOL, v)),
        text.map(lambda v: NoteValue(NoteKind.TEXT, v)),
    )


def assert_details(schema: Schema = "e4") -> S[AssertDetail]:
    kinds = DETAIL_KINDS_E4 if schema == "e4" else DETAIL_KINDS_E3
    return st.builds(AssertDetail, st.sampled_from(kinds), text, phases)


def outcomes(schema: Schema = "e4") -> S[Outcome]:
    kinds = OUTCOME_KINDS_E4 if schema == "e4" else OUTCOME_KINDS_E3
    return st.sampled_from(kinds).flatmap(
        lambda k: (
            st.just(Outcome(k))
            if k == OutcomeKind.PASS
            else assert_details(schema).map(lambda d: Outcome(k, d))
        )
    )


pass_details = st.builds(PassDetail, text, text, text, st.none() | text, phases)
info_notes = st.builds(InfoNote, text, phases)

cgroup_stats = st.builds(
    CgroupStats,
    cgroup_name=text,
    num_workers=u64,
    cpus_used=_sets(u64),
    num_cpus=u64,
    avg_off_cpu_pct=opt_f64,
    min_off_cpu_pct=opt_f64,
    max_off_cpu_pct=opt_f64,
    spread=opt_f64,
    max_gap_ms=u64,
    max_gap_cpu=u64,
    total_migrations=u64,
    migration_ratio=f64,
    p99_wake_latency_us=f64,
    median_wake_latency_us=f64,
    wake_latency_cv=f64,
    total_iterations=u64,
    total_cpu_time_ns=u64,
    mean_run_delay_us=f64,
    worst_run_delay_us=f64,
    page_locality=f64,
    cross_node_migration_ratio=f64,
    ext_metrics=f64_map,
)
phase_cgroup_stats = st.builds(
    PhaseCgroupStats,
    num_workers=u64,
    cpus_used=_sets(u64),
    wake_latencies_ns=_tuples(u64, 6),
    wake_sample_total=u64,
    run_delays_ns=_tuples(u64, 6),
    off_cpu_pcts=_tuples(f64, 6),
    total_migrations=u64,
    total_iterations=u64,
    total_cpu_time_ns=u64,
    numa_pages_local=u64,
    numa_pages_total=u64,
    cross_node_migrated=u64,
    max_gap_ms=u64,
    max_gap_cpu=u64,
    stripped=st.booleans(),
)
_phase_head: dict[str, S[Any]] = {
    "step_index": u16,
    "label": text,
    "start_ms": u64,
    "end_ms": u64,
    "sample_count": u64,
    "metrics": f64_map,
}
phase_buckets = st.builds(
    PhaseBucket,
    **_phase_head,
    per_cgroup=st.dictionaries(text, phase_cgroup_stats, max_size=2),
)
scenario_stats = st.builds(
    ScenarioStats,
    cgroups=_tuples(cgroup_stats, 2),
    total_workers=u64,
    total_cpus=u64,
    total_migrations=u64,
    worst_spread=f64,
    worst_gap_ms=u64,
    worst_gap_cpu=u64,
    worst_migration_ratio=f64,
    total_iterations=u64,
    worst_page_locality=f64,
    worst_cross_node_migration_ratio=f64,
    ext_metrics=f64_map,
    phases=_tuples(phase_buckets, 2),
)

_E3_CGROUP_FLOATS = _float_fields(CgroupStatsE3)
cgroup_stats_e3 = st.builds(
    CgroupStatsE3,
    num_workers=u64,
    num_cpus=u64,
    max_gap_ms=u64,
    max_gap_cpu=u64,
    total_migrations=u64,
    total_iterations=u64,
    ext_metrics=f64_map,
    **dict.fromkeys(_E3_CGROUP_FLOATS, f64),
)
_E3_STATS_FLOATS = _float_fields(ScenarioStatsE3)
scenario_stats_e3 = st.builds(
    ScenarioStatsE3,
    cgroups=_tuples(cgroup_stats_e3, 2),
    total_workers=u64,
    total_cpus=u64,
    total_migrations=u64,
    worst_gap_ms=u64,
    worst_gap_cpu=u64,
    total_iterations=u64,
    ext_metrics=f64_map,
    phases=_tuples(st.builds(PhaseBucketE3, **_phase_head), 2),
    **dict.fromkeys(_E3_STATS_FLOATS, f64),
)


def assert_results(schema: Schema = "e4") -> S[AssertResult]:
    """Arbitrary results of one schema."""
    return st.builds(
        AssertResult,
        outcomes=_tuples(outcomes(schema)),
        passes=_tuples(pass_details),
        stats=scenario_stats if schema == "e4" else scenario_stats_e3,
        measurements=st.dictionaries(text, note_values(), max_size=SMALL),
        info_notes=_tuples(info_notes),
    )


# ---- PMET / RAWO ---------------------------------------------------------------------

polarities = st.sampled_from(list(PolarityKind)).flatmap(
    lambda k: (
        f64.map(Polarity.target_value) if k is PolarityKind.TARGET_VALUE else st.just(Polarity(k))
    )
)
metrics = st.builds(
    Metric,
    text,
    f64,
    polarities,
    text,
    st.sampled_from(list(MetricSource)),
    st.sampled_from(list(MetricStream)),
)
payload_metrics = st.builds(PayloadMetrics, u64, _tuples(metrics), i32)
raw_payload_outputs = st.builds(
    RawPayloadOutput,
    payload_index=u64,
    stdout=st.text(max_size=40),
    stderr=text,
    hint=st.none() | text,
    metric_hints=_tuples(st.builds(WireMetricHint, text, polarities, text)),
    metric_bounds=st.none() | st.builds(MetricBounds, st.none() | u64, opt_f64, opt_f64),
)


# ---- KORQ / KORP ---------------------------------------------------------------------

kernel_op_targets = st.one_of(
    st.builds(SymbolTarget, text),
    st.builds(DirectTarget, u64),
    st.builds(KvaTarget, u64),
    st.builds(PerCpuFieldTarget, text, text, u32),
    st.builds(TaskFieldTarget, u32, u64, text),
)
kernel_op_values = st.one_of(
    u32.map(lambda v: KernelOpValue(ValueKind.U32, v)),
    u64.map(lambda v: KernelOpValue(ValueKind.U64, v)),
    st.binary(max_size=16).map(lambda v: KernelOpValue(ValueKind.BYTES, v)),
    u32.map(lambda v: KernelOpValue(ValueKind.OR_U32, v)),
)
kernel_op_requests = st.builds(
    KernelOpRequestPayload,
    u32,
    st.sampled_from(list(KernelOpMode)),
    st.sampled_from(list(KernelOpDirection)),
    text,
    _tuples(st.builds(KernelOpEntry, kernel_op_targets, kernel_op_values)),
)
kernel_op_replies = st.builds(
    KernelOpReplyPayload, u32, st.booleans(), text, _tuples(kernel_op_values)
)
