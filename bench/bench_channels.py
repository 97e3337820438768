"""Throughput of the serial decoder and the transcript reader (ratios in one run).

Run: ``python bench/bench_channels.py``. The serial decoder is compared with a plain
``bytes.split(b"\\n")`` over the same console text (the floor for any line splitter in
Python); the transcript reader with ``json.loads`` of the same lines.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable

from ktstr_guest import console
from ktstr_host.decode.serial import SerialDecoder
from ktstr_host.transcripts.io import TranscriptReader, write_transcript
from ktstr_proto.serial import ExitKind
from ktstr_proto.transcript import Chunk, Header, Transcript


def best(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    dump = b"".join(w.data for w in console.exit_dump(ExitKind.ERROR_BPF, msg="bench"))
    printk = b"".join(
        f"[{i / 1000:12.6f}] sched_ext: BPF scheduler event {i}\r\n".encode() for i in range(2000)
    )
    com1 = (printk + dump) * 40
    size = len(com1)

    def decode() -> None:
        d = SerialDecoder("com1", capture_limit=1 << 40, capture_trim=1 << 39)
        for i in range(0, size, 4096):
            d.feed(com1[i : i + 4096])
        d.close()

    t_dec = best(decode)
    t_split = best(lambda: [line.rstrip(b"\r") for line in com1.split(b"\n")])
    print(
        f"serial decoder: {size / t_dec / 1e6:.1f} MB/s over {size / 1e6:.1f} MB "
        f"(4 KiB feeds); bytes.split floor {size / t_split / 1e6:.0f} MB/s; "
        f"ratio {t_dec / t_split:.0f}x the floor"
    )

    chunks: list[Chunk] = [
        Chunk(i * 0.001, "com1", "g2h", com1[j : j + 4096])
        for i, j in enumerate(range(0, size, 4096))
    ]
    buf = io.BytesIO()
    write_transcript(buf, Transcript(Header("ktstr-0.15"), list(chunks)))
    raw = buf.getvalue()
    lines = raw.splitlines()[1:]

    def read() -> None:
        with TranscriptReader(io.BufferedReader(io.BytesIO(raw))) as r:
            for _ in r:
                pass

    t_read = best(read)
    t_json = best(lambda: [json.loads(line) for line in lines])
    print(
        f"transcript reader: {len(raw) / t_read / 1e6:.1f} MB/s of transcript "
        f"({len(lines)} events); json.loads alone {len(raw) / t_json / 1e6:.1f} MB/s; "
        f"ratio {t_read / t_json:.2f}x"
    )


if __name__ == "__main__":
    main()
