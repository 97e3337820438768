"""How upstream's host decides pass or fail: its reason strings and host-side rules.

Declared once here; ``ktstr_host.session.result_builder`` applies them (the rule table is
``docs/run-result.md``). Sources: ``evaluate_vm_result`` and its ``ERR_*`` constants in
``src/test_support/eval/mod.rs`` (bulk era, ktstr 0.10 and later) and
``src/test_support/eval.rs`` (ktstr 0.4.9, whose results travelled through SHM or COM2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .tags import MsgType

Transport = Literal["bulk", "serial"]

GUEST_CRASHED_PREFIX = "guest crashed:"
"""``ERR_GUEST_CRASHED_PREFIX``: ``guest crashed: <message>``."""

NO_TEST_FUNCTION_OUTPUT = "test function produced no output (no test result found)"
"""``ERR_NO_TEST_FUNCTION_OUTPUT``: no result and no scheduler under test (EEVDF)."""


@dataclass(frozen=True, slots=True)
class NoResultReasons:
    """The reasons of a run without a decodable result, in upstream's order of checks."""

    timed_out: str
    """``ERR_TIMED_OUT_NO_RESULT``: the watchdog's hard deadline passed."""
    no_result_from_guest: str
    """``ERR_NO_TEST_RESULT_FROM_GUEST``: a scheduler was running."""
    no_test_function_output: str = NO_TEST_FUNCTION_OUTPUT


_BULK_REASONS = NoResultReasons(
    timed_out="timed out (no result via bulk port or COM2)",
    no_result_from_guest=(
        "no test result received from guest (no AssertResult arrived via bulk port or "
        "COM2; check kernel log and scheduler exit status)"
    ),
)
_SHM_REASONS = NoResultReasons(
    timed_out="timed out (no result in SHM or COM2)",
    no_result_from_guest=(
        "no test result received from guest (no AssertResult arrived via SHM or COM2; "
        "check kernel log and scheduler exit status)"
    ),
)


def no_result_reasons(transport: Transport) -> NoResultReasons:
    """The reason strings of the host generation that read results over ``transport``
    (``bulk``: ktstr 0.10+; ``serial``: 0.4.9, results in SHM or on COM2)."""
    return _BULK_REASONS if transport == "bulk" else _SHM_REASONS


def guest_crashed(message: str, transport: Transport) -> str:
    """The crash reason. Bulk era: ``collect_results`` sets ``crash_message`` from the
    output, and ``evaluate_vm_result`` prints it as ``guest crashed:\n<message>``. 0.4.9
    had no such field for COM2 crashes: it formats ``guest crashed: <message>``."""
    separator = "\n" if transport == "bulk" else " "
    return f"{GUEST_CRASHED_PREFIX}{separator}{message}"


def timed_out_scheduler_exited(name: str, message: str) -> str:
    """The timeout reason when the console shows the scheduler's exit (bulk era)."""
    if message:
        return f"timed out (scheduler exited: {message})"
    return f"timed out (scheduler {name} exited)"


def scheduler_exited(name: str | None, message: str) -> str:
    """The no-result reason when a scheduler was running and the console (kernel exit
    line, else the dump's exit reason) shows how it exited (bulk era)."""
    if message:
        return f"scheduler exited: {message}"
    return f"scheduler exited ({name})"


HOST_KILL_TAGS: dict[MsgType, str] = {MsgType.SCHED_EXIT: "scheduler-exit"}
"""A CRC-good frame of these tags makes the host kill the VM at once (``dispatch.rs``:
the freeze coordinator turns a SchedExit into the run-wide kill flag); the value is the
reason recorded in the ``vm-exit`` mark's ``killed`` field."""

VM_EXIT_MARK = "vm-exit"
"""The recorder's mark for the end of a VM run: ``status`` (QEMU's exit status or
``null``), ``timed_out`` (the host's hard deadline killed it) and ``killed`` (the reason
the host killed it early, e.g. ``scheduler-exit``)."""

TIMEOUT_MARK = "timeout"
"""A host-side mark for a hard-deadline timeout, from recorders that only know that."""

RUN_LOOP_KILLED_EXIT_CODE = -1
"""The run loop's exit code when no EXIT frame arrived and the host ended the run: the
hard-deadline timeout, a scheduler-exit kill, or the kernel-panic latch (the diagnostics
print it as ``exit_code=-1 (EPERM)``)."""

SCHEDULER_DEATH_DETAIL_KINDS = frozenset(
    {"SchedulerCrashed", "SchedulerExitedCleanly", "SchedulerDiedUnknownReason", "SchedulerDied"}
)
"""Detail kinds that make a failing result carry the console diagnostics block (the
scheduler-death gate of ``evaluate_vm_result``; ``SchedulerDied`` is the newest name)."""
