"""Run ``ktstr-host ARGS...`` and print its peak RSS in KiB (``VmHWM``) on the last line
of standard error. ``wait4``'s ``ru_maxrss`` would include the parent's memory from
before ``exec``; ``VmHWM`` belongs to this process's own address space."""

from __future__ import annotations

import sys
from pathlib import Path

from ktstr_host.cli import main


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.write(f"peak-rss-kib {peak_rss_kib()}\n")
    sys.exit(status)
