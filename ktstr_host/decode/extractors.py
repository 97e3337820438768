"""Host-side extractors over captured serial text, with upstream's exact behaviour.

serial.md section 9.2; behaviour pinned against likewhatevs/ktstr
``src/test_support/output.rs`` at 237c19fef61e25f5e18e7a1b1218810548fa1362 and its unit
tests, and ``errno_name`` in ``src/lib.rs`` of the same era. Inputs are the host's
capture as text (``bytes`` are decoded lossily first, as ``VmResult`` does). Lines are
split the way Rust's ``str::lines`` splits and trimmed with Rust's whitespace set.
"""

from __future__ import annotations

from ktstr_proto.errors import UsageError
from ktstr_proto.serial import (
    DEBUG_DUMP_ANCHOR,
    DIAGNOSTICS_HEADER,
    DIAGNOSTICS_TAIL_LINES,
    DUMP_SECTION_HEADER,
    EXIT_ANCHOR,
    KERNEL_VERSION_NEEDLE,
    PANIC_PREFIX,
    SCHED_EXT_DUMP_MARKER,
    decode_lossy,
    parse_exit_dump_header,
    rust_lines,
    rust_split_whitespace,
    rust_trim,
    rust_trim_start,
)

UNKNOWN_EXIT_CODE = "unknown (no EXIT frame: upstream shows 0 or -1)"
"""ktstr-py's stand-in where a transcript cannot tell which exit code upstream printed."""

ERRNO_NAMES: dict[int, str] = {
    1: "EPERM",
    2: "ENOENT",
    3: "ESRCH",
    4: "EINTR",
    5: "EIO",
    6: "ENXIO",
    7: "E2BIG",
    8: "ENOEXEC",
    9: "EBADF",
    10: "ECHILD",
    11: "EAGAIN",
    12: "ENOMEM",
    13: "EACCES",
    14: "EFAULT",
    16: "EBUSY",
    17: "EEXIST",
    19: "ENODEV",
    20: "ENOTDIR",
    21: "EISDIR",
    22: "EINVAL",
    23: "ENFILE",
    24: "EMFILE",
    28: "ENOSPC",
    29: "ESPIPE",
    30: "EROFS",
    32: "EPIPE",
    33: "EDOM",
    34: "ERANGE",
    35: "EDEADLK",
    36: "ENAMETOOLONG",
    38: "ENOSYS",
    39: "ENOTEMPTY",
    40: "ELOOP",
    95: "ENOTSUP",
    98: "EADDRINUSE",
    110: "ETIMEDOUT",
    111: "ECONNREFUSED",
}
"""Upstream's curated errno names (Linux numbering); other values have no name."""

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1


def _text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        return decode_lossy(data)
    raise UsageError(f"expected str or bytes, got {type(data).__name__}")


def errno_name(errno: int) -> str | None:
    """The symbolic name of a positive errno from upstream's curated list, else None."""
    return ERRNO_NAMES.get(errno)


def strip_ansi_csi(text: str) -> str:
    """Remove ``ESC [`` ... final-byte (0x40-0x7E) sequences; an unterminated one runs to
    the end of the text. A lone ESC stays."""
    if "\x1b" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == "\x1b" and i + 1 < n and text[i + 1] == "[":
            j = i + 2
            while j < n and not 0x40 <= ord(text[j]) <= 0x7E:
                j += 1
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def extract_panic_message(output: str | bytes, *, contains: bool = False) -> str | None:
    """``crash_message``: the first line whose trimmed form starts with ``PANIC:``, minus
    the prefix and leading whitespace (for a Rust panic: ``panicked at FILE:LINE:COL:``).

    ``contains`` is ktstr 0.4.9's rule: the first line that contains ``PANIC:`` anywhere;
    the prefix is stripped when the trimmed line starts with it, else the whole trimmed
    line is the message.
    """
    for line in rust_lines(_text(output)):
        trimmed = rust_trim(line)
        if trimmed.startswith(PANIC_PREFIX):
            return rust_trim_start(trimmed[len(PANIC_PREFIX) :])
        if contains and PANIC_PREFIX in trimmed:
            return trimmed
    return None


def extract_sched_ext_dump(com1: str | bytes) -> str | None:
    """Every line containing ``sched_ext_dump:`` (colon included), joined by LF; None if
    there is none."""
    lines = [line for line in rust_lines(_text(com1)) if SCHED_EXT_DUMP_MARKER in line]
    return "\n".join(lines) if lines else None


def format_dump_section(dump: str) -> str:
    """How a failure report shows the dump: ``\\n\\n--- sched_ext dump ---\\n{dump}``."""
    return f"\n\n{DUMP_SECTION_HEADER}\n{dump}"


def parse_trace_cpu(line: str) -> str | None:
    """The ``[NNN]`` CPU tag of a trace line: in the text before the first
    ``: sched_ext_dump:``, the last ``[`` and the next ``]``, enclosing 1-5 ASCII digits.
    Returned with its brackets; None for lines without that framing."""
    event = line.find(": " + SCHED_EXT_DUMP_MARKER)
    if event < 0:
        return None
    prefix = line[:event]
    opening = prefix.rfind("[")
    if opening < 0:
        return None
    closing = prefix.find("]", opening + 1)
    if closing < 0:
        return None
    inner = prefix[opening + 1 : closing]
    if not 1 <= len(inner) <= 5 or not (inner.isascii() and inner.isdigit()):
        return None
    return prefix[opening : closing + 1]


def _same_cpu_body_after(lines: list[str], after: int, cpu: str | None) -> str | None:
    """The first later line on the anchor's CPU (any line if it has no CPU tag), unless
    that line is itself an anchor."""
    for candidate in lines[after + 1 :]:
        if cpu is not None and parse_trace_cpu(candidate) != cpu:
            continue
        return None if EXIT_ANCHOR in candidate else candidate
    return None


def extract_exit_from_dump_trace(text: str | bytes) -> str | None:
    """The exit reason of the first ``triggered exit kind`` dump line whose same-CPU body
    line carries ``sched_ext_dump:``: the text after the marker, trimmed (None if
    nothing non-empty is found)."""
    lines = rust_lines(_text(text))
    for i, line in enumerate(lines):
        if SCHED_EXT_DUMP_MARKER not in line or EXIT_ANCHOR not in line:
            continue
        body = _same_cpu_body_after(lines, i, parse_trace_cpu(line))
        if body is None:
            continue
        pos = body.find(SCHED_EXT_DUMP_MARKER)
        if pos < 0:
            continue
        reason = rust_trim(body[pos + len(SCHED_EXT_DUMP_MARKER) :])
        if reason:
            return reason
    return None


def extract_dump_exit_kind(text: str | bytes) -> int | None:
    """The kind of the first ``sched_ext_dump:`` line that is an exit header
    (``comm[pid] triggered exit kind N:``); None if there is none. A ktstr-py addition."""
    for line in rust_lines(_text(text)):
        pos = line.find(SCHED_EXT_DUMP_MARKER)
        if pos < 0:
            continue
        body = line[pos + len(SCHED_EXT_DUMP_MARKER) :].removeprefix(" ")
        header = parse_exit_dump_header(rust_trim(body))
        if header is not None:
            return header[2]
    return None


def extract_dump_trigger(text: str | bytes) -> str | None:
    """What asked for a debug dump (kind NONE, no exit): the text after ``Debug dump
    triggered by`` on the first ``sched_ext_dump:`` line that has it, trimmed
    (``SysRq-D`` for a SysRq-D dump); None if there is none. A ktstr-py addition:
    upstream's host reports no trigger."""
    for line in rust_lines(_text(text)):
        pos = line.find(SCHED_EXT_DUMP_MARKER)
        if pos < 0:
            continue
        body = rust_trim(line[pos + len(SCHED_EXT_DUMP_MARKER) :])
        if body.startswith(DEBUG_DUMP_ANCHOR):
            trigger = rust_trim(body[len(DEBUG_DUMP_ANCHOR) :])
            if trigger:
                return trigger
    return None


def extract_bug_summary(dump: str | bytes, sched_log: str | bytes | None = None) -> str | None:
    """One-line ``BUG SUMMARY`` (upstream argument order is ``(sched_log, dump)``).

    ANSI CSI sequences are stripped from both inputs. Any line containing ``triggered
    exit kind`` is an anchor; its same-CPU body line, after ``sched_ext_dump:`` when
    present, trimmed, is the summary. Otherwise the first scheduler-log line containing
    ``scx_bpf_error``, trimmed. None when nothing non-empty is found.
    """
    lines = rust_lines(strip_ansi_csi(_text(dump)))
    for i, line in enumerate(lines):
        if EXIT_ANCHOR not in line:
            continue
        body = _same_cpu_body_after(lines, i, parse_trace_cpu(line))
        if body is None:
            continue
        pos = body.find(SCHED_EXT_DUMP_MARKER)
        summary = rust_trim(body[pos + len(SCHED_EXT_DUMP_MARKER) :] if pos >= 0 else body)
        if summary:
            return summary
    if sched_log is not None:
        for line in rust_lines(strip_ansi_csi(_text(sched_log))):
            if "scx_bpf_error" in line and rust_trim(line):
                return rust_trim(line)
    return None


def extract_kernel_version(com1: str | bytes) -> str | None:
    """The token after ``Linux version `` on the first line that has it (an empty string
    when nothing but whitespace, or a second ``Linux version ``, follows it)."""
    needle = KERNEL_VERSION_NEEDLE
    for line in rust_lines(_text(com1)):
        if needle in line:
            rest = line.split(needle)[1]
            tokens = rust_split_whitespace(rest)
            return tokens[0] if tokens else ""
    return None


def format_console_diagnostics(
    console: str | bytes,
    exit_code: int | None,
    stage: str,
    *,
    tail_lines: int = DIAGNOSTICS_TAIL_LINES,
) -> str:
    """The ``--- diagnostics ---`` block appended to a failed test's output.

    Empty when the console is blank and ``exit_code`` is 0. Otherwise ``stage:``, then
    ``exit_code=N`` (with the errno name of ``-N`` for negative codes), then, for a
    non-blank console, ``console (K lines[, window-truncated][, last line incomplete]):``
    and the last ``tail_lines`` lines of the trimmed console (all of them when any
    contains ``PANIC:``), `` [partial]`` appended when the capture does not end in LF.
    ``exit_code=None`` (not knowable from a transcript) prints ``UNKNOWN_EXIT_CODE``.
    """
    text = _text(console)
    if exit_code is None:  # a transcript that cannot tell upstream's 0 from its -1
        return _diagnostics(text, None, stage, tail_lines)
    if isinstance(exit_code, bool) or not isinstance(exit_code, int):
        raise UsageError(f"exit_code must be an int, got {exit_code!r}")
    if not I32_MIN <= exit_code <= I32_MAX:
        raise UsageError(f"exit_code must fit an i32, got {exit_code}")
    return _diagnostics(text, exit_code, stage, tail_lines)


def _diagnostics(text: str, exit_code: int | None, stage: str, tail_lines: int) -> str:
    if tail_lines < 0:
        raise UsageError("tail_lines must be >= 0")
    trimmed = rust_trim(text)
    if not trimmed and exit_code == 0:
        return ""
    parts = [f"stage: {stage}"]
    if exit_code is None:
        parts.append(f"exit_code={UNKNOWN_EXIT_CODE}")
    else:
        name = errno_name(-exit_code) if exit_code < 0 else None
        parts.append(f"exit_code={exit_code} ({name})" if name else f"exit_code={exit_code}")
    if trimmed:
        lines = rust_lines(trimmed)
        limit = len(lines) if any(PANIC_PREFIX in line for line in lines) else tail_lines
        start = max(0, len(lines) - limit)
        tail = lines[start:]
        incomplete = not text.endswith("\n")
        suffix = (", window-truncated" if start > 0 else "") + (
            ", last line incomplete" if incomplete else ""
        )
        body = "\n".join(tail) + (" [partial]" if incomplete else "")
        parts.append(f"console ({len(tail)} lines{suffix}):\n{body}")
    return f"\n\n{DIAGNOSTICS_HEADER}\n" + "\n".join(parts)
