"""``ktstr-host report`` on large generated transcripts: throughput and peak RSS.

``python bench/bench_report.py [MB ...]`` (default: 100 1000) writes, for each size, a
transcript whose bytes are half bulk stdout frames (64 KiB recorded reads) and half COM1
console text, runs ``ktstr-host report --json`` on it in a child process (peak RSS from
the child's own ``VmHWM``, see ``peak_rss.py``), and prints MB of transcript per CPU
second and the RSS ratio against the smallest size: flat memory shows as a ratio near 1.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_host.transcripts.io import TranscriptWriter
from ktstr_proto.payloads import LifecyclePhase
from ktstr_proto.schemas import AssertResult, encode_assert_result
from ktstr_proto.transcript import Chunk, Header, Mark

HERE = Path(__file__).resolve().parent
READ = 64 * 1024
CONSOLE_LINE = b"[   12.345678] sched_ext: some kernel message about CPU 3 and its runqueue\n"


def make(path: Path, megabytes: int) -> int:
    """Write the transcript; returns its size in bytes."""
    w = GuestBulkWriter("ktstr-0.15")
    half = megabytes * 1_000_000 // 2
    stdout_frame = w.stdout(b"workload: iteration 123456 done in 42 us on cpu 3\n" * 80)
    per_read = READ // len(stdout_frame)
    bulk_read = stdout_frame * per_read
    console_read = CONSOLE_LINE * (READ // len(CONSOLE_LINE))
    t = 0.0
    with TranscriptWriter(path, Header("ktstr-0.15")) as out:
        start = w.lifecycle(LifecyclePhase.INIT_STARTED) + w.lifecycle(
            LifecyclePhase.PAYLOAD_STARTING
        )
        out.write(Chunk(t, "bulk", "g2h", start))
        written = 0
        while written < half:
            t += 0.001
            out.write(Chunk(t, "bulk", "g2h", bulk_read))
            out.write(Chunk(t, "com1", "g2h", console_read))
            written += len(bulk_read)
        end = w.test_result(encode_assert_result(AssertResult.pass_())) + w.exit(0)
        out.write(Chunk(t + 0.001, "bulk", "g2h", end))
        out.write(Mark(t + 0.002, "vm-exit", {"status": 0, "timed_out": False}))
    return path.stat().st_size


def report(path: Path) -> tuple[float, int]:
    """CPU seconds (user + system: wall time is meaningless on a shared machine) and
    peak RSS (KiB) of ``ktstr-host report --json`` on ``path``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, str(HERE / "peak_rss.py"), "report", "--json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"report failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = int(proc.stderr.strip().splitlines()[-1].split()[1])
    return seconds, rss


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sizes:
            path = Path(tmp) / f"run-{mb}.jsonl"
            size = make(path, mb)
            seconds, rss = report(path)
            rows.append((mb, size, seconds, rss))
            path.unlink()
    base_rss = rows[0][3]
    print(f"{'size':>10} {'file MB':>8} {'CPU s':>8} {'MB/s':>7} {'peak RSS':>10} {'ratio':>6}")
    for mb, size, seconds, rss in rows:
        print(
            f"{mb:>8} MB {size / 1e6:>8.0f} {seconds:>8.1f} {size / 1e6 / seconds:>7.1f} "
            f"{rss / 1024:>7.1f} MiB {rss / base_rss:>6.2f}"
        )


if __name__ == "__main__":
    main()
