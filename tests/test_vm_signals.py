"""`vm run` under SIGTERM, SIGINT and SIGHUP: QEMU's process group is killed, the temp
files are removed, the transcript of what was captured validates, exit is 128+signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ktstr_host.cli import main
from ktstr_host.transcripts.io import read_transcript

from .vm_support import vm_env

VM_RUN = [sys.executable, "-m", "ktstr_host.cli", "vm", "run"]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_vm_run_stops_on_signal(tmp_path: Path, signame: str) -> None:
    vm_env()
    sig = signal.Signals[signame]
    out = tmp_path / "run.jsonl"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(
        [*VM_RUN, "host-timeout", "--timeout", "300", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # live lines: the guest is up and writing
        seen.append(line)
        if " bulk " in line:
            break
    qemu = [p for p in _children(proc.pid) if "qemu" in Path(f"/proc/{p}/comm").read_text()]
    assert qemu, "".join(seen)
    proc.send_signal(sig)
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert not any(_alive(p) for p in qemu)
    assert list(scratch.iterdir()) == []  # the run's temp dir is gone
    assert main(["validate", "--strict", str(out)]) == 0
    t = read_transcript(out)
    mark = t.mark("interrupted")
    assert mark is not None and mark.data == {"signal": signame}
    assert t.channel_bytes("bulk")  # what was captured is there
    assert "FAILED" in stdout or "fail" in stdout.lower()
