"""Scheduler exit events in the kernel console (the host's ``parse_kmsg_window``).

The host reads COM1 for the kernel's ``sched_ext: BPF scheduler "NAME" disabled (...)``
lines when a run ends without a result, and names the scheduler's exit in the failure
reason (``evaluate_vm_result`` @77af34a2). An event is the anchor line's name and the
text in its parentheses, extended by the follow-on lines that still speak of sched_ext /
scx_ / BPF (stack-frame lines and trace framing are skipped, not added).
"""

from __future__ import annotations

from dataclasses import dataclass

from ktstr_proto.serial import (
    KMSG_EVENT_WORDS,
    KMSG_TRACE_FRAMING,
    SCX_KMSG_EXIT_ANCHOR,
    rust_lines,
    rust_split_whitespace,
    rust_trim,
)


@dataclass(frozen=True, slots=True)
class ScxExitEvent:
    scheduler_name: str
    message: str


HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_symbol_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "_.")


def _has_stack_frame(line: str) -> bool:
    """Whether a token of ``line`` reads as ``name+0xOFF[/0xSIZE]`` (a ``%pS`` frame)."""
    for token in rust_split_whitespace(line):
        plus = token.find("+0x")
        if plus <= 0 or not all(_is_symbol_char(c) for c in token[:plus]):
            continue
        offset = token[plus + 3 :]
        if "/" in offset:
            offset = offset.split("/", 1)[0]
        else:  # a frame without a size may be followed by punctuation
            while offset and offset[-1] not in HEX_DIGITS:
                offset = offset[:-1]
        if offset and all(c in HEX_DIGITS for c in offset):
            return True
    return False


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def parse_kmsg_window(text: str) -> list[ScxExitEvent]:
    """Every scheduler exit event in ``text``, in order."""
    lines = rust_lines(text)
    events: list[ScxExitEvent] = []
    i = 0
    while i < len(lines):
        at = lines[i].find(SCX_KMSG_EXIT_ANCHOR)
        if at < 0:
            i += 1
            continue
        after = lines[i][at + len(SCX_KMSG_EXIT_ANCHOR) :]
        name = after.split('"', 1)[0]
        body = rust_trim(after.split("(", 1)[1].rstrip(")")) if "(" in after else ""
        message = body
        j = i + 1
        while j < len(lines) and SCX_KMSG_EXIT_ANCHOR not in lines[j]:
            follow = lines[j]
            trimmed = rust_trim(follow)
            j += 1
            if _has_stack_frame(follow) or not trimmed:
                continue
            if trimmed.endswith(KMSG_TRACE_FRAMING):
                continue
            if not any(word in _ascii_lower(trimmed) for word in KMSG_EVENT_WORDS):
                j -= 1
                break
            message = f"{message} {trimmed}" if message else trimmed
        events.append(ScxExitEvent(name, message))
        i = j
    return events
