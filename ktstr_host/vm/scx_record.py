"""Record a real BPF scheduler on a real sched_ext kernel (``tools/build-scx-kernel.sh``).

The kernel tree built by that script gives the image (``arch/x86/boot/bzImage``), its
release (``include/config/kernel.release``) and the schedulers
(``tools/sched_ext/build/bin``). The guest is :mod:`ktstr_guest.scx_guest`; the boot is
verbose (``loglevel=7``) so ``Linux version ...`` reaches COM1, as with ktstr's
``KTSTR_VERBOSE=1``. Not used in CI: the fixtures it produced are committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ktstr_guest.scx_guest import ScxRun, build_scx_initramfs, dump_request_after_bytes
from ktstr_proto.channels import BULK
from ktstr_proto.serial import WakeByte

from .record import VmRecording, run_transcript
from .runner import HostWake, Kernel, KernelNotFoundError, VmConfig, run_vm

DEFAULT_CPUS = 2


@dataclass(frozen=True, slots=True)
class ScxKernelTree:
    """A kernel tree built by ``tools/build-scx-kernel.sh``."""

    root: Path

    @property
    def image(self) -> Path:
        return self.root / "arch/x86/boot/bzImage"

    @property
    def schedulers(self) -> Path:
        return self.root / "tools/sched_ext/build/bin"

    def kernel(self) -> Kernel:
        release = self.root / "include/config/kernel.release"
        if not self.image.is_file() or not release.is_file():
            raise KernelNotFoundError(
                f"no built kernel in {self.root}: run tools/build-scx-kernel.sh first"
            )
        return Kernel(self.image, release.read_text().strip(), None)


def record_scx_run(
    run: ScxRun, tree: ScxKernelTree, *, accel: str = "tcg", cpus: int = DEFAULT_CPUS
) -> VmRecording:
    """Boot ``run`` on the tree's kernel and record every channel."""
    kernel = tree.kernel()
    initramfs = build_scx_initramfs(run, tree.schedulers)
    config = VmConfig(
        kernel=kernel.image,
        initramfs=initramfs,
        memory_mib=512,
        cpus=cpus,
        accel=accel,
        timeout_s=run.timeout_s,
        kernel_verbose=True,
    )
    wakes = []
    if run.trigger == "sysrq":
        after = dump_request_after_bytes(run)
        wakes.append(HostWake(WakeByte.DUMP, at_s=None, after_bytes=after, channel=BULK))
    vm_run = run_vm(config, wakes=wakes, check=False)
    meta: dict[str, object] = {
        "scenario": run.name,
        "description": run.description,
        "scheduler": run.scheduler,
        "scheduler_args": list(run.args),
        "trigger": run.trigger,
        "cpus": cpus,
    }
    return VmRecording(run_transcript(vm_run, run.profile, meta, kernel, accel), vm_run, kernel)
