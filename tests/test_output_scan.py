"""The streaming scans agree with upstream's whole-text functions for any split."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from ktstr_host.decode.bounded_text import BoundedText, CaptureWindow
from ktstr_host.decode.extractors import extract_panic_message
from ktstr_host.decode.output_scan import LINE_LIMIT, FirstPanicLine, SchedOutputScan
from ktstr_host.decode.serial import capture_window
from ktstr_host.session.result_builder import parse_sched_output
from ktstr_proto.serial import decode_lossy

PIECES = st.sampled_from(
    [
        b"a",
        b"\n",
        b" ",
        b"PANIC:",
        b"PANIC: boom",
        b"x PANIC: no",
        b"\r\n",
        b"\xff",
        b"===SCHED_OUTPUT_START===",
        b"===SCHED_OUTPUT_END===",
        b"===SCHED_",
        b"OUTPUT_END===",
    ]
)
STREAM = st.lists(PIECES, max_size=40).map(b"".join)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@given(STREAM, st.lists(st.integers(0, 1000), max_size=8))
def test_sched_output_scan_equals_parse_sched_output(data: bytes, cuts: list[int]) -> None:
    scan = SchedOutputScan()
    for part in split(data, cuts):
        scan.feed(part)
    assert scan.result() == parse_sched_output(decode_lossy(data))


@given(STREAM, STREAM, st.lists(st.integers(0, 1000), max_size=8))
def test_first_panic_line_equals_extract_panic_message(
    data: bytes, rest: bytes, cuts: list[int]
) -> None:
    scan = FirstPanicLine()
    for i, part in enumerate(split(data, cuts)):
        scan.feed(i, part)
    found = scan.finish_with(decode_lossy(rest))
    expected = extract_panic_message(decode_lossy(data) + decode_lossy(rest))
    assert (found[0] if found else None) == expected


def test_first_panic_line_names_the_part_its_line_starts_in() -> None:
    scan = FirstPanicLine()
    scan.feed(100, b"ok\nPAN")
    scan.feed(200, b"IC: late\n")
    assert scan.found == ("late", 100)


def naive_window(data: bytes, cap: int, trim: int) -> tuple[int, bytes]:
    """Upstream's buffer byte by byte: past ``cap`` bytes, drop the oldest to ``trim``."""
    buf, start = bytearray(), 0
    for byte in data:
        buf.append(byte)
        if len(buf) > cap:
            start += len(buf) - trim
            del buf[: len(buf) - trim]
    return start, bytes(buf)


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_capture_window_equals_the_byte_by_byte_buffer(parts: list[bytes]) -> None:
    window = CaptureWindow(cap=64, trim=40)
    for part in parts:
        window.append(part)
    whole = b"".join(parts)
    assert (window.start, window.data) == naive_window(whole, 64, 40)
    assert capture_window(whole, capture_limit=64, capture_trim=40) == naive_window(whole, 64, 40)


@given(st.lists(st.binary(max_size=50), max_size=30))
def test_bounded_text_keeps_head_and_tail_and_counts_the_rest(parts: list[bytes]) -> None:
    text = BoundedText(head=16, tail=16)
    for part in parts:
        text.append(part)
    whole = b"".join(parts)
    head, left_out, tail = text.parts()
    assert head + tail == (whole[:16] + whole[16:][-16:] if len(whole) > 32 else whole)
    assert len(head) + left_out + len(tail) == len(whole) == text.total


def test_a_line_longer_than_the_limit_keeps_its_start() -> None:
    """Memory stays bounded on a 3 MiB line: its first LINE_LIMIT bytes decide."""
    scan = FirstPanicLine()
    scan.feed(0, b"ok\nPANIC: huge ")
    for i in range(48):
        scan.feed(100 + i, b"z" * 65536)
    assert scan.found is None and len(scan._carry) == LINE_LIMIT
    scan.feed(200, b"\n")
    assert scan.found is not None and scan.found[1] == 0
    assert scan.found[0].startswith("huge zzz") and len(scan.found[0]) < LINE_LIMIT
