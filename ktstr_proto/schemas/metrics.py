"""PMET (``PayloadMetrics``) and RAWO (``RawPayloadOutput``) payloads (payloads.md 4.1-4.2).

Layouts of ``src/test_support/payload.rs`` @ 237c19fe, unchanged @ 77af34a2 (0.20.0).
``Polarity::Informational`` (index 4) exists at 77af34a2 but not at 237c19fe; whether
0.15.0 has it is unknown (payloads.md open question 5). The decoder accepts it under
every profile: a guest that never sends it is unaffected, and a newer guest's metric is
not lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ..errors import UsageError
from ..postcard import (
    F64,
    I32,
    Option,
    Seq,
    String,
    Tagged,
    Usize,
    build,
    parse_exact,
    record,
    unit_enum,
)


class PolarityKind(IntEnum):
    """Variant of a :class:`Polarity`; the value is the wire index."""

    HIGHER_BETTER = 0
    LOWER_BETTER = 1
    TARGET_VALUE = 2
    UNKNOWN = 3
    INFORMATIONAL = 4


class MetricSource(IntEnum):
    JSON = 0
    LLM_EXTRACT = 1


class MetricStream(IntEnum):
    STDOUT = 0
    STDERR = 1


@dataclass(frozen=True, slots=True)
class Polarity:
    """Which direction of a metric is better; ``target`` is set only for ``TARGET_VALUE``."""

    kind: PolarityKind
    target: float | None = None

    def __post_init__(self) -> None:
        try:
            kind = PolarityKind(self.kind)
        except ValueError:
            raise UsageError(f"{self.kind!r} is not a PolarityKind") from None
        object.__setattr__(self, "kind", kind)
        if (kind is PolarityKind.TARGET_VALUE) != (self.target is not None):
            raise UsageError("Polarity has a target exactly when its kind is TARGET_VALUE")

    @classmethod
    def target_value(cls, target: float) -> Polarity:
        return cls(PolarityKind.TARGET_VALUE, target)


@dataclass(frozen=True, slots=True)
class Metric:
    """One extracted metric of a payload run."""

    name: str
    value: float
    polarity: Polarity
    unit: str
    source: MetricSource
    stream: MetricStream


@dataclass(frozen=True, slots=True)
class PayloadMetrics:
    """PMET payload: the metrics of the ``payload_index``-th payload run and its exit code."""

    payload_index: int
    metrics: tuple[Metric, ...]
    exit_code: int


@dataclass(frozen=True, slots=True)
class WireMetricHint:
    """A declared metric the host-side LLM extraction should look for."""

    name: str
    polarity: Polarity
    unit: str


@dataclass(frozen=True, slots=True)
class MetricBounds:
    """Sanity bounds for LLM-extracted metrics."""

    min_count: int | None = None
    value_min: float | None = None
    value_max: float | None = None


@dataclass(frozen=True, slots=True)
class RawPayloadOutput:
    """RAWO payload: raw output of an LlmExtract payload run (E0-E5 only)."""

    payload_index: int
    stdout: str
    stderr: str
    hint: str | None = None
    metric_hints: tuple[WireMetricHint, ...] = ()
    metric_bounds: MetricBounds | None = None


# ---- layouts -------------------------------------------------------------------------

PolarityLayout = Tagged(
    "Polarity",
    [(k, F64 if k is PolarityKind.TARGET_VALUE else None) for k in PolarityKind],
    Polarity,
    lambda p: (p.kind, p.target) if isinstance(p, Polarity) else (p, None),
)
MetricLayout = record(
    Metric,
    "name" / String,
    "value" / F64,
    "polarity" / PolarityLayout,
    "unit" / String,
    "source" / unit_enum("MetricSource", list(MetricSource)),
    "stream" / unit_enum("MetricStream", list(MetricStream)),
)
PayloadMetricsLayout = record(
    PayloadMetrics,
    "payload_index" / Usize,
    "metrics" / Seq(MetricLayout),
    "exit_code" / I32,
)
WireMetricHintLayout = record(
    WireMetricHint, "name" / String, "polarity" / PolarityLayout, "unit" / String
)
MetricBoundsLayout = record(
    MetricBounds,
    "min_count" / Option(Usize),
    "value_min" / Option(F64),
    "value_max" / Option(F64),
)
RawPayloadOutputLayout = record(
    RawPayloadOutput,
    "payload_index" / Usize,
    "stdout" / String,
    "stderr" / String,
    "hint" / Option(String),
    "metric_hints" / Seq(WireMetricHintLayout),
    "metric_bounds" / Option(MetricBoundsLayout),
)


# ---- functions -----------------------------------------------------------------------


def _typed(value: Any, cls: type, what: str) -> None:
    if not isinstance(value, cls):
        raise UsageError(f"{what} expected, got {type(value).__name__}")


def decode_payload_metrics(payload: bytes) -> PayloadMetrics:
    """Decode a PMET payload, consuming it exactly."""
    value: PayloadMetrics = parse_exact(PayloadMetricsLayout, payload, "PayloadMetrics")
    return value


def encode_payload_metrics(value: PayloadMetrics) -> bytes:
    _typed(value, PayloadMetrics, "PayloadMetrics")
    return build(PayloadMetricsLayout, value, "PayloadMetrics")


def decode_raw_payload_output(payload: bytes) -> RawPayloadOutput:
    """Decode a RAWO payload, consuming it exactly."""
    value: RawPayloadOutput = parse_exact(RawPayloadOutputLayout, payload, "RawPayloadOutput")
    return value


def encode_raw_payload_output(value: RawPayloadOutput) -> bytes:
    _typed(value, RawPayloadOutput, "RawPayloadOutput")
    return build(RawPayloadOutputLayout, value, "RawPayloadOutput")
