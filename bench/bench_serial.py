"""Serial decoder throughput against the ``bytes.split`` floor (ratios in one run).

Run: ``python bench/bench_serial.py`` (``--mb N`` for the size of the console text,
default 32). The text is a generated COM1 capture: kernel log lines of varied length
(one in 2,000 of them replaced by a 21-line ``sched_ext`` exit dump: 1% dump lines;
``--dump-every 10`` makes it 2/3), CRLF-terminated as
the kernel's serial console writes them. The floor is ``bytes.split(b"\\n")`` over the
same feeds: splitting into line objects at all, the least a Python line splitter can
do. Each case is the fastest of five rounds that run every case in turn, with the
collector in its normal state, and is given as a ratio to the floor measured in the same
rounds (target: within 3x with
``lines=False``, the mode a result builder uses; ``lines=True`` builds a ``Line`` object
per line, which dominates its cost). The reference decoder (the implementation before
the bytes-level fast paths) is measured once, on a tenth of the text.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from ktstr_guest import console
from ktstr_host.decode.serial import SerialDecoder
from ktstr_host.fuzzing.serial_reference import ReferenceSerialDecoder
from ktstr_proto.serial import ExitKind

KiB = 1024
WORDS = [
    *("sched_ext", "cpu", "task", "pid", "rq", "dsq", "enqueue", "dispatch", "irq"),
    *("virtio_net", "blk_mq", "slab", "cgroup", "kworker", "ext4", "mount", "systemd"),
    *("random", "crng", "audit", "devtmpfs", "NET", "clocksource", "tsc", "hrtimer"),
    *("rcu", "workqueue", "memory", "pci", "acpi", "PM", "io", "scheduler", "loaded"),
]


def console_text(size: int, dump_every: int = 2000, seed: int = 1) -> bytes:
    """About ``size`` bytes of kernel console output with an exit dump (21 lines) in
    place of one line in ``dump_every``."""
    rnd = random.Random(seed)
    dump = b"".join(w.data for w in console.exit_dump(ExitKind.ERROR_BPF, msg="bench"))
    parts: list[bytes] = []
    total = 0
    t = 0.0
    while total < size:
        t += rnd.random() / 100
        if rnd.random() < 1 / dump_every:
            part = dump
        else:
            words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 16)))
            part = f"[{t:12.6f}] {rnd.choice(WORDS)}: {words}\r\n".encode()
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def race(cases: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Fastest wall time of each case over ``rounds`` rounds that run every case in turn
    (so that a slow spell of a shared machine hits all of them alike)."""
    fastest = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            fastest[name] = min(fastest[name], time.perf_counter() - t0)
    return fastest


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def split_floor(chunks: list[bytes]) -> None:
    for c in chunks:
        c.split(b"\n")


def decode(
    chunks: list[bytes], lines: bool, cls: type[SerialDecoder | ReferenceSerialDecoder]
) -> None:
    d = cls("com1", lines=lines)
    for c in chunks:
        d.feed(c)
    d.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=32, help="MB of console text")
    ap.add_argument("--repeats", type=int, default=5, help="rounds (fastest counts)")
    ap.add_argument("--dump-every", type=int, default=2000, help="one dump per N lines")
    args = ap.parse_args()
    data = console_text(int(args.mb * 1e6), args.dump_every)
    lines = data.count(b"\n")
    dumped = data.count(b"sched_ext_dump:")
    print(f"console text: {len(data) / 1e6:.1f} MB, {lines} lines, {dumped} dump lines")
    mb = len(data) / 1e6
    for feed in (4 * KiB, 64 * KiB, len(data)):
        chunks = chunks_of(data, feed)
        t = race(
            {
                "floor": lambda: split_floor(chunks),  # noqa: B023
                "lean": lambda: decode(chunks, False, SerialDecoder),  # noqa: B023
                "lines": lambda: decode(chunks, True, SerialDecoder),  # noqa: B023
            },
            args.repeats,
        )
        name = "one feed" if feed == len(data) else f"{feed // KiB} KiB feeds"
        print(f"{name}: bytes.split floor {mb / t['floor']:.0f} MB/s")
        for key, label in (("lean", "lines=False"), ("lines", "lines=True ")):
            print(
                f"  {label}: {mb / t[key]:6.1f} MB/s, {t[key] / t['floor']:5.2f}x the floor"
                + ("  (target <= 3x)" if key == "lean" else "")
            )
    small = chunks_of(data[: len(data) // 10], 64 * KiB)
    t = race(
        {
            "floor": lambda: split_floor(small),
            "lean": lambda: decode(small, False, ReferenceSerialDecoder),
            "lines": lambda: decode(small, True, ReferenceSerialDecoder),
        },
        1,
    )
    for key, label in (("lean", "lines=False"), ("lines", "lines=True ")):
        print(
            f"reference decoder, 64 KiB feeds of a tenth, {label}: "
            f"{mb / 10 / t[key]:6.1f} MB/s, {t[key] / t['floor']:5.1f}x the floor"
        )


if __name__ == "__main__":
    main()
