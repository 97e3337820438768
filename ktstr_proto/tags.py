"""Message tags of the bulk TLV stream (bulk.md section 3).

A tag is a u32 whose big-endian spelling is four ASCII letters; it travels little-endian,
so ``EXIT`` is on the wire as ``b"TIXE"``.
"""

from __future__ import annotations

import functools
from enum import IntEnum


def fourcc(text: str) -> int:
    """The u32 value of a four-letter ASCII tag (``fourcc("EXIT") == 0x45584954``)."""
    raw = text.encode("ascii")
    if len(raw) != 4:
        raise ValueError(f"a tag has exactly 4 ASCII characters, got {text!r}")
    return int.from_bytes(raw, "big")


class MsgType(IntEnum):
    """Every known bulk message tag; the value is the u32 on the wire."""

    STIMULUS = fourcc("STIM")
    STEP_END = fourcc("STEN")
    SCENARIO_START = fourcc("SCST")
    SCENARIO_END = fourcc("SCEN")
    SCENARIO_PAUSE = fourcc("SCPP")
    SCENARIO_RESUME = fourcc("SCRR")
    EXIT = fourcc("EXIT")
    TEST_RESULT = fourcc("TEST")
    SCHED_EXIT = fourcc("SCDX")
    CRASH = fourcc("CRSH")
    PAYLOAD_METRICS = fourcc("PMET")
    RAW_PAYLOAD_OUTPUT = fourcc("RAWO")
    PROFRAW = fourcc("PRAW")
    WPROF_TRACE = fourcc("WPRF")
    WPROF_TRACE_CHUNK = fourcc("WPRC")
    SNAPSHOT_REQUEST = fourcc("SNRQ")
    SNAPSHOT_REPLY = fourcc("SNRP")
    KERNEL_OP_REQUEST = fourcc("KORQ")
    KERNEL_OP_REPLY = fourcc("KORP")
    SYS_RDY = fourcc("SRDY")
    SCHED_SWAP_NOTIFY = fourcc("SCSW")
    STDOUT = fourcc("SOUT")
    STDERR = fourcc("SERR")
    SCHED_LOG = fourcc("SCLG")
    LIFECYCLE = fourcc("LIFE")
    KERN_ADDRS = fourcc("KADR")
    EXEC_EXIT = fourcc("EXCX")
    DMESG = fourcc("DMSG")
    PROBE_OUTPUT = fourcc("PROB")

    @property
    def ascii(self) -> str:
        """The four-letter tag, e.g. ``"EXIT"``."""
        return self.value.to_bytes(4, "big").decode("ascii")

    @property
    def wire(self) -> bytes:
        """The four bytes as they appear on the wire (little-endian)."""
        return self.value.to_bytes(4, "little")

    @property
    def is_internal(self) -> bool:
        """Coordinator-internal: never part of the verdict bucket (bulk.md section 3)."""
        return self in INTERNAL_TAGS

    @classmethod
    def from_ascii(cls, text: str) -> MsgType:
        """Look a tag up by its four letters (``MsgType.from_ascii("EXIT")``)."""
        try:
            return cls(fourcc(text))
        except ValueError as exc:
            raise ValueError(f"unknown tag {text!r}") from exc


_BY_VALUE: dict[int, MsgType] = {m.value: m for m in MsgType}

INTERNAL_TAGS: frozenset[MsgType] = frozenset(
    {
        MsgType.SNAPSHOT_REQUEST,
        MsgType.SNAPSHOT_REPLY,
        MsgType.KERNEL_OP_REQUEST,
        MsgType.KERNEL_OP_REPLY,
        MsgType.SYS_RDY,
        MsgType.SCHED_SWAP_NOTIFY,
    }
)

ALL_TAGS: frozenset[int] = frozenset(_BY_VALUE)


def from_wire(value: int) -> MsgType | None:
    """The tag for a wire value, or ``None`` when it is not a known tag."""
    return _BY_VALUE.get(value)


@functools.lru_cache(maxsize=4096)
def tag_label(value: int) -> str:
    """A printable label for any u32: the four letters when printable ASCII, else hex.
    Cached: a hostile stream repeats a few unknown tags millions of times."""
    member = _BY_VALUE.get(value)
    if member is not None:
        return member.ascii
    raw = (value & 0xFFFFFFFF).to_bytes(4, "big")
    if all(0x20 < b < 0x7F for b in raw):
        return raw.decode("ascii")
    return f"0x{value & 0xFFFFFFFF:08x}"
