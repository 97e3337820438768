"""Build an initramfs whose /init (busybox sh) plays a fixed "guest script" (serial.md §1, §5).

The archive holds a static busybox, the virtio kernel modules the chosen kernel needs (resolved
from its ``modules.dep``, dependencies first, decompressed on the host), one data file per
:class:`Write` and the generated ``/init``. At boot /init mounts proc, sysfs and devtmpfs, moves
its own stdio off the console (to ``/dev/kmsg``, so COM1 only carries what the script writes and
every serial write's close is the last one, which drains the UART), loads the modules, waits for
the virtio ports it needs by name (``ktstr-bulk`` is ``/dev/vport0p1`` under QEMU), plays the
steps and powers off. Serial ttys keep their default termios, so the kernel turns LF into CR LF.

If something goes wrong inside the guest, /init writes one line starting with
:data:`FATAL_MARKER` to COM1 and powers off.
"""

from __future__ import annotations

import gzip
import lzma
import shlex
import shutil
import struct
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

from ktstr_proto.channels import BULK, BY_NAME, CHANNELS, HVC0, ChannelName
from ktstr_proto.errors import KtstrError, UsageError

from .cpio import CpioWriter

Channel: TypeAlias = ChannelName
PowerMethod: TypeAlias = Literal["poweroff", "reboot"]

FATAL_MARKER = b"ktstr-guest-init: FATAL: "
"""Start of the one line /init writes to COM1 when it cannot go on."""

VIRTIO_MODULES = ("virtio_pci", "virtio_console")
"""Drivers the guest needs; their dependencies are added from ``modules.dep``."""

PORT_NAMES: dict[str, str] = {c.name: c.port_name for c in CHANNELS if c.found_by_name}
"""Channels /init opens through their virtio port name (it waits for the port to appear)."""
SERIAL_DEVICES: dict[str, str] = {c.name: c.device for c in CHANNELS if not c.found_by_name}
"""Channels /init writes to a fixed device node."""
CONSOLE_PORT_NAME = BY_NAME[HVC0].port_name
CONSOLE_DEVICE = BY_NAME[HVC0].device
DEFAULT_PORT_TIMEOUT_S = 30.0
_APPLETS = (
    *("cat", "dd", "echo", "insmod", "ls", "mkdir", "mount", "od", "poweroff", "printf"),
    *("reboot", "rm", "setsid", "sh", "sleep", "stty", "tr", "usleep"),
)
_MODULE_SUFFIXES = (".ko.zst", ".ko.xz", ".ko.gz", ".ko")


class InitramfsError(KtstrError):
    """The initramfs could not be built."""


class KernelModulesError(InitramfsError):
    """The kernel lacks a needed driver (neither built in nor a loadable module)."""


class BusyboxError(InitramfsError):
    """No usable (statically linked) busybox was found."""


# --------------------------------------------------------------------------- steps


def _check_byte(value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFF:
        raise UsageError(f"a wake byte is an int in 0..255, got {value!r}")


def _check_seconds(name: str, value: float, *, positive: bool) -> None:
    if not isinstance(value, int | float) or value < 0 or (positive and value == 0):
        raise UsageError(f"{name} must be a {'positive' if positive else 'non-negative'} number")


@dataclass(frozen=True, slots=True)
class Write:
    """Copy ``data`` unchanged to a guest device (serial ttys still apply LF -> CR LF)."""

    channel: Channel
    data: bytes

    def __post_init__(self) -> None:
        if self.channel not in BY_NAME:
            raise UsageError(f"unknown channel {self.channel!r}")
        if not isinstance(self.data, bytes):
            raise UsageError("Write.data must be bytes")


@dataclass(frozen=True, slots=True)
class Sleep:
    """Pause the script (guest-side ``sleep``)."""

    seconds: float

    def __post_init__(self) -> None:
        _check_seconds("Sleep.seconds", self.seconds, positive=False)


@dataclass(frozen=True, slots=True)
class WaitWake:
    """Block until the host sends ``byte`` on hvc0; a byte that came earlier counts too.

    Each arrival of the byte satisfies one wait. On timeout the guest reports a FATAL line
    on COM1 and powers off.
    """

    byte: int
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        _check_byte(self.byte)
        _check_seconds("WaitWake.timeout_s", self.timeout_s, positive=True)


@dataclass(frozen=True, slots=True)
class OnWake:
    """Run ``steps`` in the background once ``byte`` arrives; the main script goes on.

    If the byte does not come within ``timeout_s`` the handler gives up silently. A later
    :class:`PowerOff` does not wait for a handler.
    """

    byte: int
    steps: tuple[Step, ...]
    timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        _check_byte(self.byte)
        _check_seconds("OnWake.timeout_s", self.timeout_s, positive=True)
        object.__setattr__(self, "steps", _check_steps(self.steps))


@dataclass(frozen=True, slots=True)
class PowerOff:
    """End the run now: ``poweroff -f`` (or ``reboot -f``; QEMU runs with ``-no-reboot``)."""

    method: PowerMethod = "poweroff"

    def __post_init__(self) -> None:
        if self.method not in ("poweroff", "reboot"):
            raise UsageError(f"unknown power-off method {self.method!r}")


@dataclass(frozen=True, slots=True)
class Hang:
    """Never power off (for host timeout tests)."""


@dataclass(frozen=True, slots=True)
class DieMidFrame:
    """Write the first ``keep`` bytes of ``frame`` to the bulk port, then power off at once."""

    frame: bytes
    keep: int
    method: PowerMethod = "poweroff"

    def __post_init__(self) -> None:
        if not isinstance(self.frame, bytes):
            raise UsageError("DieMidFrame.frame must be bytes")
        if not 0 < self.keep < len(self.frame):
            raise UsageError(f"keep must be in 1..{len(self.frame) - 1} to cut the frame")
        PowerOff(self.method)


Step: TypeAlias = Write | Sleep | WaitWake | OnWake | PowerOff | Hang | DieMidFrame
_STEP_TYPES = (Write, Sleep, WaitWake, OnWake, PowerOff, Hang, DieMidFrame)


def _check_steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    out = tuple(steps)
    for step in out:
        if not isinstance(step, _STEP_TYPES):
            raise UsageError(f"not a guest script step: {step!r}")
    return out


@dataclass(frozen=True, slots=True)
class GuestScript:
    """Ordered steps; after the last one the guest powers off."""

    steps: tuple[Step, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", _check_steps(self.steps))

    def walk(self) -> Iterator[Step]:
        """Every step, nested :class:`OnWake` steps included, depth first."""
        stack = list(reversed(self.steps))
        while stack:
            step = stack.pop()
            yield step
            if isinstance(step, OnWake):
                stack.extend(reversed(step.steps))

    def channels(self) -> set[str]:
        """The channels some step writes to."""
        used: set[str] = {s.channel for s in self.walk() if isinstance(s, Write)}
        if any(isinstance(s, DieMidFrame) for s in self.walk()):
            used.add(BULK)
        return used

    def uses_wake(self) -> bool:
        """Whether any step listens on hvc0."""
        return any(isinstance(s, WaitWake | OnWake) for s in self.walk())


# --------------------------------------------------------------------------- modules


@dataclass(frozen=True, slots=True)
class KernelModule:
    """One module file to load, in order."""

    name: str
    path: Path


def _module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    for suffix in _MODULE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def resolve_modules(
    modules_dir: Path, wanted: Sequence[str] = VIRTIO_MODULES
) -> list[KernelModule]:
    """The module files to insmod for ``wanted``, every dependency before its user.

    Built-in drivers (listed in ``modules.builtin``) need no file and are skipped.
    """
    dep_file = modules_dir / "modules.dep"
    if not dep_file.is_file():
        raise KernelModulesError(
            f"{dep_file} not found: cannot tell how to load {', '.join(wanted)}; "
            "install the kernel's modules or pass modules_dir=None if they are built in"
        )
    deps: dict[str, tuple[str, list[str]]] = {}
    for line in dep_file.read_text().splitlines():
        target, sep, rest = line.partition(":")
        if sep:
            deps[_module_name(target)] = (target.strip(), [_module_name(d) for d in rest.split()])
    builtin_file = modules_dir / "modules.builtin"
    builtin = (
        {_module_name(x) for x in builtin_file.read_text().split()}
        if builtin_file.is_file()
        else set()
    )
    order: list[KernelModule] = []
    seen: set[str] = set()

    def visit(name: str, needed_by: str | None) -> None:
        if name in seen or name in builtin:
            return
        if name not in deps:
            who = f" (needed by {needed_by})" if needed_by else ""
            raise KernelModulesError(
                f"kernel {modules_dir.name} lacks {name}{who}: it is neither built in "
                f"nor a module in {dep_file}"
            )
        seen.add(name)
        rel, needs = deps[name]
        for dep in needs:
            visit(dep, name)
        path = modules_dir / rel
        if not path.is_file():
            raise KernelModulesError(f"module file {path} listed in modules.dep is missing")
        order.append(KernelModule(name, path))

    for name in wanted:
        visit(name.replace("-", "_"), None)
    return order


def module_bytes(path: Path) -> bytes:
    """A module's ELF image, decompressed from .ko.xz / .ko.gz / .ko.zst if needed."""
    raw = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(raw)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(raw)
    if path.name.endswith(".ko.zst"):
        zstd = shutil.which("zstd")
        if zstd is None:
            raise KernelModulesError(f"{path} is zstd-compressed and no `zstd` program was found")
        done = subprocess.run([zstd, "-dc"], input=raw, capture_output=True, check=False)
        if done.returncode != 0:
            raise KernelModulesError(
                f"zstd failed on {path}: {done.stderr.decode(errors='replace')}"
            )
        return done.stdout
    return raw


# --------------------------------------------------------------------------- busybox


def is_static_elf(path: Path) -> bool:
    """Whether ``path`` is a 64-bit little-endian ELF without a PT_INTERP program header."""
    with path.open("rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return False
        (phoff,) = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    types = (struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum))
    return 3 not in types  # PT_INTERP


def find_busybox(candidates: Sequence[str] = ("/bin/busybox", "/usr/bin/busybox")) -> Path:
    """A statically linked busybox (Debian: ``apt-get install busybox-static``)."""
    for name in candidates:
        path = Path(name)
        if path.is_file() and is_static_elf(path):
            return path
    raise BusyboxError(
        f"no statically linked busybox at {', '.join(candidates)}; "
        "install busybox-static (the dynamic busybox cannot run in the initramfs)"
    )


# --------------------------------------------------------------------------- /init

_PRELUDE = r"""#!/bin/sh
# /init generated by ktstr_guest.initramfs: plays a fixed guest script, then powers off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/kmsg 2>&1
log() {{
    echo "ktstr-guest-init: $*" >/dev/kmsg
}}
fatal() {{
    echo "{marker}$*" >/dev/ttyS0
    poweroff -f
    while :; do sleep 1000; done
}}
now_cs() {{
    read -r up _ </proc/uptime
    c="${{up%.*}}${{up#*.}}"
    c="${{c#0}}"
    echo "${{c#0}}"
}}
port_dev() {{
    for f in /sys/class/virtio-ports/*/name; do
        [ -r "$f" ] && [ "$(cat "$f")" = "$1" ] || continue
        d="${{f%/name}}"
        echo "/dev/${{d##*/}}"
        return 0
    done
    return 1
}}
wait_port() {{
    end=$(( $(now_cs) + {port_timeout_cs} ))
    while :; do
        p="$(port_dev "$1")" && [ -c "$p" ] && {{ echo "$p"; return 0; }}
        [ "$(now_cs)" -ge "$end" ] && return 1
        usleep 10000
    done
}}
wait_file() {{
    end=$(( $(now_cs) + {port_timeout_cs} ))
    until [ -e "$1" ]; do
        [ "$(now_cs)" -ge "$end" ] && return 1
        usleep 5000
    done
}}
wait_wake() {{
    end=$(( $(now_cs) + $2 ))
    while :; do
        for f in /run/ktstr-wake/"$1".*; do
            [ -e "$f" ] && rm "$f" 2>/dev/null && return 0
        done
        [ "$(now_cs)" -ge "$end" ] && return 1
        usleep 5000
    done
}}
"""

WAKE_READER = r"""#!/bin/sh
# Reads single bytes from hvc0 and records each arrival as /run/ktstr-wake/<hex>.<seq>.
exec 3</dev/hvc0
stty raw -echo <&3 || exit 1
: >/run/ktstr-wake/ready
n=0
while :; do
    b="$(dd bs=1 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \n')"
    if [ -n "$b" ]; then
        n=$((n + 1))
        : >"/run/ktstr-wake/$b.$(printf %08d "$n")"
    else
        sleep 0.1
    fi
done
"""


def init_prelude(port_timeout_s: float = DEFAULT_PORT_TIMEOUT_S) -> str:
    """The shell preamble of every /init: mounts, quiet stdio and the helpers ``log``,
    ``fatal``, ``now_cs`` (uptime in centiseconds), ``wait_port NAME``, ``wait_file PATH``
    and ``wait_wake HEX CENTISECONDS`` (consumes one arrival recorded by
    :data:`WAKE_READER`)."""
    return _PRELUDE.format(marker=FATAL_MARKER.decode(), port_timeout_cs=_cs(port_timeout_s))


def _cs(seconds: float) -> int:
    return max(1, round(seconds * 100))


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def _describe(step: Step) -> str:
    if isinstance(step, Write):
        return f"write {len(step.data)} bytes to {step.channel}"
    if isinstance(step, Sleep):
        return f"sleep {_seconds(step.seconds)} s"
    if isinstance(step, WaitWake | OnWake):
        kind = "wait for" if isinstance(step, WaitWake) else "on"
        return f"{kind} wake byte 0x{step.byte:02x}"
    if isinstance(step, PowerOff):
        return step.method
    if isinstance(step, Hang):
        return "hang"
    return f"write {step.keep} of {len(step.frame)} frame bytes to bulk, then {step.method}"


class _InitWriter:
    """Turns steps into shell lines, collecting one data file per write."""

    def __init__(self) -> None:
        self.files: list[tuple[str, bytes]] = []

    def _data(self, data: bytes) -> str:
        path = f"ktstr/data/{len(self.files):04d}.bin"
        self.files.append((path, data))
        return "/" + path

    def _write(self, channel: str, data: bytes, indent: str) -> list[str]:
        src = self._data(data)
        if channel in SERIAL_DEVICES:
            dev = SERIAL_DEVICES[channel]
            return [f'{indent}cat {src} >{dev} || fatal "write to {dev} failed"']
        var = channel.upper()
        return [f'{indent}cat {src} >"${var}" || fatal "write to {channel} (${var}) failed"']

    def steps(self, steps: Sequence[Step], indent: str = "") -> list[str]:
        lines: list[str] = []
        for step in steps:
            lines.append(f'{indent}log "{_describe(step)}"')
            if isinstance(step, Write):
                lines += self._write(step.channel, step.data, indent)
            elif isinstance(step, Sleep):
                lines.append(f"{indent}sleep {_seconds(step.seconds)}")
            elif isinstance(step, WaitWake):
                lines.append(
                    f"{indent}wait_wake {step.byte:02x} {_cs(step.timeout_s)} || "
                    f'fatal "no wake byte 0x{step.byte:02x} within {_seconds(step.timeout_s)} s"'
                )
            elif isinstance(step, OnWake):
                lines.append(f"{indent}( if wait_wake {step.byte:02x} {_cs(step.timeout_s)}; then")
                lines += self.steps(step.steps, indent + "    ") or [f"{indent}    :"]
                lines.append(f"{indent}fi ) &")
            elif isinstance(step, PowerOff):
                lines.append(f"{indent}{step.method} -f")
            elif isinstance(step, Hang):
                lines.append(f"{indent}while :; do sleep 1000; done")
            else:
                lines += self._write(BULK, step.frame[: step.keep], indent)
                lines.append(f"{indent}{step.method} -f")
        return lines


def render_init(
    script: GuestScript,
    modules: Sequence[str] = (),
    *,
    port_timeout_s: float = DEFAULT_PORT_TIMEOUT_S,
) -> tuple[str, list[tuple[str, bytes]]]:
    """The /init text for ``script`` and the data files it reads (archive path, bytes).

    ``modules`` are archive paths of module files, already in load order. /init logs each
    step to the kernel log (``/dev/kmsg``), which reaches COM1 only with a verbose log level.
    """
    writer = _InitWriter()
    lines = [init_prelude(port_timeout_s)]
    for mod in modules:
        q = shlex.quote("/" + mod)
        lines.append(f'log "insmod {mod}"; insmod {q} || fatal "insmod {mod} failed"')
    for channel in sorted(script.channels() & set(PORT_NAMES)):
        name = PORT_NAMES[channel]
        lines.append(
            f'{channel.upper()}="$(wait_port {name})" || '
            f'fatal "virtio port {name} did not appear within {_seconds(port_timeout_s)} s"'
        )
    if script.uses_wake():
        lines += [
            f"wait_port {CONSOLE_PORT_NAME} >/dev/null && wait_file {CONSOLE_DEVICE} || "
            f'fatal "hvc0 ({CONSOLE_PORT_NAME}) did not appear"',
            "mkdir -p /run/ktstr-wake",
            "setsid sh /ktstr/wake-reader.sh &",
            'wait_file /run/ktstr-wake/ready || fatal "hvc0 wake reader did not start"',
        ]
    lines += writer.steps(script.steps)
    lines.append("poweroff -f")
    return "\n".join(lines) + "\n", writer.files


def build_initramfs(
    script: GuestScript,
    modules_dir: Path | None,
    *,
    busybox: Path | None = None,
    wanted_modules: Sequence[str] = VIRTIO_MODULES,
    port_timeout_s: float = DEFAULT_PORT_TIMEOUT_S,
) -> bytes:
    """The newc archive (uncompressed) for ``script``.

    ``modules_dir`` is the kernel's ``/lib/modules/<version>``; ``None`` loads no modules
    (for kernels with the virtio drivers built in).
    """
    bb = busybox if busybox is not None else find_busybox()
    if not is_static_elf(bb):
        raise BusyboxError(f"{bb} is not a statically linked 64-bit ELF")
    mods = resolve_modules(modules_dir, wanted_modules) if modules_dir is not None else []
    archive = CpioWriter()
    for d in ("dev", "proc", "sys", "run", "tmp", "bin"):
        archive.add_dir(d)
    archive.add_device("dev/console", "c", 5, 1)
    archive.add_device("dev/null", "c", 1, 3, 0o666)
    archive.add_file("bin/busybox", bb.read_bytes(), 0o755)
    for applet in _APPLETS:
        archive.add_symlink(f"bin/{applet}", "busybox")
    mod_paths = []
    for i, mod in enumerate(mods):
        path = f"lib/ktstr-modules/{i:02d}-{mod.name}.ko"
        archive.add_file(path, module_bytes(mod.path))
        mod_paths.append(path)
    init, files = render_init(script, mod_paths, port_timeout_s=port_timeout_s)
    archive.add_file("ktstr/wake-reader.sh", WAKE_READER.encode(), 0o755)
    for path, data in files:
        archive.add_file(path, data)
    archive.add_file("init", init.encode(), 0o755)
    return archive.to_bytes()
