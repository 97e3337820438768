"""Prerequisites of the real-VM tests: skipped locally when missing, a failure in CI."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from ktstr_guest.initramfs import find_busybox
from ktstr_host.vm.runner import Kernel, find_kernel, find_qemu
from ktstr_proto.errors import KtstrError


def unavailable(reason: str) -> None:
    """Skip locally; under CI a missing VM prerequisite is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class VmEnv:
    kernel: Kernel
    busybox: Path


def vm_env() -> VmEnv:
    try:
        find_qemu()
        kernel = find_kernel()
        busybox = find_busybox()
    except KtstrError as exc:
        unavailable(str(exc))
        raise  # unreachable: unavailable() always raises
    return VmEnv(kernel, busybox)
