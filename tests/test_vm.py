"""Real-VM plumbing: newc cpio writer, guest-script initramfs, QEMU runner.

Tests marked ``vm`` boot the Debian cloud kernel under QEMU (TCG). Without QEMU, a kernel or a
static busybox they are skipped, except under ``CI`` where they fail.
"""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from ktstr_guest.cpio import HEADER_SIZE, CpioWriter
from ktstr_guest.initramfs import (
    FATAL_MARKER,
    BusyboxError,
    DieMidFrame,
    GuestScript,
    Hang,
    KernelModulesError,
    OnWake,
    PowerOff,
    Sleep,
    WaitWake,
    Write,
    build_initramfs,
    find_busybox,
    module_bytes,
    render_init,
    resolve_modules,
)
from ktstr_host.vm.runner import (
    SIGNAL_VC_DUMP,
    GuestInitError,
    HostWake,
    Kernel,
    KernelNotFoundError,
    QemuNotFoundError,
    VmConfig,
    VmRun,
    VmTimeoutError,
    find_kernel,
    find_qemu,
    kernel_cmdline,
    run_vm,
)
from ktstr_proto.errors import KtstrError, UsageError
from ktstr_proto.frame import build_frame
from ktstr_proto.tags import MsgType

from . import vm_support
from .vm_support import VmEnv, unavailable

# --------------------------------------------------------------------------- cpio


def _sample_archive(with_device: bool) -> bytes:
    w = CpioWriter()
    w.add_dir("etc", 0o750)
    w.add_file("etc/motd", b"hello\n", 0o640)
    w.add_file("bin/tool", b"\x7fELF" + bytes(range(256)), 0o755)
    w.add_file("empty", b"")
    w.add_symlink("bin/link", "tool")
    if with_device:
        w.add_device("dev/console", "c", 5, 1)
    return w.to_bytes()


def _cpio() -> str:
    found = shutil.which("cpio")
    if found is None:
        unavailable("the system `cpio` program is not installed")
    assert found is not None
    return found


def test_cpio_listing_with_system_cpio() -> None:
    archive = _sample_archive(with_device=True)
    listed = subprocess.run(
        [_cpio(), "-t", "--quiet"], input=archive, capture_output=True, check=True
    )
    assert listed.stdout.decode().splitlines() == [
        "etc",
        "etc/motd",
        "bin",
        "bin/tool",
        "empty",
        "bin/link",
        "dev",
        "dev/console",
    ]
    verbose = subprocess.run(
        [_cpio(), "-tv", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    lines = {}
    for line in verbose.splitlines():
        name = line.split(" -> ")[0].split()[-1]
        lines[name] = line
    assert lines["etc"].startswith("drwxr-x---")
    assert lines["etc/motd"].startswith("-rw-r-----")
    assert lines["bin/tool"].startswith("-rwxr-xr-x")
    assert lines["dev/console"].startswith("crw-------")
    assert "5,   1" in lines["dev/console"]
    assert lines["bin/link"].startswith("lrwxrwxrwx") and lines["bin/link"].endswith("-> tool")


def test_cpio_extracts_with_system_cpio(tmp_path: Path) -> None:
    subprocess.run(
        [_cpio(), "-idm", "--quiet", "--no-absolute-filenames"],
        input=_sample_archive(with_device=False),
        cwd=tmp_path,
        check=True,
    )
    assert (tmp_path / "etc/motd").read_bytes() == b"hello\n"
    assert (tmp_path / "bin/tool").read_bytes() == b"\x7fELF" + bytes(range(256))
    assert (tmp_path / "empty").read_bytes() == b""
    assert stat.S_IMODE((tmp_path / "bin/tool").stat().st_mode) == 0o755
    assert os.readlink(tmp_path / "bin/link") == "tool"


def test_cpio_is_deterministic_and_aligned() -> None:
    a, b = _sample_archive(True), _sample_archive(True)
    assert a == b
    assert len(a) % 4 == 0
    assert a.startswith(b"070701")
    trailer = a.rfind(b"070701")
    assert a[trailer + HEADER_SIZE : trailer + HEADER_SIZE + 11] == b"TRAILER!!!\0"
    assert a[6 + 8 * 5 : 6 + 8 * 6] == b"00000000"  # mtime field of the first entry


def test_cpio_rejects_bad_input() -> None:
    w = CpioWriter()
    w.add_file("a", b"")
    with pytest.raises(UsageError, match="duplicate"):
        w.add_file("/a", b"")
    for bad in ("", "/", "../x", "a/../b"):
        with pytest.raises(UsageError):
            w.add_dir(bad)
    with pytest.raises(UsageError):
        w.add_device("dev/x", "p", 1, 1)
    with pytest.raises(UsageError):
        w.add_symlink("l", "")


# --------------------------------------------------------------------------- initramfs


def _fake_modules(tmp_path: Path, *, with_console: bool = True) -> Path:
    root = tmp_path / "6.0.0-test"
    vdir = root / "kernel/drivers/virtio"
    vdir.mkdir(parents=True)
    (vdir / "virtio_ring.ko").write_bytes(b"ring")
    (vdir / "virtio.ko.xz").write_bytes(lzma.compress(b"virtio-elf"))
    (vdir / "virtio_pci.ko").write_bytes(b"pci")
    dep = [
        "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko.xz "
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio_ring.ko:",
    ]
    if with_console:
        cdir = root / "kernel/drivers/char"
        cdir.mkdir(parents=True)
        (cdir / "virtio_console.ko").write_bytes(b"console")
        dep.append("kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko.xz")
    (root / "modules.dep").write_text("\n".join(dep) + "\n")
    (root / "modules.builtin").write_text("kernel/drivers/virtio/virtio_anchor.ko\n")
    return root


def test_resolve_modules_dependency_order_and_decompression(tmp_path: Path) -> None:
    root = _fake_modules(tmp_path)
    mods = resolve_modules(root, ("virtio_pci", "virtio_console", "virtio_anchor"))
    assert [m.name for m in mods] == ["virtio_ring", "virtio", "virtio_pci", "virtio_console"]
    assert module_bytes(mods[1].path) == b"virtio-elf"
    assert module_bytes(mods[0].path) == b"ring"


def test_resolve_modules_reports_missing_driver(tmp_path: Path) -> None:
    root = _fake_modules(tmp_path, with_console=False)
    with pytest.raises(KernelModulesError, match="lacks virtio_console"):
        resolve_modules(root)
    with pytest.raises(KernelModulesError, match=r"modules\.dep"):
        resolve_modules(tmp_path / "nowhere")


def test_busybox_must_be_static(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(BusyboxError):
        find_busybox((str(fake),))


def test_steps_validate() -> None:
    with pytest.raises(UsageError):
        Write("com3", b"x")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        WaitWake(256)
    with pytest.raises(UsageError):
        WaitWake(0xD1, timeout_s=0)
    with pytest.raises(UsageError):
        DieMidFrame(b"abc", keep=3)
    with pytest.raises(UsageError):
        PowerOff("halt")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        GuestScript(("not a step",))  # type: ignore[arg-type]


def test_rendered_init_is_valid_shell() -> None:
    script = GuestScript(
        (
            Write("bulk", b"\0\1"),
            Write("com1", b"a\n"),
            Sleep(0.25),
            OnWake(0xBF, (Write("com2", b"bg\n"),)),
            WaitWake(0xD1, timeout_s=5),
            Write("stats", b"s"),
            DieMidFrame(b"0123456789", keep=4, method="reboot"),
            Hang(),
        )
    )
    init, files = render_init(script, ["lib/ktstr-modules/00-virtio.ko"])
    assert [data for _, data in files] == [b"\0\1", b"a\n", b"bg\n", b"s", b"0123"]
    assert "wait_wake d1 500" in init and "sleep 0.25" in init and "reboot -f" in init
    assert init.index('BULK="$(wait_port ktstr-bulk)"') < init.index("cat /ktstr/data/0000.bin")
    shell = shutil.which("sh") or "/bin/sh"
    if not Path(shell).exists():
        unavailable("no POSIX sh to syntax-check /init with")
    subprocess.run([shell, "-n"], input=init.encode(), check=True)


# --------------------------------------------------------------------------- discovery


def test_missing_qemu_gives_specific_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(QemuNotFoundError, match="qemu-system-x86_64 not found"):
        find_qemu()
    config = VmConfig(kernel=tmp_path / "vmlinuz", initramfs=b"")
    with pytest.raises(QemuNotFoundError) as info:
        run_vm(config)
    assert isinstance(info.value, KtstrError)


def test_find_kernel_prefers_newest_cloud(tmp_path: Path) -> None:
    boot, mods = tmp_path / "boot", tmp_path / "modules"
    boot.mkdir()
    for name in ("6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64", "6.9.0-1-amd64"):
        (boot / f"vmlinuz-{name}").write_bytes(b"k")
    (mods / "6.1.0-10-cloud-amd64").mkdir(parents=True)
    assert find_kernel(boot, mods) == Kernel(
        boot / "vmlinuz-6.1.0-10-cloud-amd64", "6.1.0-10-cloud-amd64", mods / "6.1.0-10-cloud-amd64"
    )
    for p in boot.glob("*cloud*"):
        p.unlink()
    assert find_kernel(boot, mods).modules_dir is None
    for p in boot.iterdir():
        p.unlink()
    with pytest.raises(KernelNotFoundError):
        find_kernel(boot, mods)


def test_cmdline_quiet_by_default() -> None:
    config = VmConfig(kernel=Path("k"), initramfs=b"", cmdline_extra=("foo=1",))
    line = kernel_cmdline(config)
    assert "console=ttyS0" in line and "loglevel=0" in line and line.endswith("foo=1")
    assert "quiet" not in line


# --------------------------------------------------------------------------- real VM


@pytest.fixture(scope="module")
def vm_env() -> VmEnv:
    return vm_support.vm_env()


def _boot(
    env: VmEnv, script: GuestScript, timeout_s: float = 120.0, wakes: Sequence[HostWake] = ()
) -> VmRun:
    initramfs = build_initramfs(script, env.kernel.modules_dir, busybox=env.busybox)
    config = VmConfig(kernel=env.kernel.image, initramfs=initramfs, timeout_s=timeout_s)
    run = run_vm(config, wakes=wakes)
    print(
        f"\nboot-to-first-bulk {run.boot_to_first_bulk_s} s, total {run.total_s:.2f} s, "
        f"exit {run.exit_status}"
    )
    return run


def _frames() -> list[bytes]:
    return [
        build_frame(MsgType.LIFECYCLE, b"\x01\x00\x00\x00"),
        build_frame(MsgType.STDOUT, bytes(range(256)) * 280),  # 71680 B > 64 KiB
        build_frame(MsgType.STDERR, b"line one\nline two\r\n\x00\xff"),
        build_frame(MsgType.RAW_PAYLOAD_OUTPUT, os.urandom(1 << 20)),
        build_frame(MsgType.EXIT, b"\x00\x00\x00\x00"),
    ]


@pytest.mark.vm
def test_vm_records_every_channel(vm_env: VmEnv) -> None:
    frames = _frames()
    script = GuestScript(
        (
            Write("bulk", frames[0]),
            Write("com1", b"first line\nsecond\n"),
            Write("bulk", frames[1] + frames[2]),
            Write("com2", b"com2 text\n"),
            Write("bulk", frames[3]),
            Write("com2", b"two\n"),
            OnWake(0xBF, (Write("com2", b"background\n"),)),
            Write("bulk", frames[4]),
            WaitWake(SIGNAL_VC_DUMP, timeout_s=60),
            Write("com1", b"woke\n"),
        )
    )
    com2 = b"com2 text\r\ntwo\r\nbackground\r\n"
    wakes = [
        # after the last bulk byte; then the handler's COM2 line releases the dump request
        HostWake(0xBF, after_bytes=sum(map(len, frames))),
        HostWake(SIGNAL_VC_DUMP, after_bytes=len(com2), channel="com2"),
    ]
    run = _boot(vm_env, script, wakes=wakes)

    assert run.exit_status == 0 and not run.timed_out
    assert run.data("bulk") == b"".join(frames)
    assert run.data("com1") == b"first line\r\nsecond\r\nwoke\r\n"
    assert run.data("com2") == com2
    assert run.data("hvc0", "h2g") == b"\xbf\xd1"
    assert run.data("hvc0") == b""  # no echo: the guest put hvc0 in raw -echo mode first
    assert run.data("stats") == b""
    # The wake-triggered write happened after the host sent the byte.
    # Each wake-triggered write happened after the host sent its byte.
    sent = {c.data: c.t for c in run.channels["hvc0"] if c.direction == "h2g"}
    com1_before = b"".join(c.data for c in run.channels["com1"] if c.t <= sent[b"\xd1"])
    com2_before = b"".join(c.data for c in run.channels["com2"] if c.t <= sent[b"\xbf"])
    assert b"woke" not in com1_before
    assert b"background" not in com2_before
    assert run.boot_to_first_bulk_s is not None and run.boot_to_first_bulk_s < run.total_s


@pytest.mark.vm
def test_vm_guest_that_never_powers_off_times_out(vm_env: VmEnv) -> None:
    frame = build_frame(MsgType.LIFECYCLE, b"\x02\x00\x00\x00")
    script = GuestScript((Write("bulk", frame), Hang()))
    with pytest.raises(VmTimeoutError, match="did not power off within 20") as info:
        _boot(vm_env, script, timeout_s=20)
    run = info.value.run
    assert run.timed_out and run.exit_status != 0
    assert run.data("bulk") == frame


@pytest.mark.vm
def test_vm_guest_dying_mid_frame_leaves_the_partial_bytes(vm_env: VmEnv) -> None:
    whole = build_frame(MsgType.SCENARIO_START, b"")
    cut = build_frame(MsgType.TEST_RESULT, bytes(range(200)))
    script = GuestScript(
        (Write("bulk", whole), DieMidFrame(cut, keep=23, method="reboot"), Write("com1", b"x"))
    )
    run = _boot(vm_env, script)
    assert run.exit_status == 0
    assert run.data("bulk") == whole + cut[:23]
    assert run.data("com1") == b""


@pytest.mark.vm
def test_vm_guest_fatal_is_reported(vm_env: VmEnv) -> None:
    script = GuestScript((WaitWake(0xAC, timeout_s=1),))
    with pytest.raises(GuestInitError, match="no wake byte 0xac within 1 s") as info:
        _boot(vm_env, script)
    assert info.value.run.data("com1").startswith(FATAL_MARKER)
