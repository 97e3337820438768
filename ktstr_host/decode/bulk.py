"""Sans-IO decoding of the bulk TLV stream, exactly as ktstr's host does it.

:class:`BulkDecoder` is the streaming assembler (bulk.md sections 6.2 and 6.3): bytes in,
:class:`Frame` and :class:`Dropped` events out. :func:`parse_tlv_stream` is the one-shot
end-of-run parser (section 6.1). Both follow the rules of a :class:`Profile`.

Every byte fed is accounted for: it is in an emitted frame, in a ``Dropped`` event, still
pending, or was handed back by :meth:`BulkDecoder.take_residual` (see :attr:`stats`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import cast

from typing_extensions import Buffer

from ktstr_proto.crc import Crc32, crc32
from ktstr_proto.errors import ProfileError, UsageError
from ktstr_proto.frame import HEADER_SIZE
from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.tags import MsgType

from .events import SMALL_PAYLOAD, BulkEvent, Dropped, DropReason, Frame
from .forward_scan import ForwardScanner
from .gc_pause import PAUSE_THRESHOLD, gc_paused

_unpack = struct.Struct("<IIII").unpack_from
_new = tuple.__new__
# A known tag's wire value as one shared int, with its tag (what ``from_wire`` gives):
# frames of known types hold no int of their own for it, 32 bytes less per frame when a
# million frames are alive at once.
_KNOWN: dict[int, tuple[int, MsgType]] = {int(t): (int(t), t) for t in MsgType}

# Why a walk stopped.
_MORE = 0  # the bytes from the returned position on are an incomplete frame
_CLEARED = 1  # a resync cleared everything from the returned position on


@dataclass(frozen=True, slots=True)
class BulkStats:
    """Byte accounting of a decoder: ``fed == framed + dropped + pending + taken``."""

    fed: int
    framed: int
    dropped: int
    pending: int
    taken: int
    frames: int
    drops: int

    @property
    def balanced(self) -> bool:
        return self.fed == self.framed + self.dropped + self.pending + self.taken


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        # Copy mutable input once so that payload views stay valid.
        return bytes(data)
    raise UsageError(f"feed() takes bytes-like data, got {type(data).__name__}")


class BulkDecoder:
    """Streaming host assembler for one bulk byte stream.

    ``feed(data)`` returns the events the new bytes complete. Payloads of up to
    :data:`~ktstr_host.decode.events.SMALL_PAYLOAD` bytes are ``bytes``; longer ones are
    read-only views into the fed ``bytes`` (or into a private buffer for frames that
    spanned feeds): feeding never copies a long payload that arrived whole.
    """

    def __init__(self, profile: str | Profile | None = None, *, crc: Crc32 | None = None):
        prof = get_profile(profile)
        if prof.transport != "bulk":
            raise ProfileError(f"profile {prof.name!r} has no bulk channel ({prof.transport})")
        self.profile = prof
        self._cap = prof.cap
        self._header_cap = prof.cap_check == "header"
        self._limit = prof.residual_limit
        self._crc: Crc32 = crc if crc is not None else crc32
        self._scanner = (
            ForwardScanner(prof.known_tags, prof.cap, self._crc) if prof.resync == "scan" else None
        )
        self._buf = bytearray()
        self._buf_off = 0  # stream offset of _buf[0]
        self._hdr: tuple[int, int, int, int] | None = None  # header of the pending frame
        self._fed = 0
        self._framed = 0
        self._dropped = 0
        self._taken = 0
        self._frames = 0
        self._drops = 0
        self._closed = False

    # ---- public API ------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet emitted or dropped."""
        return len(self._buf)

    @property
    def offset(self) -> int:
        """Stream offset of the next byte to be fed."""
        return self._fed

    @property
    def stats(self) -> BulkStats:
        return BulkStats(
            self._fed,
            self._framed,
            self._dropped,
            len(self._buf),
            self._taken,
            self._frames,
            self._drops,
        )

    def feed(self, data: Buffer) -> list[BulkEvent]:
        """Append ``data`` to the stream; return the frames and drops it completes."""
        if self._closed:
            raise UsageError("feed() after close()")
        blob = _as_bytes(data)
        out: list[BulkEvent] = []
        if not blob:
            return out
        if len(blob) >= PAUSE_THRESHOLD:
            with gc_paused():
                self._feed_blob(blob, out)
        else:
            self._feed_blob(blob, out)
        return out

    def take_residual(self) -> bytes:
        """Return and forget the pending bytes (upstream's ``take_residual``)."""
        data = bytes(self._buf)
        self._taken += len(data)
        self._reset_buffer(self._buf_off + len(data))
        return data

    def close(self) -> list[BulkEvent]:
        """End of stream: report pending bytes as a truncated drop. Further feeds fail."""
        out: list[BulkEvent] = []
        if self._buf and not self._closed:
            hdr = _unpack(self._buf, 0) if len(self._buf) >= HEADER_SIZE else None
            self._drop(out, self._buf_off, bytes(self._buf), DropReason.TRUNCATED, hdr)
            self._reset_buffer(self._buf_off + len(self._buf))
        self._closed = True
        return out

    # ---- internals -------------------------------------------------------------------

    def _feed_blob(self, blob: bytes, out: list[BulkEvent]) -> None:
        start = self._fed
        self._fed += len(blob)
        if self._scanner is not None:
            self._feed_scan(blob, out)
        elif self._buf:
            self._feed_pending(blob, start, out)
        else:
            self._feed_fresh(blob, 0, start, out)
        self._check_residual(out)

    def _reset_buffer(self, new_offset: int) -> None:
        self._buf = bytearray()
        self._buf_off = new_offset
        self._hdr = None
        if self._scanner is not None:
            self._scanner.reset()

    def _drop(
        self,
        out: list[BulkEvent],
        offset: int,
        data: bytes,
        reason: DropReason,
        hdr: tuple[int, int, int, int] | None = None,
    ) -> None:
        self._dropped += len(data)
        self._drops += 1
        if hdr is None:
            out.append(Dropped(offset, data, reason))
        else:
            out.append(Dropped(offset, data, reason, hdr[0], hdr[1]))

    def _check_residual(self, out: list[BulkEvent]) -> None:
        limit = self._limit
        if limit is not None and len(self._buf) > limit:
            hdr = _unpack(self._buf, 0) if len(self._buf) >= HEADER_SIZE else None
            self._drop(out, self._buf_off, bytes(self._buf), DropReason.RESIDUAL_OVERFLOW, hdr)
            self._reset_buffer(self._buf_off + len(self._buf))

    def _feed_fresh(self, blob: bytes, pos: int, base: int, out: list[BulkEvent]) -> None:
        """Walk ``blob[pos:]`` with an empty buffer; keep an incomplete tail."""
        mv = memoryview(blob).toreadonly()
        end = len(blob)
        pos, why = self._walk(mv, pos, end, base, out)
        if why == _MORE and pos < end:
            self._buf = bytearray(mv[pos:])
            self._buf_off = base + pos
            self._hdr = None
        else:
            self._buf_off = base + end
            if self._scanner is not None:
                self._scanner.reset()

    def _feed_pending(self, blob: bytes, base: int, out: list[BulkEvent]) -> None:
        """Complete the buffered frame from ``blob`` (copying only its bytes), then walk on."""
        buf = self._buf
        n = len(blob)
        p = 0
        if len(buf) < HEADER_SIZE:
            p = min(HEADER_SIZE - len(buf), n)
            buf += blob[:p]
            if len(buf) < HEADER_SIZE:
                return
        hdr = self._hdr
        if hdr is None:
            hdr = self._hdr = _unpack(buf, 0)
        length = hdr[1]
        if self._header_cap and length > self._cap:
            self._clear_from_buffer(blob, p, hdr, out)
            return
        need = HEADER_SIZE + length - len(buf)
        if need > n - p:
            buf += blob[p:] if p else blob
            return
        if length > self._cap:
            self._clear_from_buffer(blob, p, hdr, out)
            return
        if need:
            buf += blob[p : p + need]
            p += need
        view = memoryview(buf).toreadonly()[HEADER_SIZE:]
        payload = view.tobytes() if length <= SMALL_PAYLOAD else view
        msg_type, tag = _KNOWN.get(hdr[0]) or (hdr[0], None)
        self._framed += HEADER_SIZE + length
        self._frames += 1
        out.append(
            _new(
                Frame,
                (
                    self._buf_off,
                    msg_type,
                    tag,
                    payload,
                    self._crc(payload) == hdr[2],
                    hdr[3],
                    hdr[2],
                ),
            )
        )
        self._buf = bytearray()  # the old buffer may now belong to the frame
        self._hdr = None
        self._feed_fresh(blob, p, base, out)

    def _clear_from_buffer(
        self, blob: bytes, p: int, hdr: tuple[int, int, int, int], out: list[BulkEvent]
    ) -> None:
        """Resync by clearing: drop the buffer and the rest of this feed."""
        data = bytes(self._buf) + blob[p:]
        self._drop(out, self._buf_off, data, DropReason.OVERSIZED, hdr)
        self._reset_buffer(self._buf_off + len(data))

    def _feed_scan(self, blob: bytes, out: list[BulkEvent]) -> None:
        """``ktstr-0.44``: one logical buffer, walked with the forward scan."""
        if not self._buf:
            self._buf_off = self._fed - len(blob)
            self._feed_fresh(blob, 0, self._buf_off, out)
            return
        buf = self._buf
        buf += blob
        base = self._buf_off
        mv = memoryview(buf).toreadonly()
        before = self._frames
        pos, why = self._walk(mv, 0, len(buf), base, out)
        if why == _CLEARED:
            mv.release()
            self._reset_buffer(base + len(buf))
        elif self._frames != before:
            # Frames may hold views into buf: leave it to them, keep a copy of the tail.
            self._buf = bytearray(mv[pos:])
            self._buf_off = base + pos
        else:
            mv.release()
            if pos:
                del buf[:pos]
                self._buf_off = base + pos

    def _walk(
        self, mv: memoryview, pos: int, end: int, base: int, out: list[BulkEvent]
    ) -> tuple[int, int]:
        """Emit frames from ``mv[pos:end]`` (stream offset of ``mv[0]`` is ``base``)."""
        if self._scanner is not None:
            return self._walk_scan(mv, pos, end, base, out)
        src = mv.obj  # the fed bytes: small payloads are sliced from them
        assert isinstance(src, bytes)  # only the forward scan walks a private buffer
        cap = self._cap
        header_cap = self._header_cap
        crc = self._crc
        append = out.append
        framed = 0
        frames = 0
        known = _KNOWN.get
        last = end - HEADER_SIZE
        why = _MORE
        while pos <= last:
            msg_type, length, want, pad = _unpack(mv, pos)
            body = pos + HEADER_SIZE
            stop = body + length
            if header_cap and length > cap:
                why = _CLEARED
                break
            if stop > end:
                break
            if length > cap:
                why = _CLEARED
                break
            payload = src[body:stop] if length <= SMALL_PAYLOAD else mv[body:stop]
            msg_type, tag = known(msg_type) or (msg_type, None)
            append(
                _new(
                    Frame,
                    (
                        base + pos,
                        msg_type,
                        tag,
                        payload,
                        crc(payload) == want,
                        pad,
                        want,
                    ),
                )
            )
            frames += 1
            framed += stop - pos
            pos = stop
        self._framed += framed
        self._frames += frames
        if why == _CLEARED:
            hdr = _unpack(mv, pos)
            self._drop(out, base + pos, bytes(mv[pos:end]), DropReason.OVERSIZED, hdr)
            return end, why
        return pos, why

    def _walk_scan(
        self, mv: memoryview, pos: int, end: int, base: int, out: list[BulkEvent]
    ) -> tuple[int, int]:
        """The E7 loop: on an oversized, incomplete or CRC-bad frame, look for a later
        valid frame and skip to it (bulk.md section 6.3)."""
        scanner = self._scanner
        assert scanner is not None
        cap = self._cap
        crc = self._crc
        src = mv.obj if isinstance(mv.obj, bytes) else None  # None: a private bytearray
        stream_end = base + end
        last = end - HEADER_SIZE
        while pos <= last:
            hdr = _unpack(mv, pos)
            msg_type, length, want, pad = hdr
            body = pos + HEADER_SIZE
            stop = body + length
            if length > cap or stop > end:
                nxt = scanner.find(mv, base, base + pos + 1, stream_end)
                if nxt is not None:
                    self._drop(
                        out, base + pos, bytes(mv[pos : nxt - base]), DropReason.SCAN_SKIP, hdr
                    )
                    pos = nxt - base
                    continue
                if stop > end:
                    return pos, _MORE
                self._drop(out, base + pos, bytes(mv[pos:end]), DropReason.OVERSIZED, hdr)
                return end, _CLEARED
            payload: bytes | memoryview
            if length > SMALL_PAYLOAD:
                payload = mv[body:stop]
            elif src is not None:
                payload = src[body:stop]
            else:
                payload = mv[body:stop].tobytes()
            ok = crc(payload) == want
            if not ok:
                nxt = scanner.find(mv, base, base + pos + 1, stream_end)
                if nxt is not None and nxt < base + stop:
                    self._drop(
                        out, base + pos, bytes(mv[pos : nxt - base]), DropReason.SCAN_SKIP, hdr
                    )
                    pos = nxt - base
                    continue
            msg_type, tag = _KNOWN.get(msg_type) or (msg_type, None)
            out.append(_new(Frame, (base + pos, msg_type, tag, payload, ok, pad, want)))
            self._frames += 1
            self._framed += stop - pos
            pos = stop
        return pos, _MORE


def scan_tlv_stream(
    data: Buffer, profile: str | Profile | None = None, *, crc: Crc32 | None = None
) -> list[BulkEvent]:
    """One-shot parse (upstream ``parse_tlv_stream``) with the discarded bytes reported.

    Stops at the first header announcing more than the cap (everything after it is
    dropped, even valid frames) or at a truncated frame; fewer than 16 trailing bytes are
    reported as truncated too.
    """
    prof = get_profile(profile)
    blob = _as_bytes(data)
    check = crc if crc is not None else crc32
    if len(blob) >= PAUSE_THRESHOLD:
        with gc_paused():
            return _scan_blob(blob, prof.cap, check)
    return _scan_blob(blob, prof.cap, check)


def _scan_blob(blob: bytes, cap: int, check: Crc32) -> list[BulkEvent]:
    mv = memoryview(blob).toreadonly()
    end = len(blob)
    out: list[BulkEvent] = []
    append = out.append
    known = _KNOWN.get
    pos = 0
    last = end - HEADER_SIZE
    while pos <= last:
        msg_type, length, want, pad = _unpack(mv, pos)
        body = pos + HEADER_SIZE
        stop = body + length
        if length > cap or stop > end:
            reason = DropReason.OVERSIZED if length > cap else DropReason.TRUNCATED
            append(Dropped(pos, bytes(mv[pos:]), reason, msg_type, length))
            return out
        payload = blob[body:stop] if length <= SMALL_PAYLOAD else mv[body:stop]
        msg_type, tag = known(msg_type) or (msg_type, None)
        append(_new(Frame, (pos, msg_type, tag, payload, check(payload) == want, pad, want)))
        pos = stop
    if pos < end:
        append(Dropped(pos, bytes(mv[pos:]), DropReason.TRUNCATED))
    return out


def parse_tlv_stream(
    data: Buffer, profile: str | Profile | None = None, *, crc: Crc32 | None = None
) -> list[Frame]:
    """One-shot parse of a whole buffer into frames (bulk.md section 6.1)."""
    events = scan_tlv_stream(data, profile, crc=crc)
    if events and isinstance(events[-1], Dropped):
        del events[-1]  # only the last event can be a drop
    return cast("list[Frame]", events)  # a string: no object that could start a collection
