"""Record a guest scenario under QEMU into a transcript (the real-VM path).

:func:`record_scenario` builds the scenario's initramfs, boots it with
:func:`ktstr_host.vm.runner.run_vm` and turns the captured chunks into a transcript: times
relative to QEMU's start, channels merged in capture order, host wake bytes as h2g
chunks, and a ``vm-exit`` mark. A scenario's wake bytes are sent once the guest has
written everything it writes before waiting for them (so the guest's hvc0 reader is
up), or at their time for background handlers.
"""

from __future__ import annotations

import datetime as dt
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ktstr_guest.initramfs import OnWake, Step, WaitWake, Write, build_initramfs
from ktstr_guest.scenarios import Scenario
from ktstr_proto.channels import BULK, WAKE_CHANNEL
from ktstr_proto.profiles import get_profile
from ktstr_proto.transcript import Chunk, Header, Mark, Transcript
from ktstr_proto.verdict import HOST_KILL_TAGS, VM_EXIT_MARK

from ..decode.bulk import BulkDecoder
from ..decode.events import Frame
from .runner import Chunk as VmChunk
from .runner import HostWake, Kernel, VmConfig, VmRun, find_kernel, run_vm


@dataclass(frozen=True, slots=True)
class VmRecording:
    transcript: Transcript
    run: VmRun
    kernel: Kernel


def _bulk_written_before(steps: Sequence[Step], byte: int) -> int | None:
    """Bulk bytes the script writes before it waits for ``byte`` (None: never waits)."""
    total = 0
    for step in steps:
        if isinstance(step, WaitWake) and step.byte == byte:
            return total
        if isinstance(step, OnWake) and step.byte == byte:
            return total
        if isinstance(step, Write) and step.channel == BULK:
            total += len(step.data)
    return None


def host_wakes(scenario: Scenario) -> list[HostWake]:
    """The scenario's hvc0 host actions as wake bytes for the VM runner."""
    wakes: list[HostWake] = []
    for action in scenario.host:
        if action.channel != WAKE_CHANNEL:
            continue
        for byte in action.data:
            after = _bulk_written_before(scenario.script.steps, byte)
            wakes.append(HostWake(byte, at_s=action.at_s, after_bytes=after or None))
    return wakes


class HostKillWatch:
    """Upstream's host rule: a CRC-good frame of a tag in ``HOST_KILL_TAGS`` (SCDX) on
    the bulk port makes the host kill the VM at once. Use as ``run_vm(kill_on=...)``."""

    def __init__(self, profile: str) -> None:
        self.decoder = BulkDecoder(profile)

    def __call__(self, channel: str, chunk: VmChunk) -> str | None:
        if channel != BULK or chunk.direction != "g2h":
            return None
        for event in self.decoder.feed(chunk.data):
            if isinstance(event, Frame) and event.crc_ok and event.tag in HOST_KILL_TAGS:
                return HOST_KILL_TAGS[event.tag]
        return None


def vm_transcript(run: VmRun, scenario: Scenario, kernel: Kernel, accel: str) -> Transcript:
    """A transcript of a finished :class:`VmRun` of ``scenario``."""
    return run_transcript(
        run,
        scenario.profile,
        {"scenario": scenario.name, "description": scenario.description},
        kernel,
        accel,
    )


def run_transcript(
    run: VmRun, profile: str, meta: dict[str, object], kernel: Kernel, accel: str
) -> Transcript:
    """A transcript of a finished :class:`VmRun`; ``meta`` comes first in the header."""
    events: list[tuple[float, int, Chunk | Mark]] = []
    seq = 0
    for channel, chunks in run.channels.items():
        for c in chunks:
            t = max(0.0, round(c.t - run.started_at, 6))
            events.append((t, seq, Chunk(t, channel, c.direction, c.data)))
            seq += 1
    events.sort(key=lambda e: (e[0], e[1]))
    ordered: list[Chunk | Mark] = [e for _, _, e in events]
    end_t = max(ordered[-1].t if ordered else 0.0, round(run.ended_at - run.started_at, 6))
    if run.interrupted is not None:
        ordered.append(Mark(end_t, "interrupted", {"signal": run.interrupted}))
    exit_data = {"status": run.exit_status, "timed_out": run.timed_out, "killed": run.killed}
    ordered.append(Mark(end_t, VM_EXIT_MARK, exit_data))
    header = Header(
        profile,
        recorder={"name": "ktstr-py", "source": "qemu", "accel": accel},
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        meta={
            **meta,
            "kernel": kernel.version,
            "kernel_image": str(kernel.image),
            "qemu_command": " ".join(run.command),
            "host_machine": platform.machine(),
            "boot_to_first_bulk_s": run.boot_to_first_bulk_s,
            "total_s": round(run.total_s, 3),
        },
    )
    return Transcript(header, ordered)


def record_scenario(
    scenario: Scenario,
    *,
    kernel: Kernel | None = None,
    accel: str = "tcg",
    timeout_s: float | None = None,
    request_dump_at: float | None = None,
    on_chunk: Callable[[Chunk], None] | None = None,
    run_dir: Path | None = None,
    kernel_verbose: bool = False,
    stop: Callable[[], str | None] | None = None,
    on_stall: Callable[[float], None] | None = None,
) -> VmRecording:
    """Boot ``scenario`` in QEMU, record every channel, return the transcript.

    A guest that never powers off is killed after ``timeout_s`` (default: the
    scenario's) and recorded as timed out; a CRC-good SCDX frame makes the host kill it
    at once, as upstream's host does; ``kernel_verbose`` boots without ``loglevel=0``.
    QEMU or kernel problems raise the errors of :mod:`ktstr_host.vm.runner`. ``stop`` and
    ``on_stall`` are :func:`~ktstr_host.vm.runner.run_vm`'s: a stopped run is recorded with an
    ``interrupted`` mark.
    """
    k = kernel if kernel is not None else find_kernel()
    initramfs = build_initramfs(scenario.script, k.modules_dir)
    config = VmConfig(
        kernel=k.image,
        initramfs=initramfs,
        accel=accel,
        timeout_s=timeout_s if timeout_s is not None else scenario.timeout_s,
        kernel_verbose=kernel_verbose,
    )
    t0 = time.monotonic()  # within milliseconds of QEMU's start, the transcript's t = 0

    def relay(channel: str, chunk: VmChunk) -> None:
        if on_chunk is not None:
            t = max(0.0, round(chunk.t - t0, 6))
            on_chunk(Chunk(t, channel, chunk.direction, chunk.data))

    run = run_vm(
        config,
        wakes=host_wakes(scenario),
        request_dump_at=request_dump_at,
        check=False,
        run_dir=run_dir,
        on_chunk=relay,
        kill_on=HostKillWatch(scenario.profile)
        if get_profile(scenario.profile).transport == "bulk"
        else None,
        stop=stop,
        on_stall=on_stall,
    )
    return VmRecording(vm_transcript(run, scenario, k, accel), run, k)
