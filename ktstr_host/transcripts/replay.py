"""Play a recorded guest back to host code, as if the VM were live.

A :class:`Replayer` walks a transcript's chunks in recorded order. Guest output (g2h) is
released to per-channel read buffers at its recorded time (scaled by ``speed``, or at
once when ``speed`` is ``None``). When the script reaches bytes the host wrote during the
recording (h2g), the replayer waits until the host under test writes them, and checks
them (strict: the recorded bytes, in order; ``match_on`` relaxes that per write),
before releasing what the guest said next: the SysRq-D dump that followed a 0xD1 wake
byte, say. Thread-safe: one host thread per
channel may block in :meth:`read` while another writes.

:meth:`report` lists what was never consumed; :meth:`finish` raises when anything was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from ktstr_proto.errors import KtstrError, UsageError
from ktstr_proto.transcript import Chunk, Header

from ..decode.hexdump import hexdump, window
from .io import PathLike, Transcript, read_transcript

WriteMatcher = Callable[[str, bytes, bytes], bool]
"""``matcher(channel, recorded, written) -> bool``: whether a host write of the same
length as the recorded bytes at its offset is acceptable."""
MatchOn = str | WriteMatcher | Sequence[str | WriteMatcher]
MATCH_NAMES = ("bytes", "length")


def match_rules(match_on: MatchOn) -> tuple[str | WriteMatcher, ...]:
    """``match_on`` as a tuple of rules (``"bytes"``, ``"length"`` or callables)."""
    rules = (match_on,) if isinstance(match_on, str) or callable(match_on) else tuple(match_on)
    if not rules:
        raise UsageError("match_on needs at least one rule: 'bytes', 'length' or a callable")
    for rule in rules:
        if not callable(rule) and rule not in MATCH_NAMES:
            raise UsageError(
                f"match_on: unknown rule {rule!r} (use 'bytes', 'length' or a callable)"
            )
    return rules


def _rule_name(rule: str | WriteMatcher) -> str:
    return rule if isinstance(rule, str) else getattr(rule, "__name__", repr(rule))


class ReplayMismatch(KtstrError, AssertionError):
    """The host wrote bytes the recording does not accept (strict mode).

    ``expected`` and ``got`` are up to 16 bytes from the first differing ``offset``;
    the message adds both sides as hexdumps with that byte marked.
    """

    def __init__(
        self, channel: str, offset: int, expected: bytes, got: bytes, *, detail: str = ""
    ) -> None:
        message = (
            f"channel {channel!r}: host wrote {got!r} at offset {offset}, "
            f"recording has {expected!r}"
        )
        super().__init__(message + (f"\n{detail}" if detail else ""))
        self.channel = channel
        self.offset = offset
        self.expected = expected
        self.got = got


def mismatch_detail(rule: str, recorded: bytes, written: bytes, start: int, at: int) -> str:
    """Both sides of a rejected write as hexdumps (``start``: the write's channel
    offset, ``at``: the first differing byte's offset), marked at ``at``."""
    lines = [f"rejected by match_on rule {rule!r}; first difference at offset {at}:"]
    for label, data in (("recording", recorded), ("host wrote", written)):
        lo, part = window(data, start, at)
        lines.append(f"  {label} ({len(data)} bytes at offset {start}):")
        lines += [f"    {line}" for line in hexdump(part, lo, mark=at)]
    return "\n".join(lines)


class ReplayIncomplete(KtstrError, AssertionError):
    """Recorded traffic was never consumed (guest output unread or host writes missing)."""


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What the host under test did not consume."""

    unread: dict[str, int] = field(default_factory=dict)
    """Guest output bytes per channel that were never read (released or not)."""
    unwritten: dict[str, int] = field(default_factory=dict)
    """Recorded host writes per channel that the host never made."""
    extra_writes: dict[str, int] = field(default_factory=dict)
    """Bytes the host wrote beyond the recording (lenient mode only)."""

    @property
    def complete(self) -> bool:
        return not (self.unread or self.unwritten or self.extra_writes)

    def describe(self) -> str:
        if self.complete:
            return "replay complete: every recorded byte was consumed"
        parts = [f"{n} unread guest bytes on {ch}" for ch, n in sorted(self.unread.items())]
        parts += [
            f"{n} recorded host bytes never written on {ch}"
            for ch, n in sorted(self.unwritten.items())
        ]
        parts += [
            f"{n} unexpected host bytes on {ch}" for ch, n in sorted(self.extra_writes.items())
        ]
        return "replay incomplete: " + "; ".join(parts)


class Replayer:
    """A fake guest driven by a transcript."""

    def __init__(
        self,
        transcript: Transcript | PathLike,
        *,
        speed: float | None = None,
        strict: bool = True,
        match_on: MatchOn = ("bytes",),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``match_on``: how a host write is checked against the recorded bytes at its
        offset (strict mode): ``"bytes"`` (equal), ``"length"`` (any content), or
        ``matcher(channel, recorded, written) -> bool``; every rule must accept. A write
        longer than what is left of the recording is always a mismatch."""
        if speed is not None and not speed > 0:
            raise UsageError(f"speed must be positive (or None for as fast as possible): {speed}")
        self.transcript = (
            transcript if isinstance(transcript, Transcript) else read_transcript(transcript)
        )
        self.header: Header = self.transcript.header
        self.speed = speed
        self.strict = strict
        self.match_on = match_rules(match_on)
        self._clock = clock
        self._cond = threading.Condition()
        self._script = self.transcript.chunks
        self._cursor = 0
        self._start: float | None = None
        self._shift = 0.0  # time lost waiting for host writes
        self._buffers: dict[str, bytearray] = {}
        self._read_total: dict[str, int] = {}
        # per channel: everything the recorded host wrote, and how much the host wrote
        self._expected: dict[str, bytes] = {}
        self._written: dict[str, int] = {}
        self._extra: dict[str, int] = {}
        self._needed: list[int] = []  # per script index: written bytes needed to pass
        self._last_g2h: dict[str, int] = {}  # per channel: script index of its last output
        # one pass over the script indexes every channel (linear in chunks + channels)
        writes: dict[str, list[bytes]] = {name: [] for name in self.header.channels}
        totals: dict[str, int] = {}
        for index, chunk in enumerate(self._script):
            if chunk.direction == "h2g":
                totals[chunk.channel] = totals.get(chunk.channel, 0) + len(chunk.data)
                self._needed.append(totals[chunk.channel])
                writes.setdefault(chunk.channel, []).append(chunk.data)
            else:
                self._needed.append(0)
                self._last_g2h[chunk.channel] = index
        self._expected = {name: b"".join(parts) for name, parts in writes.items()}

    # ---- timing ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the clock (done implicitly by the first read or write)."""
        with self._cond:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._start is None:
            self._start = self._clock()

    def _due(self, chunk: Chunk) -> float:
        assert self._start is not None
        if self.speed is None:
            return self._start
        return self._start + self._shift + chunk.t / self.speed

    def _advance(self) -> float | None:
        """Release every due event; return when the next one is due (None: blocked/done)."""
        self._start_locked()
        now = self._clock()
        while self._cursor < len(self._script):
            chunk = self._script[self._cursor]
            if chunk.direction == "h2g":
                if self._written.get(chunk.channel, 0) < self._needed[self._cursor]:
                    return None  # waiting for the host
                self._cursor += 1
                continue
            due = self._due(chunk)
            if due > now:
                return due
            self._buffers.setdefault(chunk.channel, bytearray()).extend(chunk.data)
            self._cursor += 1
        return None

    @property
    def waiting_for_host(self) -> Chunk | None:
        """The recorded host write the replay is blocked on, if any."""
        with self._cond:
            self._advance()
            if self._cursor < len(self._script):
                chunk = self._script[self._cursor]
                if chunk.direction == "h2g":
                    return chunk
            return None

    @property
    def done(self) -> bool:
        """Every recorded event has been released."""
        with self._cond:
            self._advance()
            return self._cursor >= len(self._script)

    # ---- the host side's API -----------------------------------------------------------

    def _check_channel(self, channel: str) -> None:
        if channel not in self.header.channels:
            raise UsageError(
                f"channel {channel!r} is not in this transcript ({', '.join(self.header.channels)})"
            )

    def read(self, channel: str, size: int = -1, timeout: float | None = 0.0) -> bytes:
        """Read released guest output of ``channel``.

        Returns as soon as ``size`` bytes are there (``size < 0``: whatever is there),
        when ``timeout`` seconds pass (``None``: no limit), or when the channel can get
        no more output (the replay is over, or it waits for a host write, with
        ``timeout=0``).
        """
        self._check_channel(channel)
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                next_due = self._advance()
                buf = self._buffers.setdefault(channel, bytearray())
                want = len(buf) if size < 0 else size
                if len(buf) >= want and (buf or size == 0):
                    return self._take(channel, want)
                finished = self._cursor >= len(self._script) and not self._more_for(channel)
                now = self._clock()
                if finished or (deadline is not None and now >= deadline):
                    return self._take(channel, min(len(buf), want))
                if size < 0 and buf:
                    return self._take(channel, len(buf))
                wait_until = next_due
                if deadline is not None:
                    wait_until = deadline if wait_until is None else min(wait_until, deadline)
                self._cond.wait(None if wait_until is None else max(0.0, wait_until - now))

    def _more_for(self, channel: str) -> bool:
        return self._last_g2h.get(channel, -1) >= self._cursor

    def _take(self, channel: str, n: int) -> bytes:
        buf = self._buffers[channel]
        data = bytes(buf[:n])
        del buf[:n]
        self._read_total[channel] = self._read_total.get(channel, 0) + n
        return data

    def in_waiting(self, channel: str) -> int:
        self._check_channel(channel)
        with self._cond:
            self._advance()
            return len(self._buffers.get(channel, b""))

    def write(self, channel: str, data: bytes) -> int:
        """The host writes ``data`` to the guest on ``channel``; checked against the
        recording (strict mode raises :class:`ReplayMismatch` on any difference)."""
        self._check_channel(channel)
        data = bytes(data)
        with self._cond:
            self._start_locked()
            expected = self._expected.get(channel, b"")
            offset = self._written.get(channel, 0)
            want = expected[offset : offset + len(data)]
            rejected = self._rejected_by(channel, want, data)
            if rejected is not None and self.strict:
                bad = next((i for i in range(len(data)) if i >= len(want) or want[i] != data[i]), 0)
                raise ReplayMismatch(
                    channel,
                    offset + bad,
                    want[bad : bad + 16],
                    data[bad : bad + 16],
                    detail=mismatch_detail(rejected, want, data, offset, offset + bad),
                )
            if want != data and not self.strict:
                extra = max(0, offset + len(data) - len(expected))
                self._extra[channel] = self._extra.get(channel, 0) + extra
            before = self._clock()
            self._written[channel] = offset + len(data)
            if self.speed is not None and self._cursor < len(self._script):
                gate = self._script[self._cursor]
                if gate.direction == "h2g":
                    late = before - self._due(gate)
                    if late > 0:
                        self._shift += late
            self._cond.notify_all()
            return len(data)

    def _rejected_by(self, channel: str, want: bytes, data: bytes) -> str | None:
        """The name of the first ``match_on`` rule that rejects ``data`` (None: accepted)."""
        if len(want) != len(data):
            return "length"
        for rule in self.match_on:
            if rule == "bytes" and want != data:
                return "bytes"
            if callable(rule) and not rule(channel, want, data):
                return _rule_name(rule)
        return None

    # ---- plain Python API ------------------------------------------------------------

    def stream(self, *, auto_reply: bool = True) -> Iterator[Chunk]:
        """Yield the recorded chunks in order, with pacing: guest output as it is due,
        and host writes once made. With ``auto_reply`` the replayer makes the recorded
        host writes itself, so the whole recording plays; otherwise another thread must
        write them. Use either this or :meth:`read`, not both."""
        while True:
            item: Chunk | None = None
            with self._cond:
                self._start_locked()
                if self._cursor >= len(self._script):
                    return
                idx = self._cursor
                chunk = self._script[idx]
                if chunk.direction == "h2g":
                    written = self._written.get(chunk.channel, 0)
                    if written < self._needed[idx]:
                        if not auto_reply:
                            self._cond.wait()
                            continue
                        self.write(
                            chunk.channel,
                            self._expected[chunk.channel][written : self._needed[idx]],
                        )
                    self._cursor += 1
                    item = chunk
                else:
                    delay = self._due(chunk) - self._clock()
                    if delay > 0:
                        self._cond.wait(delay)
                        continue
                    self._cursor += 1
                    total = self._read_total.get(chunk.channel, 0)
                    self._read_total[chunk.channel] = total + len(chunk.data)
                    item = chunk
            yield item

    # ---- completeness ----------------------------------------------------------------

    def report(self) -> ReplayReport:
        with self._cond:
            self._advance()
            unread: dict[str, int] = {}
            for chunk in self._script:
                if chunk.direction == "g2h":
                    unread[chunk.channel] = unread.get(chunk.channel, 0) + len(chunk.data)
            for ch, n in self._read_total.items():
                unread[ch] = unread.get(ch, 0) - n
            unwritten = {
                ch: len(exp) - self._written.get(ch, 0)
                for ch, exp in self._expected.items()
                if len(exp) > self._written.get(ch, 0)
            }
            return ReplayReport(
                {ch: n for ch, n in unread.items() if n > 0},
                unwritten,
                {ch: n for ch, n in self._extra.items() if n > 0},
            )

    def finish(self) -> ReplayReport:
        """Raise :class:`ReplayIncomplete` unless every recorded byte was consumed."""
        report = self.report()
        if not report.complete:
            raise ReplayIncomplete(report.describe())
        return report
