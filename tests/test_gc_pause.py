"""gc_paused restores the caller's collector state; big decoder calls defer collection."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest

from ktstr_host.decode.bulk import BulkDecoder, parse_tlv_stream, scan_tlv_stream
from ktstr_host.decode.gc_pause import PAUSE_THRESHOLD, gc_paused
from ktstr_host.decode.serial import SerialDecoder
from ktstr_proto.frame import build_frame
from ktstr_proto.tags import MsgType


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """Generations of the collections that start while the test runs."""
    seen: list[int] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    was_on = gc.isenabled()
    gc.enable()
    gc.callbacks.append(on_gc)
    try:
        yield seen
    finally:
        gc.callbacks.remove(on_gc)
        if not was_on:
            gc.disable()


def test_restores_enabled_and_disabled_states() -> None:
    was_on = gc.isenabled()
    try:
        gc.enable()
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the inner pause left the outer one alone
        assert gc.isenabled()
        gc.disable()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the caller had it off: it stays off
    finally:
        if was_on:
            gc.enable()


def test_restores_on_exception() -> None:
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), gc_paused():
        _ = 1 / 0
    assert gc.isenabled()


SMALL_FRAMES = build_frame(MsgType.STDOUT, bytes(range(32))) * 40_000  # 1.9 MB, 40k frames
CONSOLE = b"[    1.000000] some console line with text\r\n" * 40_000


def _bulk_feed() -> int:
    return len(BulkDecoder().feed(SMALL_FRAMES))


def _serial_feed() -> int:
    d = SerialDecoder("com1", capture_limit=None)
    return len(d.feed(CONSOLE))


@pytest.mark.parametrize(
    "call",
    [
        _bulk_feed,
        lambda: len(scan_tlv_stream(SMALL_FRAMES)),
        lambda: len(parse_tlv_stream(SMALL_FRAMES)),
        _serial_feed,
    ],
)
def test_one_big_call_defers_collection(collections: list[int], call: Callable[[], int]) -> None:
    assert call() == 40_000
    # At most the one collection that the call's allocations make due once it returns
    # (unpaused, the 80k objects allocated would start over a hundred).
    assert len(collections) <= 1
    assert gc.isenabled()


def test_small_feeds_leave_collection_on(collections: list[int]) -> None:
    d = BulkDecoder()
    chunk = PAUSE_THRESHOLD // 2
    total = sum(
        len(d.feed(SMALL_FRAMES[i : i + chunk])) for i in range(0, len(SMALL_FRAMES), chunk)
    )
    assert total == 40_000
    assert collections  # 40k frames allocated with collection on: the control case
