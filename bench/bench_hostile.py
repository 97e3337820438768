"""Hostile-input benchmark for ``ktstr-host report`` (issue 11): peak RSS and CPU time.

Run: ``python bench/bench_hostile.py`` (``--zeros-mib N`` to change the size of the
zero-byte cases, default 1024). Each case runs in a child process; peak RSS is its
``VmHWM``, next to a baseline child reporting on a tiny fixture in the same run. The
target is a peak under 2 x cap + 64 MiB (96 MiB) whatever the input size; the ktstr-0.44
case is also given as a ratio to ktstr-0.15 on the same bytes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from ktstr_host.transcripts.io import TranscriptWriter
from ktstr_proto.frame import build_header
from ktstr_proto.tags import MsgType
from ktstr_proto.transcript import Header

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent
CHILD = (
    "import json, resource, sys\n"
    "from ktstr_host.cli import main\n"
    "status = main(sys.argv[1:])\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
    "u = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(json.dumps({'hwm': int(hwm.split()[1]) * 1024, 'cpu': u.ru_utime + u.ru_stime}),"
    " file=sys.stderr)\n"
)


def report(*argv: str) -> tuple[float, float]:
    """Peak RSS (MiB) and CPU seconds of one ``ktstr-host report`` child."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "report", "--json", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    info = json.loads(proc.stderr.strip().splitlines()[-1])
    return info["hwm"] / MiB, info["cpu"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zeros-mib", type=int, default=1024)
    args = ap.parse_args()
    n = args.zeros_mib
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rows.append(
            ("baseline (tiny fixture)", *report(str(ROOT / "fixtures/synthetic/normal-pass.jsonl")))
        )
        zeros = d / "zeros.bin"
        with open(zeros, "wb") as f:
            f.truncate(n * MiB)
        rows.append((f"--bulk: {n} MiB of zeros", *report("--bulk", str(zeros))))
        gz = d / "zeros.jsonl.gz"
        block = bytes(MiB)
        with TranscriptWriter(gz, Header("ktstr-0.15"), flush_every=False) as w:
            for _ in range(n):
                w.chunk(0.0, "bulk", "g2h", block)
        label = f".gz transcript ({gz.stat().st_size / MiB:.1f} MiB): {n} MiB of zeros"
        rows.append((label, *report(str(gz))))
        crlf = d / "crlf.bin"
        crlf.write_bytes(b"\r\n" * (8 * MiB))
        rows.append(("--com1: 16 MiB of CRLF", *report("--com1", str(crlf))))
        for mb in (17.3, 18.9):
            hostile = d / f"h{mb}.bin"
            hdr = build_header(MsgType.STDOUT, 16 * MiB, 0x12345678)
            hostile.write_bytes(hdr * (int(mb * 1e6) // 16))
            base = report("--bulk", str(hostile), "--profile", "ktstr-0.15")
            scan = report("--bulk", str(hostile), "--profile", "ktstr-0.44")
            rows.append((f"{mb} MB of 16 MiB headers, ktstr-0.15", *base))
            rows.append((f"{mb} MB of 16 MiB headers, ktstr-0.44", *scan))
            rows.append((f"  ktstr-0.44 / ktstr-0.15 CPU ratio: {scan[1] / base[1]:.1f}", 0, 0))
    print(f"{'case':<58} {'peak RSS MiB':>12} {'CPU s':>7}")
    for name, rss, cpu in rows:
        print(f"{name:<58} {rss:>12.0f} {cpu:>7.2f}" if rss else name)


if __name__ == "__main__":
    main()
