"""Edit a transcript before it is written: drop channels, redact text, trim time.

Each filter takes a :class:`Transcript` and returns a new one (the input is left
as is), so they compose, and any of them fits the pytest plugin's
``before_record=`` hook.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Event, Mark, Transcript

__all__ = ["REDACTED", "RedactRules", "drop_channels", "redact", "trim"]

REDACTED = "<redacted>"
RedactRules = str | re.Pattern[str] | Sequence[str | re.Pattern[str]] | Mapping[str, str]
"""Regexes replaced by :data:`REDACTED`, or a mapping ``{regex: replacement}``."""


def drop_channels(transcript: Transcript, channels: Iterable[str]) -> Transcript:
    """Without the chunks of ``channels``, which also leave the channel table."""
    drop = set(channels)
    unknown = drop - set(transcript.header.channels)
    if unknown:
        raise UsageError(
            f"drop_channels: no channel {', '.join(sorted(unknown))} in this transcript "
            f"({', '.join(transcript.header.channels)})"
        )
    table = {ch: spec for ch, spec in transcript.header.channels.items() if ch not in drop}
    header = dataclasses.replace(transcript.header, channels=table)
    events = [e for e in transcript.events if not (isinstance(e, Chunk) and e.channel in drop)]
    return Transcript(header, events)


def _rules(rules: RedactRules) -> list[tuple[re.Pattern[str], str]]:
    items: list[tuple[str | re.Pattern[str], str]]
    if isinstance(rules, str | re.Pattern):
        items = [(rules, REDACTED)]
    elif isinstance(rules, Mapping):
        items = list(rules.items())
    else:
        items = [(r, REDACTED) for r in rules]
    compiled: list[tuple[re.Pattern[str], str]] = []
    for pattern, replacement in items:
        try:
            regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        except re.error as exc:
            raise UsageError(f"redact: bad regex {pattern!r}: {exc}") from None
        if regex.search(""):
            raise UsageError(f"redact: regex {regex.pattern!r} matches the empty string")
        compiled.append((regex, replacement))
    return compiled


def _bytes_rules(
    rules: list[tuple[re.Pattern[str], str]],
) -> list[tuple[re.Pattern[bytes], bytes]]:
    """The same regexes over raw channel bytes (UTF-8)."""
    out: list[tuple[re.Pattern[bytes], bytes]] = []
    for regex, replacement in rules:
        try:
            compiled = re.compile(regex.pattern.encode("utf-8"), regex.flags & ~re.UNICODE)
        except re.error as exc:
            raise UsageError(f"redact: regex {regex.pattern!r} cannot match bytes: {exc}") from None
        out.append((compiled, replacement.encode("utf-8")))
    return out


def _redact_value(value: Any, rules: list[tuple[re.Pattern[str], str]]) -> Any:
    if isinstance(value, str):
        for regex, replacement in rules:
            value = regex.sub(replacement.replace("\\", "\\\\"), value)
        return value
    if isinstance(value, dict):
        return {k: _redact_value(v, rules) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, rules) for v in value]
    return value


def _redact_stream(
    chunks: list[Chunk], rules: list[tuple[re.Pattern[bytes], bytes]]
) -> list[Chunk]:
    """Redact one (channel, direction) stream as a whole, so a match may span chunks;
    each replacement goes to the chunk where its match started, times are kept."""
    data = b"".join(c.data for c in chunks)
    for regex, replacement in rules:
        starts = [0]
        for c in chunks[:-1]:
            starts.append(starts[-1] + len(c.data))
        parts: list[bytearray] = [bytearray() for _ in chunks]
        pos = 0
        for m in regex.finditer(data):
            _copy(data, pos, m.start(), starts, parts)
            parts[bisect.bisect_right(starts, m.start()) - 1] += replacement
            pos = m.end()
        _copy(data, pos, len(data), starts, parts)
        chunks = [dataclasses.replace(c, data=bytes(p)) for c, p in zip(chunks, parts, strict=True)]
        data = b"".join(c.data for c in chunks)
    return chunks


def _copy(data: bytes, lo: int, hi: int, starts: list[int], parts: list[bytearray]) -> None:
    """Append ``data[lo:hi]`` to the parts of the chunks those bytes came from."""
    i = bisect.bisect_right(starts, lo) - 1
    while lo < hi:
        end = min(hi, starts[i + 1]) if i + 1 < len(starts) else hi
        parts[i] += data[lo:end]
        lo = end
        i += 1


def redact(
    transcript: Transcript, rules: RedactRules, *, channels: Iterable[str] | None = None
) -> Transcript:
    """Replace what the regexes match in text channels (default: every channel of kind
    ``text``, i.e. COM1/COM2), in mark data, and in the header's recorder/meta strings.

    Binary channels (bulk, hvc0) hold CRC-checked frames: redact those with your own
    ``before_record`` that rebuilds the frames. Chunks left empty are dropped.
    """
    compiled = _rules(rules)
    header = transcript.header
    names = (
        [ch for ch, spec in header.channels.items() if spec.kind == "text"]
        if channels is None
        else list(channels)
    )
    for ch in names:
        if ch not in header.channels:
            raise UsageError(f"redact: no channel {ch!r} in this transcript")
    as_bytes = _bytes_rules(compiled)
    streams: dict[tuple[str, str], list[tuple[int, Chunk]]] = {}
    for i, e in enumerate(transcript.events):
        if isinstance(e, Chunk) and e.channel in names:
            streams.setdefault((e.channel, e.direction), []).append((i, e))
    events: list[Event | None] = list(transcript.events)
    for stream in streams.values():
        redacted = _redact_stream([c for _, c in stream], as_bytes)
        for (i, _), chunk in zip(stream, redacted, strict=True):
            events[i] = chunk if chunk.data else None
    out: list[Event] = []
    for event in events:
        if isinstance(event, Mark):
            out.append(Mark(event.t, event.name, _redact_value(event.data, compiled)))
        elif event is not None:
            out.append(event)
    header = dataclasses.replace(
        header,
        recorder=_redact_value(header.recorder, compiled),
        meta=_redact_value(header.meta, compiled),
    )
    return Transcript(header, out)


def trim(transcript: Transcript, *, start: float = 0.0, end: float | None = None) -> Transcript:
    """Only the events from ``start`` to ``end`` seconds, shifted to begin at ``start``."""
    if start < 0 or (end is not None and end < start):
        raise UsageError(f"trim: need 0 <= start <= end, got start={start} end={end}")
    kept = [
        dataclasses.replace(e, t=round(e.t - start, 6))
        for e in transcript.events
        if e.t >= start and (end is None or e.t <= end)
    ]
    return Transcript(transcript.header, kept)
