"""Ways to make a transcript, as zero-argument callables (the pytest plugin's ``record=``).

* :func:`synthetic` -- a built-in scenario simulated (``record="synthetic:NAME"``);
* :func:`vm` -- a built-in scenario booted under QEMU (``record="vm:NAME"``);
* :func:`live` -- channels read from pyserial URLs, devices or ``file:`` paths until
  they end, as ``ktstr-host record`` does (``record="live:com1=URL bulk=URL"``).

:func:`resolve` turns a ``record=`` value (one of those strings or any callable
returning a :class:`Transcript`) into a callable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path

from ktstr_guest.scenarios import get_scenario, synthetic_transcript
from ktstr_proto.errors import UsageError
from ktstr_proto.profiles import get_profile
from ktstr_proto.transcript import Header, Transcript

from ..vm.runner import Kernel, VmError, find_kernel
from .recorder import Recorder

__all__ = ["LIVE_TIMEOUT_S", "RecordFn", "live", "parse_live", "resolve", "synthetic", "vm"]

RecordFn = Callable[[], Transcript]
LIVE_TIMEOUT_S = 60.0


def synthetic(scenario: str) -> RecordFn:
    """The synthetic transcript of a built-in scenario (``ktstr-host synth``)."""
    get_scenario(scenario)  # unknown names fail now, not at record time

    def record() -> Transcript:
        return synthetic_transcript(get_scenario(scenario))

    return record


def kernel_at(image: str | Path, modules: str | Path | None = None) -> Kernel:
    """A :class:`Kernel` for an image file (modules default to /lib/modules/VERSION)."""
    path = Path(image)
    if not path.is_file():
        raise UsageError(f"{path}: no such kernel image")
    version = path.name.removeprefix("vmlinuz-")
    mods = Path(modules) if modules is not None else Path("/lib/modules") / version
    return Kernel(path, version, mods if mods.is_dir() else None)


def vm(
    scenario: str,
    *,
    kernel: Kernel | str | Path | None = None,
    accel: str = "tcg",
    timeout: float | None = None,
) -> RecordFn:
    """A built-in scenario booted under QEMU (``ktstr-host vm run``): ``kernel`` is a
    :class:`Kernel` or an image path (default: /boot's cloud kernel), ``timeout`` kills
    a guest that never powers off (recorded as timed out)."""
    s = get_scenario(scenario)
    if not s.vm:
        raise UsageError(f"scenario {scenario!r} is synthetic only (no VM support)")
    if accel not in ("tcg", "kvm"):
        raise UsageError(f"accel must be 'tcg' or 'kvm', got {accel!r}")
    if timeout is not None and not timeout > 0:
        raise UsageError(f"timeout must be positive, got {timeout}")

    def record() -> Transcript:
        from ..vm.record import record_scenario  # needs the initramfs builder: load late

        k = kernel if isinstance(kernel, Kernel) else None
        if kernel is not None and k is None:
            k = kernel_at(kernel)  # type: ignore[arg-type]
        rec = record_scenario(
            get_scenario(scenario), kernel=k or find_kernel(), accel=accel, timeout_s=timeout
        )
        if rec.run.exit_status != 0 and not rec.run.timed_out:
            tail = rec.run.qemu_output.strip().splitlines()
            raise VmError(
                f"QEMU exited with status {rec.run.exit_status}" + (f": {tail[-1]}" if tail else "")
            )
        return rec.transcript

    return record


def live(
    sources: Mapping[str, str],
    *,
    profile: str = "ktstr-0.15",
    timeout: float | None = LIVE_TIMEOUT_S,
) -> RecordFn:
    """Channels read from ``{channel: source}`` (pyserial URL, device, ``file:PATH``)
    until every one ends or ``timeout`` seconds pass (then what arrived is kept, like
    ``ktstr-host record --duration``)."""
    if not sources:
        raise UsageError("live recording needs at least one channel=SOURCE")
    name = get_profile(profile).name
    if timeout is not None and not timeout > 0:
        raise UsageError(f"timeout must be positive, got {timeout}")

    def record() -> Transcript:
        header = Header(
            name,
            recorder={"name": "ktstr-py", "source": "record", "inputs": dict(sources)},
            started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        recorder = Recorder(header)
        try:
            for channel, source in sources.items():
                recorder.add(channel, source)
            recorder.start()
            recorder.run(timeout=timeout)
        finally:
            recorder.close()
        return recorder.transcript

    return record


def parse_live(spec: str) -> dict[str, str]:
    """``"com1=socket://localhost:4000 bulk=file:run.bin"`` -> ``{channel: source}``."""
    sources: dict[str, str] = {}
    for item in spec.split():
        channel, sep, source = item.partition("=")
        if not sep or not channel or not source:
            raise UsageError(f"live: expected CHANNEL=SOURCE, got {item!r}")
        if channel in sources:
            raise UsageError(f"live: channel {channel!r} given twice")
        sources[channel] = source
    return sources


KINDS = ("synthetic", "vm", "live")


def resolve(
    record: object,
    *,
    kernel: Kernel | str | Path | None = None,
    accel: str | None = None,
    timeout: float | None = None,
    profile: str | None = None,
) -> RecordFn:
    """A recorder from ``record=``: a callable, or ``"synthetic:NAME"``, ``"vm:NAME"``,
    ``"live:CHANNEL=SOURCE ..."``. The options apply to the named kinds that take them
    (``vm``: kernel, accel, timeout; ``live``: profile, timeout)."""
    if callable(record):
        return record
    if not isinstance(record, str):
        raise UsageError(f"record= must be a callable or 'KIND:ARG', got {record!r}")
    kind, sep, arg = record.partition(":")
    if not sep or kind not in KINDS or not arg.strip():
        raise UsageError(
            f"record={record!r}: expected 'synthetic:SCENARIO', 'vm:SCENARIO' or "
            "'live:CHANNEL=SOURCE ...'"
        )
    given = {
        "kernel": kernel is not None,
        "accel": accel is not None,
        "timeout": timeout is not None,
        "profile": profile is not None,
    }
    takes = {"synthetic": (), "vm": ("kernel", "accel", "timeout"), "live": ("profile", "timeout")}
    wrong = [name for name, set_ in given.items() if set_ and name not in takes[kind]]
    if wrong:
        raise UsageError(f"record={record!r} does not take {', '.join(f'{w}=' for w in wrong)}")
    if kind == "synthetic":
        return synthetic(arg)
    if kind == "vm":
        return vm(arg, kernel=kernel, accel=accel or "tcg", timeout=timeout)
    return live(
        parse_live(arg),
        profile=profile or "ktstr-0.15",
        timeout=LIVE_TIMEOUT_S if timeout is None else timeout,
    )
