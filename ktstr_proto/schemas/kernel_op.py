"""KORQ / KORP: the kernel-op RPC payloads (payloads.md 4.3; ``wire.rs`` @ 037af489 = E4).

The limits of ``wire.rs`` (tag and reason at most 256 bytes, reply frame at most 1 MiB)
are enforced by the endpoints, not by the encoding, so decoding does not check them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ..errors import UsageError
from ..postcard import (
    U32,
    U64,
    BoolByte,
    Bytes,
    Seq,
    String,
    Tagged,
    build,
    parse_exact,
    record,
    unit_enum,
)

KERNEL_OP_TAG_MAX = 256
KERNEL_OP_REASON_MAX = 256
KERNEL_OP_REPLY_MAX = 1024 * 1024


class KernelOpMode(IntEnum):
    HOT = 0
    COLD = 1


class KernelOpDirection(IntEnum):
    WRITE = 0
    READ = 1


class ValueKind(IntEnum):
    """Variant of a :class:`KernelOpValue`; the value is the wire index."""

    U32 = 0
    U64 = 1
    BYTES = 2
    OR_U32 = 3


@dataclass(frozen=True, slots=True)
class SymbolTarget:
    """``Symbol(String)``: a kernel symbol."""

    symbol: str


@dataclass(frozen=True, slots=True)
class DirectTarget:
    """``Direct(u64)``: a direct-mapped kernel virtual address."""

    address: int


@dataclass(frozen=True, slots=True)
class KvaTarget:
    """``Kva(u64)``: a vmalloc'd kernel virtual address."""

    address: int


@dataclass(frozen=True, slots=True)
class PerCpuFieldTarget:
    """``PerCpuField``: a field of a per-CPU struct, on one CPU."""

    symbol: str
    field: str
    cpu: int


@dataclass(frozen=True, slots=True)
class TaskFieldTarget:
    """``TaskField``: a field of the task_struct with this pid and start time."""

    pid: int
    expected_start_time_ns: int
    field: str


KernelOpTarget = SymbolTarget | DirectTarget | KvaTarget | PerCpuFieldTarget | TaskFieldTarget


@dataclass(frozen=True, slots=True)
class KernelOpValue:
    """``U32`` / ``U64`` / ``OrU32`` hold an int, ``BYTES`` holds bytes."""

    kind: ValueKind
    value: int | bytes

    def __post_init__(self) -> None:
        try:
            kind = ValueKind(self.kind)
        except ValueError:
            raise UsageError(f"{self.kind!r} is not a ValueKind") from None
        object.__setattr__(self, "kind", kind)
        want: tuple[type, ...] = (bytes,) if kind is ValueKind.BYTES else (int,)
        if not isinstance(self.value, want) or isinstance(self.value, bool):
            raise UsageError(f"KernelOpValue {kind.name} cannot hold {self.value!r}")


@dataclass(frozen=True, slots=True)
class KernelOpEntry:
    target: KernelOpTarget
    value: KernelOpValue


@dataclass(frozen=True, slots=True)
class KernelOpRequestPayload:
    """KORQ payload (guest to host)."""

    request_id: int
    mode: KernelOpMode
    direction: KernelOpDirection
    tag: str
    entries: tuple[KernelOpEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class KernelOpReplyPayload:
    """KORP payload (host to guest); reads carry one value per request entry."""

    request_id: int
    success: bool
    reason: str = ""
    read_values: tuple[KernelOpValue, ...] = ()


# ---- layouts -------------------------------------------------------------------------

_TARGETS: tuple[tuple[type, Any], ...] = (
    (SymbolTarget, record(SymbolTarget, "symbol" / String)),
    (DirectTarget, record(DirectTarget, "address" / U64)),
    (KvaTarget, record(KvaTarget, "address" / U64)),
    (
        PerCpuFieldTarget,
        record(PerCpuFieldTarget, "symbol" / String, "field" / String, "cpu" / U32),
    ),
    (
        TaskFieldTarget,
        record(TaskFieldTarget, "pid" / U32, "expected_start_time_ns" / U64, "field" / String),
    ),
)
KernelOpTargetLayout = Tagged("KernelOpTarget", _TARGETS, lambda _cls, t: t, lambda t: (type(t), t))
_VALUE_PAYLOADS = {
    ValueKind.U32: U32,
    ValueKind.U64: U64,
    ValueKind.BYTES: Bytes,
    ValueKind.OR_U32: U32,
}
KernelOpValueLayout = Tagged(
    "KernelOpValue",
    [(k, _VALUE_PAYLOADS[k]) for k in ValueKind],
    KernelOpValue,
    lambda v: (v.kind, v.value) if isinstance(v, KernelOpValue) else (v, None),
)
KernelOpEntryLayout = record(
    KernelOpEntry, "target" / KernelOpTargetLayout, "value" / KernelOpValueLayout
)
KernelOpRequestLayout = record(
    KernelOpRequestPayload,
    "request_id" / U32,
    "mode" / unit_enum("KernelOpMode", list(KernelOpMode)),
    "direction" / unit_enum("KernelOpDirection", list(KernelOpDirection)),
    "tag" / String,
    "entries" / Seq(KernelOpEntryLayout),
)
KernelOpReplyLayout = record(
    KernelOpReplyPayload,
    "request_id" / U32,
    "success" / BoolByte,
    "reason" / String,
    "read_values" / Seq(KernelOpValueLayout),
)


# ---- functions -----------------------------------------------------------------------


def decode_kernel_op_request(payload: bytes) -> KernelOpRequestPayload:
    """Decode a KORQ payload, consuming it exactly."""
    value: KernelOpRequestPayload = parse_exact(
        KernelOpRequestLayout, payload, "KernelOpRequestPayload"
    )
    return value


def encode_kernel_op_request(value: KernelOpRequestPayload) -> bytes:
    if not isinstance(value, KernelOpRequestPayload):
        raise UsageError(f"KernelOpRequestPayload expected, got {type(value).__name__}")
    return build(KernelOpRequestLayout, value, "KernelOpRequestPayload")


def decode_kernel_op_reply(payload: bytes) -> KernelOpReplyPayload:
    """Decode a KORP payload, consuming it exactly."""
    value: KernelOpReplyPayload = parse_exact(KernelOpReplyLayout, payload, "KernelOpReplyPayload")
    return value


def encode_kernel_op_reply(value: KernelOpReplyPayload) -> bytes:
    if not isinstance(value, KernelOpReplyPayload):
        raise UsageError(f"KernelOpReplyPayload expected, got {type(value).__name__}")
    return build(KernelOpReplyLayout, value, "KernelOpReplyPayload")
