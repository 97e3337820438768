"""The typed face of ``AssertResult`` (the TEST payload), for both wire schemas.

Two upstream layouts exist (payloads.md section 3): ``"e3"`` (``src/assert/mod.rs`` @
237c19fe) and ``"e4"`` (@ dc1b9767). The records shared by both (``AssertDetail``,
``PassDetail``, ``InfoNote``, ``NoteValue``, ``Outcome``) have one class here; the
statistics differ, so they have one class per schema (``ScenarioStats`` /
``ScenarioStatsE3`` and so on). A result's schema is the type of its ``stats``.

``DetailKind`` and ``OutcomeKind`` carry upstream variant *names*, not wire indices: the
indices differ between schemas and live in :mod:`.results_wire`. Sequences are tuples,
``BTreeMap`` fields dicts, ``BTreeSet`` fields frozensets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum
from typing import Any, Literal, TypeVar

from ..errors import UsageError

Schema = Literal["e3", "e4"]


class DetailKind(StrEnum):
    """Category of an :class:`AssertDetail` (value = upstream variant name)."""

    STARVED = "Starved"
    STUCK = "Stuck"
    UNFAIR = "Unfair"
    ISOLATION = "Isolation"
    BENCHMARK = "Benchmark"
    MIGRATION = "Migration"
    PAGE_LOCALITY = "PageLocality"
    CROSS_NODE_MIGRATION = "CrossNodeMigration"
    SLOW_TIER = "SlowTier"
    MONITOR = "Monitor"
    SCHEDULER_CRASHED = "SchedulerCrashed"
    SCHEDULER_EXITED_CLEANLY = "SchedulerExitedCleanly"
    SCHEDULER_DIED_UNKNOWN_REASON = "SchedulerDiedUnknownReason"
    SCHEDULER_EVENT = "SchedulerEvent"
    TEMPORAL = "Temporal"
    WORKER_STALLED = "WorkerStalled"
    """E4 only."""
    SKIP = "Skip"
    OTHER = "Other"


class OutcomeKind(StrEnum):
    """Variant of an :class:`Outcome` (value = upstream variant name)."""

    PASS = "Pass"
    SKIP = "Skip"
    INCONCLUSIVE = "Inconclusive"
    """E4 only."""
    FAIL = "Fail"


class NoteKind(IntEnum):
    """Variant of a :class:`NoteValue`; the value is the wire index (same in E3 and E4)."""

    INT = 0
    UINT = 1
    FLOAT = 2
    BOOL = 3
    TEXT = 4


_E = TypeVar("_E", DetailKind, OutcomeKind, NoteKind)


def _coerce(enum: type[_E], value: Any) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise UsageError(f"{value!r} is not a {enum.__name__}") from None


@dataclass(frozen=True, slots=True)
class AssertDetail:
    """One diagnostic: category, message, and the scenario phase it was emitted in."""

    kind: DetailKind
    message: str
    phase: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _coerce(DetailKind, self.kind))


@dataclass(frozen=True, slots=True)
class PassDetail:
    """One passing claim (``comparator`` is a token such as ``"ge"``)."""

    name: str
    comparator: str
    value: str
    expected: str | None = None
    phase: str | None = None


@dataclass(frozen=True, slots=True)
class InfoNote:
    """An informational note; never affects the verdict."""

    message: str
    phase: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One recorded verdict. ``PASS`` carries no detail; the others carry one."""

    kind: OutcomeKind
    detail: AssertDetail | None = None

    def __post_init__(self) -> None:
        kind = _coerce(OutcomeKind, self.kind)
        object.__setattr__(self, "kind", kind)
        if (kind is OutcomeKind.PASS) != (self.detail is None):
            raise UsageError(
                f"Outcome {kind.value} {'takes no' if self.detail else 'needs a'} detail"
            )


_NOTE_TYPES: dict[NoteKind, tuple[type, ...]] = {
    NoteKind.INT: (int,),
    NoteKind.UINT: (int,),
    NoteKind.FLOAT: (float, int),
    NoteKind.BOOL: (bool,),
    NoteKind.TEXT: (str,),
}


@dataclass(frozen=True, slots=True)
class NoteValue:
    """A typed measurement: ``Int(i64)``, ``Uint(u64)``, ``Float(f64)``, ``Bool``, ``Text``."""

    kind: NoteKind
    value: int | float | bool | str

    def __post_init__(self) -> None:
        kind = _coerce(NoteKind, self.kind)
        object.__setattr__(self, "kind", kind)
        is_bool = isinstance(self.value, bool)
        if not isinstance(self.value, _NOTE_TYPES[kind]) or (is_bool != (kind is NoteKind.BOOL)):
            raise UsageError(f"NoteValue {kind.name} cannot hold {self.value!r}")
        if kind is NoteKind.FLOAT:
            object.__setattr__(self, "value", float(self.value))

    @classmethod
    def int_(cls, value: int) -> NoteValue:
        return cls(NoteKind.INT, value)

    @classmethod
    def uint(cls, value: int) -> NoteValue:
        return cls(NoteKind.UINT, value)

    @classmethod
    def float_(cls, value: float) -> NoteValue:
        return cls(NoteKind.FLOAT, float(value))

    @classmethod
    def bool_(cls, value: bool) -> NoteValue:
        return cls(NoteKind.BOOL, value)

    @classmethod
    def text(cls, value: str) -> NoteValue:
        return cls(NoteKind.TEXT, value)


# ---- E4 statistics (dc1b9767) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CgroupStats:
    """Per-cgroup statistics, E4 layout (22 fields)."""

    cgroup_name: str = ""
    num_workers: int = 0
    cpus_used: frozenset[int] = frozenset()
    num_cpus: int = 0
    avg_off_cpu_pct: float | None = None
    min_off_cpu_pct: float | None = None
    max_off_cpu_pct: float | None = None
    spread: float | None = None
    max_gap_ms: int = 0
    max_gap_cpu: int = 0
    total_migrations: int = 0
    migration_ratio: float = 0.0
    p99_wake_latency_us: float = 0.0
    median_wake_latency_us: float = 0.0
    wake_latency_cv: float = 0.0
    total_iterations: int = 0
    total_cpu_time_ns: int = 0
    mean_run_delay_us: float = 0.0
    worst_run_delay_us: float = 0.0
    page_locality: float = 0.0
    cross_node_migration_ratio: float = 0.0
    ext_metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PhaseCgroupStats:
    """Raw per-phase, per-cgroup telemetry (E4 only, 15 fields)."""

    num_workers: int = 0
    cpus_used: frozenset[int] = frozenset()
    wake_latencies_ns: tuple[int, ...] = ()
    wake_sample_total: int = 0
    run_delays_ns: tuple[int, ...] = ()
    off_cpu_pcts: tuple[float, ...] = ()
    total_migrations: int = 0
    total_iterations: int = 0
    total_cpu_time_ns: int = 0
    numa_pages_local: int = 0
    numa_pages_total: int = 0
    cross_node_migrated: int = 0
    max_gap_ms: int = 0
    max_gap_cpu: int = 0
    stripped: bool = False


@dataclass(frozen=True, slots=True)
class PhaseBucket:
    """Per-phase metrics, E4 layout (``step_index`` 0 = BASELINE, k+1 = Step[k])."""

    step_index: int = 0
    label: str = ""
    start_ms: int = 0
    end_ms: int = 0
    sample_count: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    per_cgroup: dict[str, PhaseCgroupStats] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScenarioStats:
    """Scenario-wide statistics, E4 layout (13 fields)."""

    cgroups: tuple[CgroupStats, ...] = ()
    total_workers: int = 0
    total_cpus: int = 0
    total_migrations: int = 0
    worst_spread: float = 0.0
    worst_gap_ms: int = 0
    worst_gap_cpu: int = 0
    worst_migration_ratio: float = 0.0
    total_iterations: int = 0
    worst_page_locality: float = 0.0
    worst_cross_node_migration_ratio: float = 0.0
    ext_metrics: dict[str, float] = field(default_factory=dict)
    phases: tuple[PhaseBucket, ...] = ()


# ---- E3 statistics (237c19fe) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CgroupStatsE3:
    """Per-cgroup statistics, E3 layout (19 fields, no names, no Options)."""

    num_workers: int = 0
    num_cpus: int = 0
    avg_off_cpu_pct: float = 0.0
    min_off_cpu_pct: float = 0.0
    max_off_cpu_pct: float = 0.0
    spread: float = 0.0
    max_gap_ms: int = 0
    max_gap_cpu: int = 0
    total_migrations: int = 0
    migration_ratio: float = 0.0
    p99_wake_latency_us: float = 0.0
    median_wake_latency_us: float = 0.0
    wake_latency_cv: float = 0.0
    total_iterations: int = 0
    mean_run_delay_us: float = 0.0
    worst_run_delay_us: float = 0.0
    page_locality: float = 0.0
    cross_node_migration_ratio: float = 0.0
    ext_metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PhaseBucketE3:
    """Per-phase metrics, E3 layout (no ``per_cgroup``)."""

    step_index: int = 0
    label: str = ""
    start_ms: int = 0
    end_ms: int = 0
    sample_count: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScenarioStatsE3:
    """Scenario-wide statistics, E3 layout (20 fields)."""

    cgroups: tuple[CgroupStatsE3, ...] = ()
    total_workers: int = 0
    total_cpus: int = 0
    total_migrations: int = 0
    worst_spread: float = 0.0
    worst_gap_ms: int = 0
    worst_gap_cpu: int = 0
    worst_migration_ratio: float = 0.0
    worst_p99_wake_latency_us: float = 0.0
    worst_median_wake_latency_us: float = 0.0
    worst_wake_latency_cv: float = 0.0
    total_iterations: int = 0
    worst_mean_run_delay_us: float = 0.0
    worst_run_delay_us: float = 0.0
    worst_page_locality: float = 0.0
    worst_cross_node_migration_ratio: float = 0.0
    worst_wake_latency_tail_ratio: float = 0.0
    worst_iterations_per_worker: float = 0.0
    ext_metrics: dict[str, float] = field(default_factory=dict)
    phases: tuple[PhaseBucketE3, ...] = ()


# ---- the result ----------------------------------------------------------------------


def _empty_stats(schema: Schema) -> ScenarioStats | ScenarioStatsE3:
    if schema == "e4":
        return ScenarioStats()
    if schema == "e3":
        return ScenarioStatsE3()
    raise UsageError(f"schema is 'e3' or 'e4', got {schema!r}")


@dataclass(frozen=True, slots=True)
class AssertResult:
    """A test verdict with diagnostics and statistics (the TEST payload)."""

    outcomes: tuple[Outcome, ...] = ()
    passes: tuple[PassDetail, ...] = ()
    stats: ScenarioStats | ScenarioStatsE3 = field(default_factory=ScenarioStats)
    measurements: dict[str, NoteValue] = field(default_factory=dict)
    info_notes: tuple[InfoNote, ...] = ()

    @classmethod
    def pass_(cls, schema: Schema = "e4") -> AssertResult:
        """``AssertResult::pass()``: everything empty, default statistics."""
        return cls(stats=_empty_stats(schema))

    @classmethod
    def skip(cls, reason: str, schema: Schema = "e4") -> AssertResult:
        """One ``Skip`` outcome with a ``DetailKind.SKIP`` detail."""
        detail = AssertDetail(DetailKind.SKIP, reason)
        return cls(outcomes=(Outcome(OutcomeKind.SKIP, detail),), stats=_empty_stats(schema))

    @classmethod
    def fail(cls, detail: AssertDetail, schema: Schema = "e4") -> AssertResult:
        """One ``Fail`` outcome carrying ``detail``."""
        return cls(outcomes=(Outcome(OutcomeKind.FAIL, detail),), stats=_empty_stats(schema))

    @classmethod
    def fail_msg(cls, message: str, schema: Schema = "e4") -> AssertResult:
        """``fail`` with a ``DetailKind.OTHER`` detail."""
        return cls.fail(AssertDetail(DetailKind.OTHER, message), schema)

    @property
    def schema(self) -> Schema:
        """``"e3"`` or ``"e4"``, from the type of ``stats``."""
        return "e3" if isinstance(self.stats, ScenarioStatsE3) else "e4"

    @property
    def outcome(self) -> Outcome:
        """The folded verdict, as upstream's ``outcome()``.

        First ``Fail``; else first ``Inconclusive``; else, when every outcome is a
        ``Skip``, the first ``Skip``; else (including no outcomes) ``Pass``. This is the
        precedence Fail > Inconclusive > Pass > Skip (E3 simply has no Inconclusive).
        """
        for kind in (OutcomeKind.FAIL, OutcomeKind.INCONCLUSIVE):
            for o in self.outcomes:
                if o.kind is kind:
                    return o
        if self.outcomes and all(o.kind is OutcomeKind.SKIP for o in self.outcomes):
            return self.outcomes[0]
        return Outcome(OutcomeKind.PASS)

    @property
    def verdict(self) -> OutcomeKind:
        """The folded verdict's kind (see :attr:`outcome`)."""
        return self.outcome.kind

    def with_note(self, message: str, phase: str | None = None) -> AssertResult:
        """A copy with one more :class:`InfoNote` appended."""
        return replace(self, info_notes=(*self.info_notes, InfoNote(message, phase)))
