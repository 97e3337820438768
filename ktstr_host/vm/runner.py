"""Boot a kernel + initramfs under QEMU and record every guest channel (serial.md §1, bulk.md §1).

Channel wiring (x86_64 ``pc`` machine):

========  ===============================  ==========================================
channel   guest device                     QEMU back end (host side)
========  ===============================  ==========================================
com1      ttyS0, 16550 at 0x3F8            ``-chardev file`` -> ``<run_dir>/com1.out``
com2      ttyS1, 16550 at 0x2F8            ``-chardev file`` -> ``<run_dir>/com2.out``
hvc0      virtconsole nr=0 ktstr-console   ``-chardev socket`` (QEMU connects to our
                                           listening unix socket; both directions)
bulk      virtserialport nr=1 ktstr-bulk   ``-chardev file`` -> ``<run_dir>/bulk.out``
          (``/dev/vport0p1``)
stats     virtserialport nr=2 ktstr-stats  ``-chardev file`` -> ``<run_dir>/stats.out``
========  ===============================  ==========================================

Guest-to-host channels go to regular files on purpose: QEMU writes to a socket chardev
without blocking, and when the reader falls behind a virtio-serial port is throttled with the
rest of the data still in the guest's ring, where it is lost if the guest powers off then
(measured: 4 MiB written, 229376 bytes delivered with a reader doing 4 KiB per 2 ms). A write
to a regular file always completes, so the files hold every byte. The runner tails them every
``poll_interval_s`` and timestamps each new chunk with :func:`time.monotonic`, so chunk times
are accurate to about that interval.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

from ktstr_guest.initramfs import FATAL_MARKER
from ktstr_proto.channels import BULK, COM1, CONSOLE_PORT, HVC0, STATS, qemu_order
from ktstr_proto.errors import KtstrError, UsageError

Direction: TypeAlias = Literal["g2h", "h2g"]
_WIRING = qemu_order()
CHANNELS: tuple[str, ...] = tuple(c.name for c in _WIRING)
"""Every channel, in QEMU's wiring order."""
FILE_CHANNELS = tuple(c.name for c in _WIRING if c.virtio_port != CONSOLE_PORT)
"""Guest-to-host channels captured through a file (all but the console, a socket)."""
SIGNAL_VC_DUMP = 0xD1
DEFAULT_QEMU = "qemu-system-x86_64"


class VmError(KtstrError):
    """A VM run could not be set up or did not end as expected."""


class QemuNotFoundError(VmError):
    """No QEMU binary."""


class KernelNotFoundError(VmError):
    """No usable kernel image."""


class QemuError(VmError):
    """QEMU exited with a non-zero status (bad arguments, missing files, ...)."""

    def __init__(self, message: str, run: VmRun) -> None:
        super().__init__(message)
        self.run = run


class VmTimeoutError(VmError):
    """The guest did not power off in time; QEMU was killed. ``run`` holds what arrived."""

    def __init__(self, message: str, run: VmRun) -> None:
        super().__init__(message)
        self.run = run


class GuestInitError(VmError):
    """The guest's /init reported a FATAL line on COM1 (see ktstr_guest.initramfs)."""

    def __init__(self, message: str, run: VmRun) -> None:
        super().__init__(message)
        self.run = run


# --------------------------------------------------------------------------- discovery


def find_qemu(binary: str = DEFAULT_QEMU) -> Path:
    """The QEMU system emulator on PATH."""
    found = shutil.which(binary)
    if found is None:
        raise QemuNotFoundError(
            f"{binary} not found on PATH; install it (Debian: apt-get install qemu-system-x86)"
        )
    return Path(found)


@dataclass(frozen=True, slots=True)
class Kernel:
    """A bootable kernel image and its module tree (``None`` if not installed)."""

    image: Path
    version: str
    modules_dir: Path | None


def _version_key(version: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", version) if p]


def find_kernel(
    boot_dir: Path = Path("/boot"), modules_root: Path = Path("/lib/modules")
) -> Kernel:
    """The newest ``vmlinuz-*cloud*`` in ``boot_dir``, else the newest ``vmlinuz-*``."""
    images = sorted(boot_dir.glob("vmlinuz-*"))
    cloud = [p for p in images if "cloud" in p.name]
    pool = cloud or images
    if not pool:
        raise KernelNotFoundError(
            f"no {boot_dir}/vmlinuz-* kernel (Debian: apt-get install linux-image-cloud-amd64)"
        )
    image = max(pool, key=lambda p: _version_key(p.name.removeprefix("vmlinuz-")))
    if not os.access(image, os.R_OK):
        raise KernelNotFoundError(f"{image} is not readable by this user (try as root)")
    version = image.name.removeprefix("vmlinuz-")
    mods = modules_root / version
    return Kernel(image, version, mods if mods.is_dir() else None)


# --------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class VmConfig:
    """What to boot and how. ``initramfs`` is a path or the archive bytes."""

    kernel: Path
    initramfs: Path | bytes
    memory_mib: int = 256
    cpus: int = 1
    accel: str = "tcg"
    timeout_s: float = 60.0
    cmdline_extra: tuple[str, ...] = ()
    kernel_verbose: bool = False
    stats_port: bool = True
    qemu: Path | None = None
    poll_interval_s: float = 0.005
    stall_warning_s: float = 5.0
    """Under ``kvm``: how long without any guest output before ``on_stall`` is called."""

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.poll_interval_s <= 0:
            raise UsageError("timeout_s and poll_interval_s must be positive")
        if self.memory_mib < 64 or self.cpus < 1:
            raise UsageError("memory_mib must be >= 64 and cpus >= 1")


def kernel_cmdline(config: VmConfig) -> str:
    """Kernel command line: quiet COM1 (``loglevel=0``) unless ``kernel_verbose``.

    ``quiet`` is not used: placed after ``loglevel=0`` it raises the level back to 4 and
    "reboot: Power down" reaches COM1.
    """
    level = "earlyprintk=serial loglevel=7" if config.kernel_verbose else "loglevel=0"
    parts = ["console=ttyS0", "rdinit=/init", "panic=-1", "mitigations=off"]
    parts += ["printk.devkmsg=on", level]
    return " ".join([*parts, *config.cmdline_extra])


def qemu_command(
    config: VmConfig, qemu: Path, run_dir: Path, initramfs: Path, hvc0_socket: Path
) -> list[str]:
    """The full QEMU argv. ``-display none`` rather than ``-nographic``: the latter turns on
    SeaBIOS's serial console, which writes its banner and escape codes to COM1."""
    cmd = [str(qemu), "-accel", config.accel, "-m", str(config.memory_mib)]
    cmd += ["-smp", str(config.cpus), "-display", "none", "-vga", "none", "-nodefaults"]
    cmd += ["-no-user-config", "-no-reboot"]
    cmd += ["-kernel", str(config.kernel), "-initrd", str(initramfs)]
    cmd += ["-append", kernel_cmdline(config)]
    for c in _WIRING:
        if c.uart is not None:
            cmd += ["-chardev", f"file,id={c.name},path={run_dir / (c.name + '.out')}"]
            cmd += ["-serial", f"chardev:{c.name}"]
    cmd += ["-device", "virtio-serial-pci,id=vser0"]
    for c in _WIRING:
        if c.virtio_port == CONSOLE_PORT:
            cmd += ["-chardev", f"socket,id={c.name},path={hvc0_socket}"]
            device = "virtconsole"
        elif c.virtio_port is not None and (c.name != STATS or config.stats_port):
            cmd += ["-chardev", f"file,id={c.name},path={run_dir / (c.name + '.out')}"]
            device = "virtserialport"
        else:
            continue
        cmd += [
            "-device",
            f"{device},bus=vser0.0,nr={c.virtio_port},chardev={c.name},name={c.port_name}",
        ]
    return cmd


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class HostWake:
    """Send ``byte`` on hvc0 once ``at_s`` seconds have passed since QEMU started and/or
    ``channel`` (guest to host) has delivered at least ``after_bytes`` bytes; with neither
    condition, as soon as QEMU has connected hvc0.

    A byte that reaches the guest before its hvc0 reader switched the tty to raw mode is
    echoed back once by the tty layer (it shows up as hvc0 guest-to-host data); the guest
    still sees it.
    """

    byte: int
    at_s: float | None = None
    after_bytes: int | None = None
    channel: str = BULK

    def __post_init__(self) -> None:
        if not 0 <= self.byte <= 0xFF:
            raise UsageError(f"a wake byte is in 0..255, got {self.byte}")
        if self.channel not in CHANNELS:
            raise UsageError(f"unknown channel {self.channel!r}")


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes seen on a channel: ``t`` is :func:`time.monotonic` when they were read/sent."""

    t: float
    direction: Direction
    data: bytes


@dataclass(slots=True)
class VmRun:
    """Everything a run produced."""

    command: list[str]
    started_at: float
    ended_at: float = 0.0
    exit_status: int | None = None
    timed_out: bool = False
    killed: str | None = None
    """Why the host killed QEMU before the guest powered off (e.g. ``scheduler-exit``)."""
    interrupted: str | None = None
    """Why the run was stopped early (e.g. ``SIGTERM``); QEMU was killed then."""
    qemu_output: str = ""
    channels: dict[str, list[Chunk]] = field(default_factory=lambda: {c: [] for c in CHANNELS})

    def data(self, channel: str, direction: Direction = "g2h") -> bytes:
        """All bytes of one channel and direction, in order."""
        return b"".join(c.data for c in self.channels[channel] if c.direction == direction)

    def first_byte_s(self, channel: str, direction: Direction = "g2h") -> float | None:
        """Seconds from QEMU start to the first chunk on ``channel``."""
        for c in self.channels[channel]:
            if c.direction == direction:
                return c.t - self.started_at
        return None

    @property
    def boot_to_first_bulk_s(self) -> float | None:
        """Seconds from QEMU start to the first bulk byte."""
        return self.first_byte_s(BULK)

    @property
    def total_s(self) -> float:
        """Seconds from QEMU start to its exit (or kill)."""
        return self.ended_at - self.started_at

    @property
    def guest_fatal(self) -> str | None:
        """The guest /init's FATAL message on COM1, if any."""
        com1 = self.data(COM1)
        at = com1.find(FATAL_MARKER)
        if at < 0:
            return None
        line = com1[at + len(FATAL_MARKER) :].split(b"\n", 1)[0]
        return line.rstrip(b"\r").decode("utf-8", "replace")


# --------------------------------------------------------------------------- runner


class _Session:
    """One QEMU process and the capture of its channels."""

    def __init__(
        self,
        config: VmConfig,
        run_dir: Path,
        sock_path: Path,
        wakes: Sequence[HostWake],
        on_chunk: Callable[[str, Chunk], None] | None = None,
        *,
        kill_on: Callable[[str, Chunk], str | None] | None = None,
        stop: Callable[[], str | None] | None = None,
        on_stall: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self.on_chunk = on_chunk
        self.kill_on = kill_on
        self.stop = stop
        self.on_stall = on_stall if config.accel == "kvm" else None
        self.wakes = list(wakes)
        self.fds: dict[str, int] = {}
        for name in FILE_CHANNELS:
            path = run_dir / f"{name}.out"
            path.touch()
            self.fds[name] = os.open(path, os.O_RDONLY)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(sock_path))
        self.listener.listen(1)
        self.listener.setblocking(False)
        self.conn: socket.socket | None = None
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.received = dict.fromkeys(CHANNELS, 0)
        self.run: VmRun | None = None

    def close(self) -> None:
        self.sel.close()
        for fd in self.fds.values():
            os.close(fd)
        self.listener.close()
        if self.conn is not None:
            self.conn.close()

    def _add(self, channel: str, direction: Direction, data: bytes) -> None:
        assert self.run is not None
        chunk = Chunk(time.monotonic(), direction, data)
        self.run.channels[channel].append(chunk)
        if self.on_chunk is not None:
            self.on_chunk(channel, chunk)
        if self.kill_on is not None and self.run.killed is None:
            self.run.killed = self.kill_on(channel, chunk)
        if direction == "g2h":
            self.received[channel] += len(data)

    def tail(self) -> None:
        for name, fd in self.fds.items():
            while data := os.read(fd, 1 << 20):
                self._add(name, "g2h", data)

    def _hvc0_events(self, timeout: float) -> None:
        for key, _ in self.sel.select(timeout):
            if key.fileobj is self.listener:
                self.conn, _ = self.listener.accept()
                self.conn.setblocking(False)
                self.sel.unregister(self.listener)
                self.sel.register(self.conn, selectors.EVENT_READ)
            elif self.conn is not None:
                self._recv_hvc0()

    def _recv_hvc0(self) -> None:
        assert self.conn is not None
        try:
            data = self.conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:  # QEMU went away (reset by peer): treat as end of hvc0
            data = b""
        if data:
            self._add(HVC0, "g2h", data)
        else:
            self.sel.unregister(self.conn)

    def _send_due_wakes(self, now: float) -> None:
        assert self.run is not None
        if self.conn is None:
            return
        for wake in list(self.wakes):
            if wake.at_s is not None and now - self.run.started_at < wake.at_s:
                continue
            if wake.after_bytes is not None and self.received[wake.channel] < wake.after_bytes:
                continue
            try:
                if self.conn.send(bytes([wake.byte])) != 1:
                    return
            except BlockingIOError:
                return
            except OSError:  # QEMU went away: nobody to wake any more
                self.wakes.clear()
                return
            self._add(HVC0, "h2g", bytes([wake.byte]))
            self.wakes.remove(wake)

    def play(self, cmd: list[str], log: Path) -> VmRun:
        with log.open("wb") as out:
            try:  # its own session: a terminal's Ctrl-C reaches us, and we end its group
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
                )
            except OSError as exc:
                raise QemuNotFoundError(f"cannot start {cmd[0]}: {exc}") from exc
        self.run = run = VmRun(cmd, time.monotonic())
        deadline = run.started_at + self.config.timeout_s
        stall_at = run.started_at + self.config.stall_warning_s
        try:
            while proc.poll() is None:
                self._hvc0_events(self.config.poll_interval_s)
                self.tail()
                now = time.monotonic()
                self._send_due_wakes(now)
                if run.killed is not None:
                    break
                reason = self.stop() if self.stop is not None else None
                if reason is not None:
                    run.interrupted = reason
                    break
                if now >= deadline and proc.poll() is None:
                    run.timed_out = True
                    break
                if self.on_stall is not None and now >= stall_at:
                    if not any(self.received.values()):
                        self.on_stall(now - run.started_at)
                    self.on_stall = None
        finally:
            _kill_group(proc)
            run.exit_status = proc.wait()
            run.ended_at = time.monotonic()
        self.tail()
        if self.conn is not None:  # QEMU is gone: read what it left, up to EOF
            self.conn.settimeout(5.0)
            try:
                while data := self.conn.recv(65536):
                    self._add(HVC0, "g2h", data)
            except OSError:
                pass
        run.qemu_output = log.read_text(errors="replace")
        return run


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL QEMU's process group (QEMU and anything it started), then QEMU itself."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group id is QEMU's pid (own session)
    if proc.poll() is None:
        proc.kill()


def run_vm(
    config: VmConfig,
    *,
    wakes: Iterable[HostWake] = (),
    request_dump_at: float | None = None,
    check: bool = True,
    run_dir: Path | None = None,
    on_chunk: Callable[[str, Chunk], None] | None = None,
    kill_on: Callable[[str, Chunk], str | None] | None = None,
    stop: Callable[[], str | None] | None = None,
    on_stall: Callable[[float], None] | None = None,
) -> VmRun:
    """Boot the VM, record every channel until QEMU exits or ``timeout_s`` passes.

    ``request_dump_at`` (seconds after start) queues a 0xD1 wake byte on hvc0. With
    ``check`` (the default) a timeout raises :class:`VmTimeoutError`, a non-zero QEMU exit
    :class:`QemuError` and a guest FATAL line :class:`GuestInitError`; each carries the
    :class:`VmRun`. ``run_dir`` keeps the channel files there instead of a temporary directory.
    ``on_chunk(channel, chunk)`` sees every chunk as it is captured (live decoding);
    when ``kill_on(channel, chunk)`` returns a reason, the host kills QEMU at once, as
    upstream's host does on a scheduler exit, and records the reason in ``VmRun.killed``.
    ``stop()`` is polled: when it returns a reason, QEMU's process group is killed and the
    run ends with :attr:`VmRun.interrupted` set. Under ``kvm``, ``on_stall(seconds)`` is
    called once if the guest wrote nothing within ``config.stall_warning_s``.
    """
    qemu = config.qemu if config.qemu is not None else find_qemu()
    if not os.access(config.kernel, os.R_OK):
        raise KernelNotFoundError(f"kernel image {config.kernel} is missing or unreadable")
    schedule = list(wakes)
    if request_dump_at is not None:
        schedule.append(HostWake(SIGNAL_VC_DUMP, at_s=request_dump_at))
    with tempfile.TemporaryDirectory(prefix="ktstr-vm-") as tmp:
        where = Path(tmp) if run_dir is None else run_dir
        where.mkdir(parents=True, exist_ok=True)
        if isinstance(config.initramfs, bytes):
            initramfs = where / "initramfs.cpio"
            initramfs.write_bytes(config.initramfs)
        else:
            initramfs = config.initramfs
        sock = Path(tmp) / "hvc0.sock"
        session = _Session(
            config, where, sock, schedule, on_chunk, kill_on=kill_on, stop=stop, on_stall=on_stall
        )
        try:
            cmd = qemu_command(config, qemu, where, initramfs, sock)
            run = session.play(cmd, where / "qemu.log")
        finally:
            session.close()
    if check:
        _check(run, config)
    return run


def _check(run: VmRun, config: VmConfig) -> None:
    if run.interrupted is not None:
        raise VmError(f"the run was interrupted ({run.interrupted}); QEMU was killed")
    if run.timed_out:
        raise VmTimeoutError(
            f"guest did not power off within {config.timeout_s} s; QEMU was killed", run
        )
    if run.exit_status != 0 and run.killed is None:
        raise QemuError(
            f"QEMU exited with status {run.exit_status}: {run.qemu_output.strip()[-2000:]}", run
        )
    fatal = run.guest_fatal
    if fatal is not None:
        raise GuestInitError(f"guest /init failed: {fatal}", run)
