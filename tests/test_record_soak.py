"""Soak: record a full-speed loopback producer, SIGKILL it at random moments, and check
that every transcript reads back, memory stayed bounded, and no byte that reached the
file is lost (every whole line decodes; the bytes are exactly the producer's prefix).
Every third run records to ``.gz``."""

from __future__ import annotations

import importlib.util
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ktstr_host.transcripts.io import TranscriptReader
from ktstr_proto.transcript import Chunk

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("producer", ROOT / "bench/loopback_producer.py")
assert _spec is not None and _spec.loader is not None
producer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(producer)

RUNS = 6
CLI = [sys.executable, "-m", "ktstr_host.cli", "record", "--quiet"]
RSS_BOUND_KIB = 200 * 1024


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _wait_for_size(path: Path, size: int, proc: subprocess.Popen[bytes]) -> None:
    give_up = time.monotonic() + 60
    while not path.exists() or path.stat().st_size < size:
        assert proc.poll() is None, "the recorder exited early"
        assert time.monotonic() < give_up, f"{path} never reached {size} bytes"
        time.sleep(0.005)  # polling a condition, not timing


def test_sigkill_at_random_moments_loses_nothing_that_reached_the_file(tmp_path: Path) -> None:
    rng = random.Random(11)
    for run in range(RUNS):
        prod = subprocess.Popen(
            [sys.executable, str(ROOT / "bench/loopback_producer.py")],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert prod.stdout is not None
        port = prod.stdout.readline().strip()
        gz = run % 3 == 2  # every third run records compressed
        out = tmp_path / (f"soak{run}.jsonl" + (".gz" if gz else ""))
        rec = subprocess.Popen(
            [*CLI, "--bulk", f"socket://127.0.0.1:{port}", "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_size(out, rng.randrange(1, 24 << 20), rec)
            peak = _peak_rss_kib(rec.pid)
            rec.send_signal(signal.SIGKILL)
            rec.wait()
        finally:
            rec.kill()
            prod.kill()
            prod.wait()
        assert peak < RSS_BOUND_KIB, f"run {run}: peak RSS {peak} KiB"
        with TranscriptReader(out) as reader:
            events = list(reader)
            torn = reader.truncated
        if gz:  # never closed: the whole lines before the cut, then no end marker
            assert torn is not None and "end marker" in torn.reason and events
        else:
            raw = out.read_bytes()
            whole_lines = raw.count(b"\n")
            torn_but_whole = torn is None and not raw.endswith(b"\n")  # cut just before "\n"
            assert len(events) == whole_lines - 1 + torn_but_whole  # every whole line is read
            assert torn is None or not raw.endswith(b"\n")
        data = b"".join(e.data for e in events if isinstance(e, Chunk))
        reps = len(data) // producer.PERIOD + 1
        assert data == (producer.pattern(0, producer.PERIOD) * reps)[: len(data)]
