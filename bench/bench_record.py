"""Recorder memory and throughput at full producer speed, and Replayer construction.

Run: ``python bench/bench_record.py [SECONDS]``. Each case runs ``ktstr-host record`` in a
child process that reports its own peak RSS (``VmHWM``, via ``bench/peak_rss.py``).
Baselines measured in the same run: the same recorder on a 1 KiB file (its fixed cost),
and the loopback producer draining into a plain socket reader (the rate a peer offers
when nothing slows it down). Replayer construction is timed for 20,000 chunks on 1
channel and on 20,000 channels.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ktstr_host.transcripts.replay import Replayer
from ktstr_proto.transcript import STANDARD_CHANNELS, ChannelSpec, Chunk, Header, Transcript

HERE = Path(__file__).parent
CLI = [sys.executable, str(HERE / "peak_rss.py"), "record", "--quiet", "--force"]


def record(source: str, seconds: float, out: Path) -> tuple[float, float]:
    """(peak RSS in MiB, MB/s recorded) of one ``record`` run."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [*CLI, "--bulk", source, "--duration", str(seconds), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.monotonic() - t0
    recorded = int(proc.stdout.split()[1])
    peak_kib = int(proc.stderr.split()[-1])
    return peak_kib / 1024, recorded / elapsed / 1e6


def replayer_build(channels: int, chunks: int = 20_000) -> float:
    names = [f"c{i}" for i in range(channels)]
    table = {n: ChannelSpec("binary", "both") for n in names} | STANDARD_CHANNELS
    events = [Chunk(i * 1e-6, names[i % channels], "g2h", b"x") for i in range(chunks)]
    t = Transcript(Header("ktstr-0.15", table), list(events))
    t0 = time.perf_counter()
    Replayer(t)
    return time.perf_counter() - t0


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    producer = [sys.executable, str(HERE / "loopback_producer.py")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.jsonl"
        small = Path(tmp) / "small.bin"
        small.write_bytes(bytes(1024))
        base_rss, _ = record(f"file:{small}", 1, out)
        offered = subprocess.run(
            [*producer, "--sink", str(seconds)], capture_output=True, text=True, check=True
        ).stdout.strip()
        print(f"loopback producer into a plain reader: {offered} MB/s offered")
        print(f"record, 1 KiB file (baseline):   peak RSS {base_rss:6.1f} MiB")
        zero_rss, zero_rate = record("file:/dev/zero", seconds, out)
        print(
            f"record, /dev/zero for {seconds:.0f} s:     peak RSS {zero_rss:6.1f} MiB "
            f"({zero_rss / base_rss:.2f} x baseline), {zero_rate:.0f} MB/s recorded"
        )
        prod = subprocess.Popen(producer, stdout=subprocess.PIPE, text=True)
        assert prod.stdout is not None
        port = prod.stdout.readline().strip()
        try:
            tcp_rss, tcp_rate = record(f"socket://127.0.0.1:{port}", seconds, out)
        finally:
            prod.kill()
            prod.wait()
        print(
            f"record, loopback TCP for {seconds:.0f} s:  peak RSS {tcp_rss:6.1f} MiB "
            f"({tcp_rss / base_rss:.2f} x baseline), {tcp_rate:.0f} MB/s recorded"
        )
    one, many = replayer_build(1), replayer_build(20_000)
    print(
        f"Replayer(20,000 chunks): 1 channel {one:.3f} s, 20,000 channels {many:.3f} s "
        f"({many / one:.1f} x)"
    )


if __name__ == "__main__":
    main()
