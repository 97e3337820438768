"""Hypothesis strategies for bulk streams: valid, damaged and hostile frames.

Use them in any project's tests: ``@given(bulk_streams(cap=256))``. ``cap`` should be
the cap of the profile under test; small caps keep oversized frames cheap.
"""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from ktstr_proto.frame import build_frame, build_header
from ktstr_proto.tags import MsgType

KNOWN_TAGS = [int(t) for t in MsgType]
U32 = st.integers(min_value=0, max_value=0xFFFFFFFF)


def tags(unknown: bool = True) -> st.SearchStrategy[int]:
    """Known tags, and (optionally) arbitrary u32 values."""
    known = st.sampled_from(KNOWN_TAGS)
    return st.one_of(known, U32) if unknown else known


def valid_frames(max_payload: int = 64, unknown_tags: bool = True) -> st.SearchStrategy[bytes]:
    """Well-formed frames: any tag, payload up to ``max_payload`` bytes."""
    return st.builds(build_frame, tags(unknown_tags), st.binary(max_size=max_payload))


@st.composite
def damaged_frames(draw: st.DrawFn, cap: int, max_payload: int = 64) -> bytes:
    """One frame with a defect: bad CRC, non-zero pad, oversized or truncated."""
    kind = draw(st.sampled_from(["crc", "pad", "oversized", "oversized-complete", "truncated"]))
    tag = draw(tags())
    payload = draw(st.binary(max_size=max_payload))
    if kind == "crc":
        good = build_frame(tag, payload)
        crc = int.from_bytes(good[8:12], "little") ^ draw(st.integers(1, 0xFFFFFFFF))
        return build_header(tag, len(payload), crc) + payload
    if kind == "pad":
        return build_frame(tag, payload, pad=draw(st.integers(1, 0xFFFFFFFF)))
    if kind == "oversized":
        length = draw(st.sampled_from([cap + 1, 0xFFFFFFFF, cap * 2 + 3]))
        return build_header(tag, length, draw(U32))
    if kind == "oversized-complete":
        return build_header(tag, cap + 1, 0) + draw(st.binary(min_size=cap + 1, max_size=cap + 1))
    frame = build_frame(tag, payload)
    return frame[: draw(st.integers(0, max(0, len(frame) - 1)))]


def bulk_streams(
    cap: int = 256, max_pieces: int = 12, hostile: bool = True
) -> st.SearchStrategy[bytes]:
    """A stream of frames, with damaged frames and garbage mixed in when ``hostile``."""
    piece: st.SearchStrategy[bytes] = valid_frames()
    if hostile:
        piece = st.one_of(
            valid_frames(), valid_frames(), damaged_frames(cap), st.binary(max_size=40)
        )
    return st.lists(piece, max_size=max_pieces).map(b"".join)


@st.composite
def splits(draw: st.DrawFn, data: bytes, max_cuts: int = 12) -> list[bytes]:
    """``data`` cut into consecutive chunks at arbitrary points."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=max_cuts)) if data else [])
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]
