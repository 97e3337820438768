"""The real-scheduler guest: its shell frame builder against the Python one, its /init."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_guest.scx_guest import SCX_RUNS, SEND_FRAME, render_scx_init, run_frames
from ktstr_proto.frame import build_frame
from ktstr_proto.tags import MsgType

BUSYBOX = shutil.which("busybox")
needs_busybox = pytest.mark.skipif(
    BUSYBOX is None and not os.environ.get("CI"), reason="busybox not installed"
)


def _shell(tmp_path: Path, script: str) -> bytes:
    assert BUSYBOX is not None, "busybox is required in CI"
    out = tmp_path / "bulk.out"
    env = {"PATH": os.environ["PATH"], "BULK": str(out)}
    # /tmp scratch files of the guest functions go to tmp_path via the sed below
    body = SEND_FRAME.replace("/tmp/", f"{tmp_path}/")
    subprocess.run([BUSYBOX, "sh", "-c", body + script], check=True, env=env, cwd=tmp_path)
    return out.read_bytes()


@needs_busybox
@pytest.mark.parametrize("payload", [b"", b"\x00\xff\n", b"scx_qmap: EXIT: x\n" * 300])
def test_send_frame_matches_build_frame(tmp_path: Path, payload: bytes) -> None:
    (tmp_path / "p.bin").write_bytes(payload)
    got = _shell(tmp_path, f"send_frame {int(MsgType.SCHED_LOG)} p.bin")
    assert got == build_frame(MsgType.SCHED_LOG, payload)


@needs_busybox
def test_send_stream_chunks_like_the_writer(tmp_path: Path) -> None:
    log = bytes(range(256)) * 5  # 1280 bytes -> chunks of 512, 512, 256
    (tmp_path / "log").write_bytes(log)
    got = _shell(tmp_path, f"send_stream {int(MsgType.SCHED_LOG)} log 512")
    want = b"".join(build_frame(MsgType.SCHED_LOG, log[i : i + 512]) for i in (0, 512, 1024))
    assert got == want


@needs_busybox
def test_scdx_exit_status_frame(tmp_path: Path) -> None:
    got = _shell(tmp_path, f"le32 137 >scdx.bin; send_frame {int(MsgType.SCHED_EXIT)} scdx.bin")
    assert got == GuestBulkWriter("ktstr-0.15").sched_exit(137)


def test_log_markers_split_the_writers_sched_log() -> None:
    f = run_frames(SCX_RUNS["sysrq-dump"])
    assert f.log_start + f.log_end == GuestBulkWriter("ktstr-0.15").sched_log(b"")
    assert b"===SCHED_OUTPUT_START===" in f.log_start
    assert b"===SCHED_OUTPUT_END===" in f.log_end


def test_init_writes_capital_d_to_sysrq_trigger() -> None:
    init = render_scx_init(SCX_RUNS["sysrq-dump"])
    assert "echo D >/proc/sysrq-trigger" in init  # lower-case d is another SysRq action
    assert "wait_wake d1 " in init
    error = render_scx_init(SCX_RUNS["scheduler-error"])
    assert "/scheduler -e 2000 " in error
    assert "sysrq-trigger" not in error


def test_init_powers_off_by_reset() -> None:
    init = render_scx_init(SCX_RUNS["scheduler-stall"])
    assert "poweroff() { reboot -f; }" in init
    assert init.index("poweroff() {") < init.index("/scheduler -t 100")
