"""Fixed-layout payloads (bulk.md section 4), declared with construct.

Each layout is a construct ``Struct``; the dataclasses are its typed face. ``encode_*``
builds bytes, ``decode_*`` parses them and raises :class:`PayloadError` on a wrong size
or an invalid value, accepting exactly what upstream's host accepts for the profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from construct import (
    Adapter,
    Bytes,
    Int8ul,
    Int16ul,
    Int32sl,
    Int32ul,
    Int64ul,
    Struct,
)

from .errors import PayloadError, UsageError
from .profiles import Profile, get_profile
from .tags import MsgType

U64_MAX = 0xFFFFFFFFFFFFFFFF

BytesLike = bytes | bytearray | memoryview


class _Biased(Adapter):  # type: ignore[misc]
    """u64 slot holding ``value + 1`` (wrapping): slot 0 decodes to ``u64::MAX``, which
    upstream reads as "absent" (KernAddrs E3+ ``phys_base``)."""

    def _decode(self, obj: int, context: Any, path: Any) -> int:
        return (obj - 1) & U64_MAX

    def _encode(self, obj: int, context: Any, path: Any) -> int:
        return (obj + 1) & U64_MAX


class _BiasedOptional(Adapter):  # type: ignore[misc]
    """u64 slot holding ``value + 1``, where slot 0 means "unknown" (``None``): the E3+
    ``_text`` slot. ``u64::MAX`` collides with "unknown", as upstream notes."""

    def _decode(self, obj: int, context: Any, path: Any) -> int | None:
        return None if obj == 0 else obj - 1

    def _encode(self, obj: int | None, context: Any, path: Any) -> int:
        return 0 if obj is None else (obj + 1) & U64_MAX


# ---- construct layouts -------------------------------------------------------------

StimulusLayout = Struct(
    "elapsed_ms" / Int32ul,
    "step_index" / Int16ul,
    "op_count" / Int16ul,
    "op_kinds" / Int32ul,
    "cgroup_count" / Int16ul,
    "worker_count" / Int16ul,
    "total_iterations" / Int64ul,
)
ScenarioEnd8Layout = Struct("elapsed_ms" / Int64ul)
ScenarioEnd16Layout = Struct("elapsed_ms" / Int64ul, "total_iterations" / Int64ul)
KernAddrs16Layout = Struct("phys_base" / Int64ul, "page_offset_base" / Int64ul)
KernAddrs24Layout = Struct(
    "phys_base" / _Biased(Int64ul),
    "page_offset_base" / Int64ul,
    "text" / _BiasedOptional(Int64ul),
)
I32Layout = Struct("code" / Int32sl)
LifecycleHeadLayout = Struct("phase" / Int8ul)
SnapshotRequestLayout = Struct("request_id" / Int32ul, "kind" / Int32ul, "tag" / Bytes(64))


def snapshot_reply_layout(reason_len: int) -> Any:
    """SnapshotReply: request_id, status, NUL-padded reason of 64 (E3) or 512 (E4+) bytes."""
    return Struct("request_id" / Int32ul, "status" / Int32ul, "reason" / Bytes(reason_len))


STIMULUS_LEN = StimulusLayout.sizeof()
SNAPSHOT_REQUEST_LEN = SnapshotRequestLayout.sizeof()
SNAPSHOT_TAG_LEN = 64


# ---- typed values ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stimulus:
    """STIM / STEN payload: one scenario step's start (or end)."""

    elapsed_ms: int
    step_index: int
    op_count: int
    op_kinds: int
    cgroup_count: int
    worker_count: int
    total_iterations: int


@dataclass(frozen=True, slots=True)
class ScenarioEnd:
    """SCEN payload; ``total_iterations`` is ``None`` in the 8-byte (E3 and older) form."""

    elapsed_ms: int
    total_iterations: int | None = None


@dataclass(frozen=True, slots=True)
class KernAddrs:
    """KADR payload. ``phys_base`` is ``u64::MAX`` when absent (slot 0 under the E3+
    bias); ``text`` is ``None`` when unknown."""

    phys_base: int
    page_offset_base: int
    text: int | None = None

    @property
    def phys_base_known(self) -> bool:
        return self.phys_base != U64_MAX


class LifecyclePhase(IntEnum):
    INIT_STARTED = 1
    PAYLOAD_STARTING = 2
    SCHEDULER_DIED = 3
    SCHEDULER_NOT_ATTACHED = 4


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """LIFE payload: a phase byte and an optional UTF-8 reason (used by phase 4)."""

    phase: LifecyclePhase
    reason: str = ""


class SnapshotKind(IntEnum):
    NONE = 0
    CAPTURE = 1
    WATCH = 2


class SnapshotStatus(IntEnum):
    OK = 1
    ERR = 2


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """SNRQ payload (72 bytes)."""

    request_id: int
    kind: SnapshotKind
    tag: str


@dataclass(frozen=True, slots=True)
class SnapshotReply:
    """SNRP payload (72 bytes up to E3, 520 bytes from E4)."""

    request_id: int
    status: SnapshotStatus
    reason: str = ""


# ---- helpers -----------------------------------------------------------------------


def _need(payload: BytesLike, size: int, what: str, *, at_least: bool = False) -> None:
    n = len(payload)
    if n < size or (n != size and not at_least):
        rel = "at least " if at_least else ""
        raise PayloadError(f"{what} payload must be {rel}{size} bytes, got {n}", offset=0)


def _check_range(name: str, value: int, bits: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise UsageError(f"{name} must be an unsigned {bits}-bit int, got {value!r}")


def _nul_padded(text: str | bytes, size: int, name: str) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return raw[:size].ljust(size, b"\0")


def _from_nul_padded(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


# ---- Stimulus / StepEnd ------------------------------------------------------------


def encode_stimulus(value: Stimulus) -> bytes:
    for name, bits in (
        ("elapsed_ms", 32),
        ("step_index", 16),
        ("op_count", 16),
        ("op_kinds", 32),
        ("cgroup_count", 16),
        ("worker_count", 16),
        ("total_iterations", 64),
    ):
        _check_range(name, getattr(value, name), bits)
    out: bytes = StimulusLayout.build(_fields(value))
    return out


def decode_stimulus(payload: BytesLike, profile: str | Profile | None = None) -> Stimulus:
    """24 bytes; E3 hosts accept longer payloads and read the first 24."""
    exact = get_profile(profile).stimulus_exact
    _need(payload, STIMULUS_LEN, "Stimulus", at_least=not exact)
    c = StimulusLayout.parse(bytes(payload[:STIMULUS_LEN]))
    return Stimulus(
        c.elapsed_ms,
        c.step_index,
        c.op_count,
        c.op_kinds,
        c.cgroup_count,
        c.worker_count,
        c.total_iterations,
    )


# ---- ScenarioEnd -------------------------------------------------------------------


def encode_scenario_end(value: ScenarioEnd, profile: str | Profile | None = None) -> bytes:
    size = get_profile(profile).scenario_end_len
    _check_range("elapsed_ms", value.elapsed_ms, 64)
    if size == 8:
        out: bytes = ScenarioEnd8Layout.build({"elapsed_ms": value.elapsed_ms})
        return out
    iters = value.total_iterations or 0
    _check_range("total_iterations", iters, 64)
    out = ScenarioEnd16Layout.build({"elapsed_ms": value.elapsed_ms, "total_iterations": iters})
    return out


def decode_scenario_end(payload: BytesLike, profile: str | Profile | None = None) -> ScenarioEnd:
    """E4+: at least 16 bytes (elapsed, iterations); older: at least 8 (elapsed)."""
    size = get_profile(profile).scenario_end_len
    _need(payload, size, "ScenarioEnd", at_least=True)
    if size == 8:
        c = ScenarioEnd8Layout.parse(bytes(payload[:8]))
        return ScenarioEnd(c.elapsed_ms)
    c = ScenarioEnd16Layout.parse(bytes(payload[:16]))
    return ScenarioEnd(c.elapsed_ms, c.total_iterations)


# ---- KernAddrs ---------------------------------------------------------------------


def encode_kern_addrs(value: KernAddrs, profile: str | Profile | None = None) -> bytes:
    size = get_profile(profile).kern_addrs_len
    _check_range("page_offset_base", value.page_offset_base, 64)
    _check_range("phys_base", value.phys_base, 64)
    if value.text is not None:
        _check_range("text", value.text, 64)
    if size == 16:
        out: bytes = KernAddrs16Layout.build(
            {"phys_base": value.phys_base, "page_offset_base": value.page_offset_base}
        )
        return out
    out = KernAddrs24Layout.build(
        {
            "phys_base": value.phys_base,
            "page_offset_base": value.page_offset_base,
            "text": value.text,
        }
    )
    return out


def decode_kern_addrs(payload: BytesLike, profile: str | Profile | None = None) -> KernAddrs:
    """Exactly 24 bytes (E3+, biased slots) or 16 bytes (E2, raw)."""
    size = get_profile(profile).kern_addrs_len
    _need(payload, size, "KernAddrs")
    if size == 16:
        c = KernAddrs16Layout.parse(bytes(payload))
        return KernAddrs(c.phys_base, c.page_offset_base, None)
    c = KernAddrs24Layout.parse(bytes(payload))
    return KernAddrs(c.phys_base, c.page_offset_base, c.text)


# ---- Lifecycle ---------------------------------------------------------------------


def encode_lifecycle(value: Lifecycle) -> bytes:
    phase = LifecyclePhase(value.phase)
    head: bytes = LifecycleHeadLayout.build({"phase": int(phase)})
    return head + value.reason.encode("utf-8")


def decode_lifecycle(payload: BytesLike) -> Lifecycle:
    """Byte 0 is the phase (1..4; anything else is invalid), the rest a UTF-8 reason."""
    if len(payload) < 1:
        raise PayloadError("Lifecycle payload is empty", field="phase", offset=0)
    raw_phase = payload[0]
    try:
        phase = LifecyclePhase(raw_phase)
    except ValueError:
        raise PayloadError(
            f"invalid lifecycle phase {raw_phase}", field="phase", offset=0
        ) from None
    try:
        reason = bytes(payload[1:]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(
            "lifecycle reason is not valid UTF-8", field="reason", offset=1 + exc.start
        ) from None
    return Lifecycle(phase, reason)


# ---- i32 codes (EXIT, SCDX, EXCX) --------------------------------------------------


def encode_i32(code: int) -> bytes:
    if isinstance(code, bool) or not isinstance(code, int) or not -(2**31) <= code < 2**31:
        raise UsageError(f"an exit code is an i32, got {code!r}")
    out: bytes = I32Layout.build({"code": code})
    return out


def decode_i32(payload: BytesLike, what: str = "exit code") -> int:
    """Exactly 4 bytes, i32 little-endian."""
    _need(payload, 4, what)
    code: int = I32Layout.parse(bytes(payload)).code
    return code


# ---- Snapshot RPC ------------------------------------------------------------------


def encode_snapshot_request(value: SnapshotRequest) -> bytes:
    _check_range("request_id", value.request_id, 32)
    _check_range("kind", int(value.kind), 32)
    out: bytes = SnapshotRequestLayout.build(
        {
            "request_id": value.request_id,
            "kind": int(value.kind),
            "tag": _nul_padded(value.tag, SNAPSHOT_TAG_LEN, "tag"),
        }
    )
    return out


def decode_snapshot_request(payload: BytesLike) -> SnapshotRequest:
    """72 bytes; the host drops requests with id 0 or kind NONE/unknown."""
    _need(payload, SNAPSHOT_REQUEST_LEN, "SnapshotRequest")
    c = SnapshotRequestLayout.parse(bytes(payload))
    if c.request_id == 0:
        raise PayloadError("snapshot request_id 0 is invalid", field="request_id", offset=0)
    if c.kind not in (SnapshotKind.CAPTURE, SnapshotKind.WATCH):
        raise PayloadError(f"invalid snapshot kind {c.kind}", field="kind", offset=4)
    return SnapshotRequest(c.request_id, SnapshotKind(c.kind), _from_nul_padded(c.tag))


def encode_snapshot_reply(value: SnapshotReply, profile: str | Profile | None = None) -> bytes:
    size = get_profile(profile).snapshot_reason_len
    _check_range("request_id", value.request_id, 32)
    _check_range("status", int(value.status), 32)
    out: bytes = snapshot_reply_layout(size).build(
        {
            "request_id": value.request_id,
            "status": int(value.status),
            "reason": _nul_padded(value.reason, size, "reason"),
        }
    )
    return out


def decode_snapshot_reply(
    payload: BytesLike, profile: str | Profile | None = None
) -> SnapshotReply:
    """72 (E3) or 520 (E4+) bytes; status 1 OK or 2 ERR."""
    size = get_profile(profile).snapshot_reason_len
    _need(payload, 8 + size, "SnapshotReply")
    c = snapshot_reply_layout(size).parse(bytes(payload))
    try:
        status = SnapshotStatus(c.status)
    except ValueError:
        raise PayloadError(
            f"invalid snapshot status {c.status}", field="status", offset=4
        ) from None
    return SnapshotReply(c.request_id, status, _from_nul_padded(c.reason))


# ---- empty payloads ----------------------------------------------------------------

EMPTY_TAGS = frozenset(
    {
        MsgType.SYS_RDY,
        MsgType.SCENARIO_START,
        MsgType.SCENARIO_PAUSE,
        MsgType.SCENARIO_RESUME,
        MsgType.SCHED_SWAP_NOTIFY,
    }
)


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


FixedValue = Stimulus | ScenarioEnd | KernAddrs | Lifecycle | SnapshotRequest | SnapshotReply | int


def decode_fixed(
    msg_type: int, payload: BytesLike, profile: str | Profile | None = None
) -> FixedValue | None:
    """Decode the payload of any fixed-layout tag; ``None`` for opaque or empty tags.

    Raises :class:`PayloadError` when the payload does not fit the tag's layout.
    """
    prof = get_profile(profile)
    decoder = _FIXED.get(msg_type)
    return None if decoder is None else decoder(bytes(payload), prof)


_FIXED: dict[int, Any] = {
    MsgType.STIMULUS: decode_stimulus,
    MsgType.STEP_END: decode_stimulus,
    MsgType.SCENARIO_END: decode_scenario_end,
    MsgType.KERN_ADDRS: decode_kern_addrs,
    MsgType.LIFECYCLE: lambda p, _prof: decode_lifecycle(p),
    MsgType.EXIT: lambda p, _prof: decode_i32(p, "EXIT"),
    MsgType.SCHED_EXIT: lambda p, _prof: decode_i32(p, "SCDX"),
    MsgType.EXEC_EXIT: lambda p, _prof: decode_i32(p, "EXCX"),
    MsgType.SNAPSHOT_REQUEST: lambda p, _prof: decode_snapshot_request(p),
    MsgType.SNAPSHOT_REPLY: decode_snapshot_reply,
}
