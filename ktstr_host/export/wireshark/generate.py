"""Generate ``ktstr.lua``: the dissector template plus protocol tables from ``ktstr_proto``.

The Lua dissector never states a protocol fact by hand: tag names, text tags, fixed
payload layouts, serial markers, wake bytes and profile limits are rendered here from the
Python declarations and spliced into ``dissector.lua.in``. ``python -m
ktstr_host.export.wireshark.generate`` rewrites the shipped ``ktstr.lua``; a test checks that
the committed file equals a fresh generation.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from construct import Bytes, FormatField, Renamed

from ktstr_proto import payloads as pl
from ktstr_proto import serial
from ktstr_proto.channels import CHANNELS, WAKE_CHANNEL, ChannelInfo
from ktstr_proto.frame import HEADER_SIZE
from ktstr_proto.profiles import (
    KTSTR_0_10,
    KTSTR_0_15,
    KTSTR_0_20,
    KTSTR_0_44,
    KTSTR_BULK_256K,
    Profile,
)
from ktstr_proto.tags import INTERNAL_TAGS, MsgType
from ktstr_proto.transcript import STANDARD_CHANNELS

from ...decode.describe import TEXT_TAGS
from ...decode.events import DropReason
from ..pcapng import DIRECTION_FLAGS, FLAG_INBOUND, MARKS

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "dissector.lua.in"
OUTPUT = HERE / "ktstr.lua"
PLACEHOLDER = "-- @@GENERATED_TABLES@@\n"

_FORMATS = {"<B": "u8", "<H": "u16", "<L": "u32", "<I": "u32", "<l": "i32", "<i": "i32"}
_FORMATS.update({"<Q": "u64"})

# Which fixed layout a tag's payload has; several layouts of one tag are told apart by
# the payload length (older profiles send the shorter form). ``at_least``: the host reads
# the first bytes of a longer payload.
_LAYOUTS: dict[MsgType, list[tuple[str, Any, bool]]] = {
    MsgType.STIMULUS: [("stimulus", pl.StimulusLayout, True)],
    MsgType.STEP_END: [("stimulus", pl.StimulusLayout, True)],
    MsgType.SCENARIO_END: [
        ("scenario_end", pl.ScenarioEnd8Layout, True),
        ("scenario_end", pl.ScenarioEnd16Layout, True),
    ],
    MsgType.KERN_ADDRS: [
        ("kern_addrs", pl.KernAddrs16Layout, False),
        ("kern_addrs", pl.KernAddrs24Layout, False),
    ],
    MsgType.LIFECYCLE: [("lifecycle", pl.LifecycleHeadLayout, True)],
    MsgType.EXIT: [("exit", pl.I32Layout, False)],
    MsgType.SCHED_EXIT: [("exit", pl.I32Layout, False)],
    MsgType.EXEC_EXIT: [("exit", pl.I32Layout, False)],
    MsgType.SNAPSHOT_REQUEST: [("snapshot_request", pl.SnapshotRequestLayout, False)],
    MsgType.SNAPSHOT_REPLY: [
        ("snapshot_reply", pl.snapshot_reply_layout(64), False),
        ("snapshot_reply", pl.snapshot_reply_layout(512), False),
    ],
}
_BUILTIN_PROFILES = (KTSTR_0_15, KTSTR_0_10, KTSTR_0_20, KTSTR_0_44, KTSTR_BULK_256K)
"""Profiles the dissector offers (bulk transport only), the default first."""

# Named values of fixed-layout fields: (layout, field) -> enum.
_ENUMS: dict[tuple[str, str], type[Enum]] = {
    ("lifecycle", "phase"): pl.LifecyclePhase,
    ("snapshot_request", "kind"): pl.SnapshotKind,
    ("snapshot_reply", "status"): pl.SnapshotStatus,
}
# Serial line markers: (kind, text, how) with how = "prefix" (after leading blanks) or
# "contains"; the first match names the line.
_MARKERS: list[tuple[str, str, str]] = [
    ("panic", serial.PANIC_PREFIX, "prefix"),
    ("dump", serial.SCHED_EXT_DUMP_MARKER, "contains"),
    *(("dump-end", m, "contains") for m in serial.DUMP_END_MARKERS),
    *(("kernel-panic", m, "contains") for m in serial.KERNEL_PANIC_MARKERS),
    ("initramfs-fatal", serial.INITRAMFS_FATAL.split("\u2014", 1)[0].rstrip(), "contains"),
    *(
        ("sentinel", m, "contains")
        for m in (
            serial.SENTINEL_INIT_STARTED,
            serial.SENTINEL_PAYLOAD_STARTING,
            serial.SENTINEL_EXIT_PREFIX,
            serial.SENTINEL_EXEC_EXIT_PREFIX,
            serial.SENTINEL_SCHEDULER_DIED,
            serial.SENTINEL_SCHEDULER_NOT_ATTACHED,
            serial.TEST_RESULT_START,
            serial.TEST_RESULT_END,
            serial.SCHED_OUTPUT_START,
            serial.SCHED_OUTPUT_END,
        )
    ),
]


def _lua_str(text: str) -> str:
    """A Lua string literal (ASCII-safe, every other byte escaped as ``\\ddd``)."""
    out = ['"']
    for b in text.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{b:03d}")
    out.append('"')
    return "".join(out)


def _field_kind(sc: Any) -> tuple[str, int]:
    inner = sc.subcon if isinstance(sc, Renamed) else sc
    if isinstance(inner, pl._Biased):
        return "u64_biased", 8
    if isinstance(inner, pl._BiasedOptional):
        return "u64_biased_opt", 8
    if isinstance(inner, FormatField):
        return _FORMATS[inner.fmtstr], inner.length
    if isinstance(inner, Bytes):
        return "cstr", int(inner.length)
    raise TypeError(f"no Lua field kind for {inner!r}")


def _layout(name: str, struct: Any, at_least: bool) -> str:
    fields = []
    offset = 0
    for sc in struct.subcons:
        kind, size = _field_kind(sc)
        enum = _ENUMS.get((name, sc.name))
        names = _names(enum) if enum else "nil"
        fields.append(
            f'{{name="{sc.name}", kind="{kind}", offset={offset}, size={size}, names={names}}}'
        )
        offset += size
    body = ", ".join(fields)
    flag = "true" if at_least else "false"
    return f'{{name="{name}", size={offset}, at_least={flag}, fields={{{body}}}}}'


def _names(enum: type[Enum]) -> str:
    return "{" + ", ".join(f"[{int(m.value)}]={_lua_str(m.name)}" for m in enum) + "}"


def _table(name: str, rows: Iterable[str]) -> str:
    return f"local {name} = {{\n" + "".join(f"  {r},\n" for r in rows) + "}\n"


def tables() -> str:
    """The Lua source of every protocol table the dissector uses."""
    parts = [f"local HEADER_SIZE = {HEADER_SIZE}\n"]
    parts.append(
        _table(
            "TAGS",
            (
                f"[0x{m.value:08x}]={{ascii={_lua_str(m.ascii)}, name={_lua_str(m.name)}}}"
                for m in MsgType
            ),
        )
    )
    parts.append(_table("TEXT_TAGS", (f"[0x{m.value:08x}]=true" for m in sorted(TEXT_TAGS))))
    parts.append(
        _table("INTERNAL_TAGS", (f"[0x{m.value:08x}]=true" for m in sorted(INTERNAL_TAGS)))
    )
    parts.append(
        _table(
            "LAYOUTS",
            (
                f"[0x{tag.value:08x}]={{" + ", ".join(_layout(*c) for c in cands) + "}"
                for tag, cands in _LAYOUTS.items()
            ),
        )
    )
    parts.append(
        _table(
            "WAKE_BYTES",
            (f"[0x{w.value:02x}]={_lua_str(w.name)}" for w in serial.WakeByte),
        )
    )
    parts.append(
        _table(
            "SERIAL_MARKERS",
            (f'{{kind="{k}", text={_lua_str(t)}, how="{h}"}}' for k, t, h in _MARKERS),
        )
    )
    parts.append(_table("DROP_REASONS", (f"{r.name}={_lua_str(r.value)}" for r in DropReason)))
    parts.append(_table("PROFILES", _profiles(_BUILTIN_PROFILES)))
    kinds = {c.name: _lane_kind(c) for c in CHANNELS} | {MARKS: "marks"}
    parts.append(_table("STANDARD_ORDER", (_lua_str(name) for name in STANDARD_CHANNELS)))
    parts.append(f"local MARKS_LANE = {_lua_str(MARKS)}\n")
    # Wireshark's pinfo.p2p_dir: 1 (received) for inbound packets, 0 (sent) for outbound.
    dirs = (
        f"[{1 if flag == FLAG_INBOUND else 0}]={_lua_str(d)}" for d, flag in DIRECTION_FLAGS.items()
    )
    parts.append(_table("P2P_DIRS", dirs))
    parts.append(_table("LANE_KINDS", (f"[{_lua_str(k)}]={_lua_str(v)}" for k, v in kinds.items())))
    return "".join(parts)


def _lane_kind(channel: ChannelInfo) -> str:
    """How the dissector shows a channel: its decoder's name, ``wake``, or its data kind."""
    if channel.name == WAKE_CHANNEL:
        return "wake"
    return channel.kind if channel.decoder == "raw" else channel.decoder


def _profiles(profiles: Sequence[Profile]) -> Iterable[str]:
    for p in profiles:
        if p.transport != "bulk":
            continue
        yield (
            f'{{name={_lua_str(p.name)}, cap={p.cap}, cap_check="{p.cap_check}", '
            f'residual_cap={"true" if p.residual_cap else "false"}, resync="{p.resync}", '
            f"pad_warning={'true' if p.pad_warning else 'false'}}}"
        )


def render() -> str:
    """The whole ``ktstr.lua``."""
    template = TEMPLATE.read_text(encoding="utf-8")
    if template.count(PLACEHOLDER) != 1:
        raise ValueError(f"{TEMPLATE} must hold exactly one {PLACEHOLDER.strip()!r} line")
    head = (
        "-- Generated by ktstr_host.export.wireshark.generate from dissector.lua.in: do not edit.\n"
    )
    return head + template.replace(PLACEHOLDER, tables())


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the shipped ``ktstr.lua`` (or write it to the path given)."""
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0]) if args else OUTPUT
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
