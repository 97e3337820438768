"""Front door of ktstr_host.vm (the names ``__init__.py`` loads lazily)."""

from .record import record_scenario
from .runner import (
    GuestInitError,
    Kernel,
    KernelNotFoundError,
    QemuError,
    QemuNotFoundError,
    VmConfig,
    VmError,
    VmTimeoutError,
    find_kernel,
    find_qemu,
    run_vm,
)
from .scx_record import record_scx_run

__all__ = [
    "GuestInitError",
    "Kernel",
    "KernelNotFoundError",
    "QemuError",
    "QemuNotFoundError",
    "VmConfig",
    "VmError",
    "VmTimeoutError",
    "find_kernel",
    "find_qemu",
    "record_scenario",
    "record_scx_run",
    "run_vm",
]
