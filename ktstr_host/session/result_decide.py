"""Upstream's decision: pass or fail, the reason, the context, the stage.

``evaluate_vm_result`` and ``render_no_result_message`` (eval/mod.rs @77af34a2), the run
loop's exit code (``run_bsp_loop`` @1f3b340c), ``classify_init_stage`` (@237c19fe), for a
:class:`RunResult` whose inputs are already collected. Rules: docs/run-result.md.
"""

from __future__ import annotations

from ktstr_proto.channels import BULK
from ktstr_proto.profiles import Profile
from ktstr_proto.serial import (
    STAGE_INIT_NOT_STARTED,
    STAGE_INIT_STARTED_NO_PAYLOAD,
    STAGE_PAYLOAD_STARTED_NO_RESULT,
)
from ktstr_proto.transcript import Mark
from ktstr_proto.verdict import (
    GUEST_CRASHED_PREFIX,
    RUN_LOOP_KILLED_EXIT_CODE,
    SCHEDULER_DEATH_DETAIL_KINDS,
    TIMEOUT_MARK,
    VM_EXIT_MARK,
    guest_crashed,
    no_result_reasons,
    scheduler_exited,
    timed_out_scheduler_exited,
)

from ..decode.extractors import format_console_diagnostics
from ..decode.kmsg import parse_kmsg_window
from .result import RunResult, Status


def host_side(
    r: RunResult, marks: list[Mark], wake_bytes: bytes, soft_deadline_at: int | None
) -> None:
    """Facts only the host knows: its wake bytes (the first ones) and the recorder's
    marks."""
    r.wake_bytes = list(wake_bytes)
    # A 0xD3 is the watchdog's soft deadline: it asks the guest to drain and keeps it
    # running. Only the hard deadline times a run out, and only the recorder knows it.
    if r.exec_exit_code is None and soft_deadline_at is not None:
        r.context.append(f"0xD3 soft-deadline wake byte @ hvc0 {soft_deadline_at} (not a timeout)")
    for index, m in enumerate(marks):
        if m.name == TIMEOUT_MARK or (m.name == VM_EXIT_MARK and m.data.get("timed_out")):
            r.timed_out = True
            r.cite("timed_out", "marks", index)
        if m.name == VM_EXIT_MARK:
            r.vm_exit_recorded = True
            if isinstance(m.data.get("killed"), str):
                r.host_killed = m.data["killed"]


def exit_code(r: RunResult) -> None:
    """Upstream's ``VmResult.exit_code``: the last CRC-good EXIT frame; without one, the
    run loop's -1 when the host ended the run (hard deadline, scheduler-exit kill,
    kernel-panic latch). A guest that powered off without EXIT gives 0 or -1 upstream,
    depending on which vCPU saw the reset first: a transcript cannot tell."""
    if r.exit_code is not None:
        src = r.provenance.get("exit_code", [])
        label = "EXIT frame" if not src or src[-1].channel == BULK else "exit sentinel line"
        where = f" @ {src[-1].channel} {src[-1].offsets[-1]}" if src else ""
        r.exit_code_source = label + where
        return
    why = (
        "hard-deadline timeout"
        if r.timed_out
        else f"host killed the VM ({r.host_killed})"
        if r.host_killed
        else "kernel-panic latch"
        if r.kernel_panic
        else None
    )
    if why is not None:
        r.exit_code = RUN_LOOP_KILLED_EXIT_CODE
        r.exit_code_source = f"run loop, no EXIT frame: {why}"
    elif r.vm_exit_recorded:
        r.exit_code_source = "unknown: no EXIT frame; upstream's run loop gives 0 or -1"
    else:
        r.exit_code_source = "unknown: no EXIT frame and no record of how the VM ended"


def _scheduler_active(r: RunResult) -> bool:
    """Whether a scheduler was under test (``has_active_scheduling``), as far as the
    traffic shows: a scheduler log, a scheduler exit, or a scheduler lifecycle phase."""
    return bool(
        r.scheduler_died
        or r.scheduler_not_attached
        or r.sched_log is not None
        or "sched_log" in r.provenance
    )


def _stage(r: RunResult) -> str:
    """``classify_init_stage``: PayloadStarting, else any lifecycle phase, else none."""
    phases = {e.phase for e in r.lifecycle}
    if "PAYLOAD_STARTING" in phases:
        return STAGE_PAYLOAD_STARTED_NO_RESULT
    if phases:
        return STAGE_INIT_STARTED_NO_PAYLOAD
    return STAGE_INIT_NOT_STARTED


def decide(r: RunResult, com1_text: str, prof: Profile) -> None:
    """``evaluate_vm_result``: a decoded result decides alone; without one the run fails
    with the first of upstream's reasons that applies."""
    if r.exec_exit_code is not None:
        _decide_exec(r)
        return
    if r.verdict is not None:
        _decide_by_verdict(r)
    else:
        _decide_without_result(r, prof, com1_text)
    _context(r)
    if r.status is Status.FAIL and _shows_console(r):
        r.stage = _stage(r)  # upstream prints the stage in this block only
        r.diagnostics = format_console_diagnostics(com1_text, r.exit_code, r.stage)


def _decide_exec(r: RunResult) -> None:
    """``shell --exec`` is not a test: the command's exit code is the outcome."""
    src = r.provenance.get("exec_exit_code", [])
    where = f" ({src[-1].channel} @ {src[-1].offsets[-1]})" if src else ""
    r.decided_by = f"shell --exec exit code {r.exec_exit_code}{where}"
    if r.exec_exit_code != 0:
        r.status = Status.FAIL
        r.reasons.append(f"exec command exited with {r.exec_exit_code}")
    else:
        r.status = Status.PASS


def _decide_by_verdict(r: RunResult) -> None:
    src = r.provenance.get("verdict", [])
    where = f" @ {src[-1].channel} {src[-1].offsets[-1]}" if src else ""
    what = "TEST" if not src or src[-1].channel == BULK else "the result JSON"
    r.decided_by = f"verdict {r.verdict} from {what}{where}"
    if r.verdict in ("Fail", "Inconclusive"):
        r.status = Status.FAIL
        r.reasons.append(f"test verdict: {r.verdict}" + _failure_details(r))
    else:
        r.status = Status.SKIP if r.verdict == "Skip" else Status.PASS


def _decide_without_result(r: RunResult, prof: Profile, com1_text: str) -> None:
    reasons = no_result_reasons(prof.transport)
    bulk = prof.transport == "bulk"
    events = parse_kmsg_window(com1_text) if bulk else []
    exit_event = events[-1] if events else None
    r.status = Status.FAIL
    why = f" ({r.test_result_error})" if r.test_result_error else ""
    if r.timed_out:
        rule = "hard-deadline timeout"
        reason = reasons.timed_out
        if exit_event is not None:
            reason = timed_out_scheduler_exited(exit_event.scheduler_name, exit_event.message)
            rule += ", scheduler exit in the kernel console"
    elif r.crash_message is not None:
        reason, rule = guest_crashed(r.crash_message, prof.transport), "crash message"
    elif _scheduler_active(r):
        rule = "a scheduler was running"
        reason = reasons.no_result_from_guest
        dump_reason = r.dump_exit_reason if bulk else None
        if exit_event is not None:
            reason = scheduler_exited(exit_event.scheduler_name, exit_event.message)
            rule += ", its exit in the kernel console"
        elif dump_reason:
            reason = scheduler_exited(None, dump_reason)
            rule += ", its exit in the sched_ext dump"
    else:
        reason, rule = reasons.no_test_function_output, "no scheduler seen"
    r.reasons.append(reason)
    r.decided_by = f"no decodable test result{why}; first upstream reason that applies: {rule}"


def _context(r: RunResult) -> None:
    """What upstream does not let decide once the rule above did: listed, not reasons."""
    if r.exit_code is not None and (r.exit_code != 0 or r.verdict is None):
        r.context.append(f"exit code {r.exit_code} ({r.exit_code_source}) is context")
    if r.timed_out and r.verdict is not None:
        r.context.append("hard-deadline timeout is context")
    if r.crash_message is not None and not any(
        reason.startswith(GUEST_CRASHED_PREFIX) for reason in r.reasons
    ):
        r.context.append(f"crash message is context: {r.crash_message}")
    if r.scheduler_not_attached:
        r.context.append(f"scheduler did not attach ({r.scheduler_not_attached}) is context")
    elif r.scheduler_died:
        code = r.scheduler_exit_code
        r.context.append(
            "scheduler died" + (f" (exit code {code})" if code is not None else "") + " is context"
        )
    if r.host_killed:
        r.context.append(f"the host killed the VM ({r.host_killed}) is context")
    if r.kernel_panic:
        r.context.append(f"kernel panic is context: {r.kernel_panic}")
    if r.initramfs_fatal:
        r.context.append("initramfs extraction incomplete (the guest ran out of memory)")


def _shows_console(r: RunResult) -> bool:
    """Whether upstream appends the ``--- diagnostics ---`` block: without a result when
    a scheduler was running or the output has no scheduler-log marker; with a failing
    result when a detail says the scheduler died."""
    if r.verdict is None:
        return _scheduler_active(r) or not r.has_sched_output
    return any(kind in SCHEDULER_DEATH_DETAIL_KINDS for kind, _ in _details(r))


def _details(r: RunResult) -> list[tuple[str, str]]:
    """(kind, message) of every failing or inconclusive detail of the result."""
    result = r.test_result
    out: list[tuple[str, str]] = []
    for outcome in getattr(result, "outcomes", ()):
        if outcome.kind.value in ("Fail", "Inconclusive") and outcome.detail is not None:
            out.append((outcome.detail.kind.value, outcome.detail.message))
    if isinstance(result, dict):
        for d in result.get("details", []) or []:
            if isinstance(d, dict) and d.get("message"):
                out.append((str(d.get("kind", "")), str(d["message"])))
    return out


def _failure_details(r: RunResult) -> str:
    messages = [message for _, message in _details(r)]
    return (": " + "; ".join(messages)) if messages else ""
