"""The fast serial decoder against the straightforward one it replaced.

``ktstr_host.fuzzing.serial_reference.ReferenceSerialDecoder`` is the decoder as first
written (every line split and classified in Python, events sorted by key). For any
stream, options and split, the fast decoder must return exactly its events; with
``lines=False``, exactly the ``lines=True`` events other than :class:`Line`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ktstr_guest import console
from ktstr_guest.fuzz import Mutant, sample_serial_streams, serial_noise
from ktstr_host.decode.serial import Line, SerialDecoder, SerialEvent, _find_marker
from ktstr_host.fuzzing.serial_reference import ReferenceSerialDecoder
from ktstr_host.fuzzing.targets import MODEL_KERNEL
from ktstr_proto.serial import DUMP_END_MARKERS, KERNEL_PANIC_MARKERS, SCHED_EXT_DUMP_MARKER

Options = dict[str, Any]

PIECES = [
    b"[    1.234567] sched_ext: BPF scheduler event 7\r\n",
    b"plain text",
    b"\n",
    b"\r\n",
    b"\r",
    b"   \t",
    b"\xc2\x85",  # U+0085, Rust whitespace
    b"\xe3\x80\x80",  # U+3000, Rust whitespace
    b"\xff\xe2\x82",
    b"PANIC: panicked at src/a.rs:1:2:\n",
    b"PANIC: fatal signal SIGSEGV at addr 0x0000000000000010\r\n",
    b"   0: frame::one\n",
    b"             at src/a.rs:3:4\n",
    b"      inlined::sym\n",
    b"disabled backtrace\n",
    b"x-1 [003] d..1.  1.0: sched_ext_dump: scx[1] triggered exit kind 1025:\r\n",
    b"x-1 [003] d..1.  1.0: sched_ext_dump: Debug dump triggered by SysRq-D\n",
    b"x-1 [003] d..1.  1.0: sched_ext_dump:   body line\n",
    b"SCX_EV_SUB_BYPASS_DISPATCH: 0\n",
    b"~~~~ TRUNCATED ~~~~",
    b"Kernel panic - not syncing: boom\n",
    b"Attempted to kill init",
    b"sched_ext_dump:",
    b"PANIC:",
    # markers found by their first byte: past more false starts than it tries
    b"P" * 8 + b"PANIC: after false starts\n",
    b"K" * 12 + b"ernel panic - not syncing: late\n",
    b"~" * 15 + b" TRUNCATED ~~~~\n",
    b"A" * 12 + b"ttempted to kill init\n",
]


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Console-like pieces with runs of every length around the line limits."""
    run = st.builds(
        lambda c, n: c * n,
        st.sampled_from([b"a", b"\r", b"\xe2\x9c\x93", b"ab\r"]),
        st.one_of(st.integers(1, 40), st.integers(4090, 4110), st.integers(5000, 9000)),
    )
    parts = draw(st.lists(st.one_of(st.sampled_from(PIECES), run), max_size=30))
    return b"".join(parts)


@st.composite
def options(draw: st.DrawFn) -> Options:
    capture = draw(st.sampled_from([None, (700, 300), (4096, 256)]))
    opts: Options = {
        "channel": draw(st.sampled_from(["com1", "com2"])),
        "capture_limit": None if capture is None else capture[0],
        "max_line": draw(st.sampled_from([1, 8, 16, 300, 4095, 4096, 5000, 64 * 1024])),
        "panic_latch": draw(st.sampled_from([None, True, False])),
        "dumps": draw(st.sampled_from([None, True, False])),
        "lines": draw(st.booleans()),
    }
    if capture is not None:
        opts["capture_trim"] = capture[1]
    return opts


def _cut(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted({min(c, len(data)) for c in cuts}), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def _run(decoder: SerialDecoder | ReferenceSerialDecoder, reads: Sequence[bytes]) -> list[Any]:
    events: list[SerialEvent] = []
    for chunk in reads:
        events += decoder.feed(chunk)
    return events + decoder.close()


def check_same(reads: Sequence[bytes], opts: Options) -> list[SerialEvent]:
    # the model predates kernel-aware dump ends: it models a 6.15+ kernel
    fast = SerialDecoder(**opts, kernel_release=MODEL_KERNEL)
    model = ReferenceSerialDecoder(**opts)
    got = _run(fast, reads)
    assert got == _run(model, reads)
    assert (fast.offset, fast.window_start) == (model._off, model.window_start)
    if opts["lines"]:
        lean = SerialDecoder(**{**opts, "lines": False}, kernel_release=MODEL_KERNEL)
        assert _run(lean, reads) == [e for e in got if not isinstance(e, Line)]
    return got


@settings(max_examples=300, deadline=None)
@given(streams(), options(), st.lists(st.integers(0, 20_000), max_size=8))
def test_matches_the_reference_model(data: bytes, opts: Options, cuts: list[int]) -> None:
    check_same(_cut(data, cuts), opts)
    check_same([data], opts)


@settings(max_examples=150, deadline=None)
@given(serial_noise(), options())
def test_matches_the_reference_model_on_noisy_captures(m: Mutant, opts: Options) -> None:
    check_same(m.reads, opts)


def _big_console() -> bytes:
    """About 2.5 MB of console: printk, a 70 KiB line, an exit dump, a Rust panic."""
    samples = sample_serial_streams()
    printk = b"".join(
        f"[{i / 1000:12.6f}] cpu{i % 4}: kworker/{i}:1 event {i * 7919 % 10007}\r\n".encode()
        for i in range(30_000)
    )
    panic = console.transcript(
        console.rust_panic("panicked at src/a.rs:1:1:\nboom", "   0: f\n"), "com1"
    )
    return b"".join(
        [printk, b"L" * 70_000 + b"\r\n", samples["com1-dump"], printk, panic, printk[:5000]]
    )


def test_big_console_in_one_feed_and_in_reads() -> None:
    data = _big_console()
    for lines in (True, False):
        opts: Options = {"channel": "com1", "lines": lines}
        opts |= {"capture_limit": 1 << 20, "capture_trim": 1 << 19}
        whole = check_same([data], opts)
        assert check_same(_cut(data, range(0, len(data), 4096)), opts) == whole
        assert check_same(_cut(data, range(0, len(data), 65536)), opts) == whole
        kinds = {type(e).__name__ for e in whole}
        assert {"DumpStart", "DumpEnd", "PanicHead", "LineOverflow", "CaptureTruncated"} <= kinds


MARKERS = [b"PANIC:", SCHED_EXT_DUMP_MARKER.encode(), b"Linux version "]
MARKERS += [m.encode() for m in (*KERNEL_PANIC_MARKERS, *DUMP_END_MARKERS)]


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from([*MARKERS, b"P", b"PANI", b"~", b"K", b"s", b"x\n"]), max_size=40),
    st.sampled_from(MARKERS),
    st.integers(0, 20),
    st.integers(0, 30),
    st.integers(0, 400),
)
def test_marker_search_finds_what_bytes_find_finds(
    pieces: list[bytes], needle: bytes, false_starts: int, pos: int, end: int
) -> None:
    blob = needle[:1] * false_starts + needle + b"".join(pieces)
    assert _find_marker(blob, needle, pos, end) == blob.find(needle, pos, end)
