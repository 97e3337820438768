"""Events produced by the bulk decoder.

Bulk events are typed, immutable ``NamedTuple`` classes rather than frozen dataclasses:
creating one is about 7x cheaper (0.1 us against 0.7 us here), which the 1M-frames/s
benchmark needs. They compare and hash like any tuple; a pickled :class:`Frame` carries
a copy of its payload (a ``memoryview`` itself cannot be pickled), so events can cross
processes.

Payloads of up to :data:`SMALL_PAYLOAD` bytes are ``bytes`` copies, longer ones read-only
``memoryview`` slices of the fed bytes. A view costs more memory (about 200 bytes) and
time than copying a small payload, and it is a collector-tracked object: a million live
views make a one-feed decode slower than the same stream in chunks. Long payloads are
never copied.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from ktstr_proto.frame import HEADER_SIZE
from ktstr_proto.tags import MsgType, tag_label


class DropReason(StrEnum):
    """Why bytes left the decoder without becoming a frame."""

    OVERSIZED = "oversized"
    """A header announced more than the cap; the buffer from that header on was cleared."""
    RESIDUAL_OVERFLOW = "residual-overflow"
    """More than 2 x cap bytes stayed pending after a feed; the buffer was cleared."""
    SCAN_SKIP = "scan-skip"
    """The forward scan (``ktstr-0.44``) abandoned a prefix to resync on a valid frame."""
    TRUNCATED = "truncated"
    """A partial frame at the end of the input (one-shot parse, or ``close()``)."""


SMALL_PAYLOAD = 256
"""Frame payloads up to this many bytes are ``bytes``; longer ones are read-only views
(the copy stays within Python's small-object allocator, which serves up to 512 bytes)."""


def frame_payload(data: bytes) -> bytes | memoryview:
    """``data`` as a frame holds it: itself when small, else a read-only view of it."""
    return data if len(data) <= SMALL_PAYLOAD else memoryview(data).toreadonly()


def _preview(data: bytes | memoryview, limit: int = 24) -> str:
    head = bytes(data[:limit])
    more = "..." if len(data) > limit else ""
    return f"{head!r}{more}"


class Frame(NamedTuple):
    """One frame as the host assembler emits it.

    ``payload`` is ``bytes`` when it has at most :data:`SMALL_PAYLOAD` bytes, else a
    read-only ``memoryview`` into the bytes that were fed (no copy); ``bytes(frame.payload)``
    gives ``bytes`` either way. ``crc32`` is the header's value.
    """

    offset: int
    msg_type: int
    tag: MsgType | None
    payload: bytes | memoryview
    crc_ok: bool
    pad: int
    crc32: int

    @property
    def length(self) -> int:
        return len(self.payload)

    @property
    def size(self) -> int:
        """Bytes this frame occupied in the stream (header + payload)."""
        return HEADER_SIZE + len(self.payload)

    @property
    def label(self) -> str:
        return tag_label(self.msg_type)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle with a copy of the payload; unpickling applies the :data:`SMALL_PAYLOAD`
        rule to that copy (a long payload comes back as a read-only view of it)."""
        fields = (self.offset, self.msg_type, self.tag, bytes(self.payload))
        return _unpickle_frame, ((*fields, self.crc_ok, self.pad, self.crc32),)

    def __repr__(self) -> str:
        return (
            f"Frame(offset={self.offset}, tag={self.label}, length={self.length}, "
            f"crc_ok={self.crc_ok}, pad={self.pad}, payload={_preview(self.payload)})"
        )


def _unpickle_frame(fields: tuple[int, int, MsgType | None, bytes, bool, int, int]) -> Frame:
    offset, msg_type, tag, payload, crc_ok, pad, crc = fields
    return Frame(offset, msg_type, tag, frame_payload(payload), crc_ok, pad, crc)


class Dropped(NamedTuple):
    """Bytes the decoder discarded, with the reason and where they started.

    ``msg_type`` and ``length`` describe the offending header when there was one.
    """

    offset: int
    dropped: bytes
    reason: DropReason
    msg_type: int | None = None
    length: int | None = None

    @property
    def size(self) -> int:
        return len(self.dropped)

    def __repr__(self) -> str:
        hdr = ""
        if self.msg_type is not None:
            hdr = f", header={tag_label(self.msg_type)}/{self.length}"
        return f"Dropped(offset={self.offset}, size={self.size}, reason={self.reason.value}{hdr})"


BulkEvent = Frame | Dropped
