"""Plain, JSON-ready descriptions of bulk events (used by the CLI and reports)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from ktstr_proto.errors import PayloadError
from ktstr_proto.payloads import decode_fixed
from ktstr_proto.profiles import Profile
from ktstr_proto.tags import MsgType, tag_label

from .events import BulkEvent, Frame

PREVIEW_BYTES = 32
TEXT_TAGS = frozenset(
    {MsgType.STDOUT, MsgType.STDERR, MsgType.SCHED_LOG, MsgType.DMESG, MsgType.PROBE_OUTPUT}
)


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, bytes and containers as plain JSON values."""
    if isinstance(value, enum.Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def describe_event(event: BulkEvent, profile: Profile) -> dict[str, Any]:
    """One event as a flat dict: the ``ktstr-host decode --json`` line format."""
    if isinstance(event, Frame):
        out: dict[str, Any] = {
            "event": "frame",
            "offset": event.offset,
            "tag": tag_label(event.msg_type),
            "type": event.msg_type,
            "known": event.tag is not None,
            "length": event.length,
            "crc_ok": event.crc_ok,
            "crc32": event.crc32,
            "pad": event.pad,
            "preview": bytes(event.payload[:PREVIEW_BYTES]).hex(),
        }
        if event.tag in TEXT_TAGS:
            out["text"] = bytes(event.payload[: PREVIEW_BYTES * 4]).decode(
                "utf-8", errors="replace"
            )
        try:
            decoded = decode_fixed(event.msg_type, event.payload, profile)
        except PayloadError as exc:
            out["decode_error"] = str(exc)
        else:
            if decoded is not None:
                out["decoded"] = (
                    {"code": decoded} if isinstance(decoded, int) else jsonable(decoded)
                )
        return out
    return {
        "event": "dropped",
        "offset": event.offset,
        "reason": event.reason.value,
        "size": event.size,
        "msg_type": event.msg_type,
        "length": event.length,
    }


def format_event(event: BulkEvent, profile: Profile) -> str:
    """One event as a human-readable line."""
    d = describe_event(event, profile)
    if d["event"] == "dropped":
        hdr = ""
        if d["msg_type"] is not None:
            hdr = f"  header={tag_label(d['msg_type'])}/{d['length']}"
        return f"{d['offset']:>10}  DROP  {d['reason']}  size={d['size']}{hdr}"
    crc = "ok" if d["crc_ok"] else "BAD"
    line = f"{d['offset']:>10}  {d['tag']:<10}  len={d['length']:<8} crc={crc}"
    if d["pad"]:
        line += f"  pad={d['pad']:#x}"
    if not d["known"]:
        line += "  (unknown tag)"
    if "decoded" in d:
        fields = d["decoded"]
        line += "  " + " ".join(f"{k}={v}" for k, v in fields.items())
    elif "decode_error" in d:
        line += f"  decode-error: {d['decode_error']}"
    elif "text" in d:
        line += f"  {d['text']!r}"
    return line
