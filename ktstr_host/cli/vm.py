"""``ktstr-host vm run SCENARIO``: boot a scenario under QEMU, record, decode, report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ktstr_guest.scenarios import get_scenario
from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk

from ..output_files import check_output
from ..session.live import LiveDecoder
from ..session.result_builder import build_run_result
from ..transcripts.io import save_transcript
from ..transcripts.stop_signals import StopSignals
from ..vm.record import record_scenario
from ..vm.runner import Kernel, VmError, find_kernel
from .numbers import seconds


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("vm", help="real-VM runs under QEMU")
    vm_sub = p.add_subparsers(dest="vm_command", required=True, metavar="VM_COMMAND")
    r: argparse.ArgumentParser = vm_sub.add_parser(
        "run",
        help="boot a scenario, record all channels, decode live, print the report",
        description="Exit status: 0 passed, 1 failed, 2 QEMU/kernel/argument problems, "
        "128+N when stopped by signal N (SIGINT, SIGTERM, SIGHUP): QEMU is killed and the "
        "transcript of what was captured is written with an 'interrupted' mark.",
    )
    r.add_argument("scenario", help="a name from `ktstr-host scenarios`")
    r.add_argument(
        "--kernel", metavar="VMLINUZ", help="kernel image (default: /boot's cloud kernel)"
    )
    r.add_argument("--modules", metavar="DIR", help="its module tree (default: /lib/modules/VER)")
    r.add_argument(
        "--out", metavar="T.jsonl", help="write the transcript here (even when interrupted)"
    )
    r.add_argument("--force", action="store_true", help="replace an existing --out file")
    r.add_argument(
        "--request-dump-at",
        type=seconds("--request-dump-at", zero=True),
        metavar="S",
        help="send a 0xD1 dump request on hvc0 S seconds after start",
    )
    r.add_argument(
        "--accel",
        default="tcg",
        choices=["tcg", "kvm"],
        help="QEMU accelerator (default tcg; nested KVM hangs on some hosts)",
    )
    r.add_argument(
        "--timeout", type=seconds("--timeout"), metavar="S", help="kill the VM after S seconds"
    )
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.add_argument("--quiet", action="store_true", help="no live event lines")
    r.set_defaults(run=run)


def _kernel(args: argparse.Namespace) -> Kernel:
    if not args.kernel:
        return find_kernel()
    image = Path(args.kernel)
    if not image.is_file():
        raise UsageError(f"{image}: no such kernel image")
    version = image.name.removeprefix("vmlinuz-")
    mods = Path(args.modules) if args.modules else Path("/lib/modules") / version
    return Kernel(image, version, mods if mods.is_dir() else None)


def run(args: argparse.Namespace) -> int:
    scenario = get_scenario(args.scenario)
    if not scenario.vm:
        raise UsageError(f"scenario {scenario.name!r} is synthetic only (no VM support)")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.request_dump_at is not None and args.request_dump_at < 0:
        raise UsageError("--request-dump-at must be >= 0")
    live = LiveDecoder(scenario.profile)
    err = sys.stderr

    def show(chunk: Chunk) -> None:
        if not args.quiet:
            for line in live.feed(chunk):
                err.write(f"{chunk.t:>10.6f}  {line}\n")

    if args.out:
        check_output(args.out, args.force)
    kernel = _kernel(args)
    err.write(f"booting {scenario.name} on {kernel.version} ({args.accel})\n")

    def stalled(seconds: float) -> None:
        err.write(
            f"warning: no guest output after {seconds:.0f} s under --accel kvm; nested KVM "
            "hangs on some hosts (try --accel tcg)\n"
        )

    with StopSignals() as signals:
        rec = record_scenario(
            scenario,
            kernel=kernel,
            accel=args.accel,
            timeout_s=args.timeout,
            request_dump_at=args.request_dump_at,
            on_chunk=show,
            stop=signals,
            on_stall=stalled,
        )
        interrupted = rec.run.interrupted is not None
        if rec.run.exit_status != 0 and not rec.run.timed_out and not interrupted:
            tail = rec.run.qemu_output.strip().splitlines()
            raise VmError(
                f"QEMU exited with status {rec.run.exit_status}" + (f": {tail[-1]}" if tail else "")
            )
        if args.out:
            save_transcript(args.out, rec.transcript, force=args.force)
    result = build_run_result(rec.transcript)
    boot = rec.run.boot_to_first_bulk_s
    how = " (timed out)" if rec.run.timed_out else ""
    how = f" (killed: {rec.run.interrupted})" if interrupted else how
    err.write(
        f"QEMU exit {rec.run.exit_status}{how}; "
        f"boot to first bulk byte {boot if boot is None else f'{boot:.2f} s'}; "
        f"total {rec.run.total_s:.2f} s\n"
    )
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(result.render())
    if signals.exit_status is not None:
        return signals.exit_status
    return result.status.exit_status
