"""``AssertResult`` on the wire: the E3 and E4 postcard layouts, decoding, encoding, and the
guest's oversized-result fallback (payloads.md sections 3 and 5).

Upstream facts this module relies on beyond payloads.md (all read in ``likewhatevs/ktstr``):

* E3 ``DetailKind`` (``src/assert/mod.rs`` @ 237c19fe) has 17 variants: the E4 list minus
  ``WorkerStalled``, i.e. it already has ``SchedulerCrashed`` / ``SchedulerExitedCleanly``
  / ``SchedulerDiedUnknownReason`` (doc comments there still mention a ``SchedulerDied``
  variant, which is not in the enum). So E3 ``Skip`` = 15 and ``Other`` = 16; E4 ``Skip`` =
  16 and ``Other`` = 17.
* The verdict fold is ``AssertResult::outcome_ref`` (237c19fe; E4 adds Inconclusive):
  an all-Skip list folds to Skip, not to Pass.
* ``classify_test_result`` / ``send_test_result`` (``src/vmm/guest_comms.rs`` @ dc1b9767):
  step 2 runs only when stripping dropped at least one sample; the dropped count is the
  number of samples (wake + run-delay + off-CPU values), not of carriers; ``stripped`` is
  set only on carriers that had samples; the step-3 size is the re-encoded (stripped,
  noted) size when a strip happened, else the original size. The note and the detail are
  built outside any phase guard, so their ``phase`` is None. E3 (``guest_comms.rs`` @
  037af489) goes straight from step 1 to step 3.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import PayloadError, UsageError
from ..postcard import (
    F64,
    I64,
    U16,
    U64,
    BoolByte,
    Map,
    Option,
    Seq,
    Set,
    String,
    Tagged,
    Usize,
    build,
    parse_exact,
    parse_prefix,
    record,
    unit_enum,
)
from ..profiles import Profile, get_profile
from .results import (
    AssertDetail,
    AssertResult,
    CgroupStats,
    CgroupStatsE3,
    DetailKind,
    InfoNote,
    NoteKind,
    NoteValue,
    Outcome,
    OutcomeKind,
    PassDetail,
    PhaseBucket,
    PhaseBucketE3,
    PhaseCgroupStats,
    ScenarioStats,
    ScenarioStatsE3,
    Schema,
)

_D = DetailKind
DETAIL_KINDS_E4: tuple[DetailKind, ...] = (
    _D.STARVED, _D.STUCK, _D.UNFAIR, _D.ISOLATION, _D.BENCHMARK, _D.MIGRATION, _D.PAGE_LOCALITY,
    _D.CROSS_NODE_MIGRATION, _D.SLOW_TIER, _D.MONITOR, _D.SCHEDULER_CRASHED,
    _D.SCHEDULER_EXITED_CLEANLY, _D.SCHEDULER_DIED_UNKNOWN_REASON, _D.SCHEDULER_EVENT,
    _D.TEMPORAL, _D.WORKER_STALLED, _D.SKIP, _D.OTHER,
)  # fmt: skip
"""E4 (dc1b9767) variant order: index = position."""
DETAIL_KINDS_E3: tuple[DetailKind, ...] = tuple(
    k for k in DETAIL_KINDS_E4 if k != _D.WORKER_STALLED
)
"""E3 (237c19fe) variant order: index = position."""

_O = OutcomeKind
OUTCOME_KINDS_E4: tuple[OutcomeKind, ...] = (_O.PASS, _O.SKIP, _O.INCONCLUSIVE, _O.FAIL)
OUTCOME_KINDS_E3: tuple[OutcomeKind, ...] = (_O.PASS, _O.SKIP, _O.FAIL)


# ---- layouts -------------------------------------------------------------------------

F64Map = Map(String, F64)
OptF64 = Option(F64)

PassDetailLayout = record(
    PassDetail,
    "name" / String,
    "comparator" / String,
    "value" / String,
    "expected" / Option(String),
    "phase" / Option(String),
)
InfoNoteLayout = record(InfoNote, "message" / String, "phase" / Option(String))
_NOTE_PAYLOADS = {
    NoteKind.INT: I64,
    NoteKind.UINT: U64,
    NoteKind.FLOAT: F64,
    NoteKind.BOOL: BoolByte,
    NoteKind.TEXT: String,
}
NoteValueLayout = Tagged(
    "NoteValue",
    [(kind, _NOTE_PAYLOADS[kind]) for kind in NoteKind],
    NoteValue,
    lambda note: (note.kind, note.value) if isinstance(note, NoteValue) else (note, None),
)


def _detail_layout(kinds: tuple[DetailKind, ...]) -> Any:
    return record(
        AssertDetail,
        "kind" / unit_enum("DetailKind", kinds),
        "message" / String,
        "phase" / Option(String),
    )


def _outcome_layout(kinds: tuple[OutcomeKind, ...], detail: Any) -> Tagged:
    return Tagged(
        "Outcome",
        [(k, None if k == _O.PASS else detail) for k in kinds],
        Outcome,
        lambda o: (o.kind, o.detail) if isinstance(o, Outcome) else (o, None),
    )


CgroupStatsLayout = record(
    CgroupStats,
    "cgroup_name" / String,
    "num_workers" / Usize,
    "cpus_used" / Set(Usize),
    "num_cpus" / Usize,
    "avg_off_cpu_pct" / OptF64,
    "min_off_cpu_pct" / OptF64,
    "max_off_cpu_pct" / OptF64,
    "spread" / OptF64,
    "max_gap_ms" / U64,
    "max_gap_cpu" / Usize,
    "total_migrations" / U64,
    "migration_ratio" / F64,
    "p99_wake_latency_us" / F64,
    "median_wake_latency_us" / F64,
    "wake_latency_cv" / F64,
    "total_iterations" / U64,
    "total_cpu_time_ns" / U64,
    "mean_run_delay_us" / F64,
    "worst_run_delay_us" / F64,
    "page_locality" / F64,
    "cross_node_migration_ratio" / F64,
    "ext_metrics" / F64Map,
)
PhaseCgroupStatsLayout = record(
    PhaseCgroupStats,
    "num_workers" / Usize,
    "cpus_used" / Set(Usize),
    "wake_latencies_ns" / Seq(U64),
    "wake_sample_total" / U64,
    "run_delays_ns" / Seq(U64),
    "off_cpu_pcts" / Seq(F64),
    "total_migrations" / U64,
    "total_iterations" / U64,
    "total_cpu_time_ns" / U64,
    "numa_pages_local" / U64,
    "numa_pages_total" / U64,
    "cross_node_migrated" / U64,
    "max_gap_ms" / U64,
    "max_gap_cpu" / Usize,
    "stripped" / BoolByte,
)
_PHASE_HEAD = (
    "step_index" / U16,
    "label" / String,
    "start_ms" / U64,
    "end_ms" / U64,
    "sample_count" / Usize,
    "metrics" / F64Map,
)
PhaseBucketLayout = record(
    PhaseBucket, *_PHASE_HEAD, "per_cgroup" / Map(String, PhaseCgroupStatsLayout)
)
ScenarioStatsLayout = record(
    ScenarioStats,
    "cgroups" / Seq(CgroupStatsLayout),
    "total_workers" / Usize,
    "total_cpus" / Usize,
    "total_migrations" / U64,
    "worst_spread" / F64,
    "worst_gap_ms" / U64,
    "worst_gap_cpu" / Usize,
    "worst_migration_ratio" / F64,
    "total_iterations" / U64,
    "worst_page_locality" / F64,
    "worst_cross_node_migration_ratio" / F64,
    "ext_metrics" / F64Map,
    "phases" / Seq(PhaseBucketLayout),
)

CgroupStatsE3Layout = record(
    CgroupStatsE3,
    "num_workers" / Usize,
    "num_cpus" / Usize,
    "avg_off_cpu_pct" / F64,
    "min_off_cpu_pct" / F64,
    "max_off_cpu_pct" / F64,
    "spread" / F64,
    "max_gap_ms" / U64,
    "max_gap_cpu" / Usize,
    "total_migrations" / U64,
    "migration_ratio" / F64,
    "p99_wake_latency_us" / F64,
    "median_wake_latency_us" / F64,
    "wake_latency_cv" / F64,
    "total_iterations" / U64,
    "mean_run_delay_us" / F64,
    "worst_run_delay_us" / F64,
    "page_locality" / F64,
    "cross_node_migration_ratio" / F64,
    "ext_metrics" / F64Map,
)
PhaseBucketE3Layout = record(PhaseBucketE3, *_PHASE_HEAD)
ScenarioStatsE3Layout = record(
    ScenarioStatsE3,
    "cgroups" / Seq(CgroupStatsE3Layout),
    "total_workers" / Usize,
    "total_cpus" / Usize,
    "total_migrations" / U64,
    "worst_spread" / F64,
    "worst_gap_ms" / U64,
    "worst_gap_cpu" / Usize,
    "worst_migration_ratio" / F64,
    "worst_p99_wake_latency_us" / F64,
    "worst_median_wake_latency_us" / F64,
    "worst_wake_latency_cv" / F64,
    "total_iterations" / U64,
    "worst_mean_run_delay_us" / F64,
    "worst_run_delay_us" / F64,
    "worst_page_locality" / F64,
    "worst_cross_node_migration_ratio" / F64,
    "worst_wake_latency_tail_ratio" / F64,
    "worst_iterations_per_worker" / F64,
    "ext_metrics" / F64Map,
    "phases" / Seq(PhaseBucketE3Layout),
)


def _assert_result_layout(
    outcomes: tuple[OutcomeKind, ...], kinds: tuple[DetailKind, ...], stats: Any
) -> Any:
    return record(
        AssertResult,
        "outcomes" / Seq(_outcome_layout(outcomes, _detail_layout(kinds))),
        "passes" / Seq(PassDetailLayout),
        "stats" / stats,
        "measurements" / Map(String, NoteValueLayout),
        "info_notes" / Seq(InfoNoteLayout),
    )


AssertResultE4Layout = _assert_result_layout(OUTCOME_KINDS_E4, DETAIL_KINDS_E4, ScenarioStatsLayout)
AssertResultE3Layout = _assert_result_layout(
    OUTCOME_KINDS_E3, DETAIL_KINDS_E3, ScenarioStatsE3Layout
)
LAYOUTS: dict[Schema, Any] = {"e4": AssertResultE4Layout, "e3": AssertResultE3Layout}


# ---- decode / encode -----------------------------------------------------------------


def _schemas(profile: Profile) -> tuple[Schema, ...]:
    """Schemas a profile's host accepts, in the order they are tried."""
    if profile.test_result == "postcard-e4":
        return ("e4", "e3") if profile.test_result_fallback_e3 else ("e4",)
    if profile.test_result == "postcard-e3":
        return ("e3",)
    raise UsageError(
        f"profile {profile.name!r} carries TestResult as {profile.test_result}; ktstr-py "
        "decodes and encodes only the postcard (E3+) AssertResult"
    )


def decode_assert_result_as(payload: bytes, schema: Schema) -> AssertResult:
    """Decode with one explicit schema (``"e3"`` or ``"e4"``), consuming it exactly."""
    try:
        layout = LAYOUTS[schema]
    except KeyError:
        raise UsageError(f"schema is 'e3' or 'e4', got {schema!r}") from None
    result: AssertResult = parse_exact(layout, payload, f"AssertResult ({schema.upper()})")
    return result


def decode_assert_result(payload: bytes, profile: str | Profile | None = None) -> AssertResult:
    """Decode a TEST payload under the profile's schema.

    A ``postcard-e4`` profile with ``test_result_fallback_e3`` tries E3 when E4 does not
    consume the payload exactly. When nothing fits, the :class:`PayloadError` names both
    failures; its ``field`` / ``offset`` are those of the attempt that got further.
    Profiles with a bincode or JSON TestResult raise :class:`UsageError`.
    """
    errors: list[PayloadError] = []
    for schema in _schemas(get_profile(profile)):
        try:
            return decode_assert_result_as(payload, schema)
        except PayloadError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    best = max(errors, key=lambda e: -1 if e.offset is None else e.offset)
    raise PayloadError(
        "AssertResult fits neither schema: " + "; ".join(str(e) for e in errors),
        field=best.field,
        offset=best.offset,
    )


def _encoding_schema(result: AssertResult, profile: Profile) -> Schema:
    if not isinstance(result, AssertResult):
        raise UsageError(f"AssertResult expected, got {type(result).__name__}")
    allowed = _schemas(profile)
    if result.schema not in allowed:
        raise UsageError(
            f"an {result.schema.upper()} AssertResult (stats of type "
            f"{type(result.stats).__name__}) cannot be sent under profile {profile.name!r}, "
            f"whose TestResult schema is {allowed[0].upper()}"
        )
    return result.schema


def encode_assert_result(result: AssertResult, profile: str | Profile | None = None) -> bytes:
    """Postcard bytes of ``result`` in its own schema (which the profile must accept)."""
    schema = _encoding_schema(result, get_profile(profile))
    return build(LAYOUTS[schema], result, f"AssertResult ({schema.upper()})")


# ---- the guest's oversized-result fallback -------------------------------------------


def strip_phase_cgroup_samples(result: AssertResult) -> tuple[AssertResult, int]:
    """Drop every per-phase, per-cgroup sample vector (E4); returns the copy and the count.

    Carriers that had samples get ``stripped = True``; counters are kept.
    """
    stats = result.stats
    if not isinstance(stats, ScenarioStats):
        return result, 0
    dropped = 0
    phases = []
    for bucket in stats.phases:
        per_cgroup = {}
        for name, pc in bucket.per_cgroup.items():
            n = len(pc.wake_latencies_ns) + len(pc.run_delays_ns) + len(pc.off_cpu_pcts)
            dropped += n
            per_cgroup[name] = replace(
                pc,
                wake_latencies_ns=(),
                run_delays_ns=(),
                off_cpu_pcts=(),
                stripped=pc.stripped or n > 0,
            )
        phases.append(replace(bucket, per_cgroup=per_cgroup))
    return replace(result, stats=replace(stats, phases=tuple(phases))), dropped


def encode_test_result_for_guest(
    result: AssertResult, cap: int | None = None, profile: str | Profile | None = None
) -> bytes:
    """The TEST payload a guest sends for ``result`` under a ``cap``-byte frame limit.

    1. The encoding fits: send it. 2. (E4 only) Else drop the per-cgroup raw samples, add
    an InfoNote saying so, and send that if it fits. 3. Else send a failing result whose
    detail reports the size. ``cap`` defaults to the profile's ``cap``. As upstream, the
    step-3 result is returned even if it does not fit a (tiny) cap.
    """
    prof = get_profile(profile)
    limit = prof.cap if cap is None else cap
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise UsageError(f"cap must be a non-negative int, got {limit!r}")
    schema = _encoding_schema(result, prof)
    layout, what = LAYOUTS[schema], f"AssertResult ({schema.upper()})"
    raw = build(layout, result, what)
    if len(raw) <= limit:
        return raw
    offending = len(raw)
    if schema == "e4":
        stripped, dropped = strip_phase_cgroup_samples(result)
        if dropped > 0:
            noted = stripped.with_note(
                f"per_cgroup raw samples ({dropped}) dropped: AssertResult postcard size "
                f"{len(raw)} exceeded bulk port limit {limit}; verdict and reduced telemetry "
                "preserved"
            )
            small = build(layout, noted, what)
            if len(small) <= limit:
                return small
            offending = len(small)
    failed = AssertResult.fail_msg(
        f"AssertResult postcard size {offending} exceeded bulk port limit {limit}; "
        "original details dropped",
        schema,
    )
    return build(layout, failed, what)


def decode_assert_result_prefix(
    payload: bytes, profile: str | Profile | None = None
) -> tuple[AssertResult, int]:
    """Decode a TEST payload the way the host's ``postcard::from_bytes`` does: a complete
    value followed by trailing bytes is accepted. Returns the result and the number of
    trailing bytes.

    An exact fit under any of the profile's schemas wins (so the E3 fallback is not
    shadowed by an E4 prefix); then each schema in order is tried as a prefix. When
    nothing fits, raises the :class:`PayloadError` of :func:`decode_assert_result`.
    """
    try:
        return decode_assert_result(payload, profile), 0
    except PayloadError as exact_error:
        for schema in _schemas(get_profile(profile)):
            try:
                value, end = parse_prefix(
                    LAYOUTS[schema], payload, f"AssertResult ({schema.upper()})"
                )
            except PayloadError:
                continue
            result: AssertResult = value
            return result, len(payload) - end
        raise exact_error from None
