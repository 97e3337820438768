"""Build a :class:`RunResult` from a run's channels, with upstream's rules.

Bulk (bulk.md 6.4-6.5): the frames are assembled as the host's streaming assembler sees
them (one feed per recorded chunk), then the residual goes through the one-shot parser,
as the coordinator does at exit. Serial (serial.md 9-11): COM1/COM2 are cut to the host's
capture window and run through upstream's extractors. Legacy ``ktstr-0.4`` runs are read
from their COM2 sentinels (serial.md 12). The decision rules are in docs/run-result.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ktstr_proto.errors import PayloadError
from ktstr_proto.payloads import (
    LifecyclePhase,
    decode_i32,
    decode_kern_addrs,
    decode_lifecycle,
    decode_scenario_end,
    decode_snapshot_request,
    decode_stimulus,
)
from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.schemas import (
    decode_assert_result,
    decode_kernel_op_request,
    decode_payload_metrics,
    decode_raw_payload_output,
    to_jsonable,
)
from ktstr_proto.serial import (
    INITRAMFS_FATAL,
    PROBE_OUTPUT_END,
    PROBE_OUTPUT_START,
    SCHED_OUTPUT_END,
    SCHED_OUTPUT_START,
    STAGE_INIT_NOT_STARTED,
    STAGE_INIT_STARTED_NO_PAYLOAD,
    STAGE_PAYLOAD_STARTED_NO_RESULT,
    TEST_RESULT_END,
    TEST_RESULT_START,
    WakeByte,
    decode_lossy,
)
from ktstr_proto.tags import MsgType, tag_label
from ktstr_proto.transcript import Mark

from .bulk import BulkDecoder, scan_tlv_stream
from .events import BulkEvent, Dropped, Frame
from .extractors import (
    extract_bug_summary,
    extract_exit_from_dump_trace,
    extract_kernel_version,
    extract_panic_message,
    extract_sched_ext_dump,
    format_console_diagnostics,
)
from .result import Blob, LifecycleEvent, RunResult, Status
from .run_input import RunInput
from .serial import (
    CaptureTruncated,
    DumpEnd,
    DumpStart,
    DumpUnterminated,
    FatalSignal,
    KernelPanic,
    Line,
    LineOverflow,
    PanicHead,
    SerialDecoder,
    SerialEvent,
    capture_window,
)

T = TypeVar("T")

INITRAMFS_FATAL_HEAD = INITRAMFS_FATAL.split("\u2014", 1)[0].rstrip()


def build_run_result(transcript: RunInput, profile: str | Profile | None = None) -> RunResult:
    """The run result of a recorded (or synthetic) run: a ``Transcript`` or any other
    :class:`~ktstr_host.run_input.RunInput` (the bulk chunks are streamed)."""
    prof = get_profile(profile if profile is not None else transcript.header.profile)
    r = RunResult(prof.name)
    com1 = transcript.channel_bytes("com1") if "com1" in transcript.header.channels else b""
    com2 = transcript.channel_bytes("com2") if "com2" in transcript.header.channels else b""
    r.com1_bytes, r.com2_bytes = len(com1), len(com2)
    com1_text = _serial(r, "com1", com1)
    com2_text = _serial(r, "com2", com2)
    if prof.transport == "bulk":
        _bulk(r, _counted(r, transcript.iter_chunks("bulk")), prof)
    else:
        _legacy(r, com2, com2_text)
    _console(r, com1_text, com2_text)
    hvc0 = transcript.channel_bytes("hvc0", "h2g") if "hvc0" in transcript.header.channels else b""
    _host_side(r, transcript.marks, hvc0)
    _decide(r, com1_text, legacy=prof.transport != "bulk")
    return r


# ---- bulk -----------------------------------------------------------------------------


def _counted(r: RunResult, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks``, adding their sizes to ``r.bulk_bytes`` as they stream past."""
    for chunk in chunks:
        r.bulk_bytes += len(chunk)
        yield chunk


def _bulk_events(chunks: Iterable[bytes], prof: Profile) -> Iterator[BulkEvent]:
    """The bulk events, streamed: one feed's events at a time are held."""
    decoder = BulkDecoder(prof)
    for chunk in chunks:
        yield from decoder.feed(chunk)
    base = decoder.offset - decoder.pending
    residual = decoder.take_residual()
    for e in scan_tlv_stream(residual, prof):
        yield e._replace(offset=e.offset + base)


class _Bulk:
    """Accumulates the bulk-derived fields of one run."""

    def __init__(self, r: RunResult, prof: Profile) -> None:
        self.r = r
        self.prof = prof
        self.test: Frame | None = None
        self.stdout: list[bytes] = []
        self.stderr: list[bytes] = []
        self.sched_log: list[bytes] = []
        self.dmesg: list[bytes] = []
        self.probe: list[bytes] = []
        self.wprof: list[Frame] = []
        self.offsets: dict[str, list[int]] = {}

    def seen(self, name: str, frame: Frame) -> None:
        self.offsets.setdefault(name, []).append(frame.offset)

    def bad_payload(self, frame: Frame, exc: PayloadError) -> None:
        self.r.anomaly("payload-error", "bulk", frame.offset, f"{frame.label}: {exc}")

    def decode(self, frame: Frame, decode: Callable[[bytes], T]) -> T | None:
        """The frame's payload decoded, or ``None`` (a payload-error anomaly recorded)."""
        try:
            return decode(bytes(frame.payload))
        except PayloadError as exc:
            self.bad_payload(frame, exc)
            return None

    def frame(self, f: Frame) -> None:
        r = self.r
        if not f.crc_ok:
            r.anomaly(
                "crc-mismatch",
                "bulk",
                f.offset,
                f"{f.label} frame of {f.length} bytes: header CRC 0x{f.crc32:08x} does "
                "not match the payload",
            )
        if f.pad:
            r.anomaly("nonzero-pad", "bulk", f.offset, f"{f.label} frame has _pad=0x{f.pad:x}")
        if f.tag is None:
            r.anomaly(
                "unknown-tag",
                "bulk",
                f.offset,
                f"unknown tag {tag_label(f.msg_type)} ({f.length} bytes), dropped",
            )
            return
        handler = _HANDLERS.get(f.tag)
        if handler is not None:
            handler(self, f)

    def finish(self) -> None:
        r = self.r
        for name, offs in self.offsets.items():
            r.cite(name, "bulk", *offs)
        r.stdout = decode_lossy(b"".join(self.stdout))
        r.stderr = decode_lossy(b"".join(self.stderr))
        if self.dmesg:
            r.dmesg = "\n".join(decode_lossy(d) for d in self.dmesg)
        if self.probe:
            r.probe_output = decode_lossy(b"".join(self.probe))
        if self.sched_log:
            r.sched_log = _between_markers(decode_lossy(b"".join(self.sched_log)))
        self._wprof()
        self._test_result()

    def _wprof(self) -> None:
        if not self.wprof:
            return
        r = self.r
        bad = [f for f in self.wprof if not f.crc_ok]
        if bad:
            r.anomaly(
                "wprof-dropped", "bulk", bad[0].offset, "a wprof frame failed its CRC: no trace"
            )
            return
        terminal = next((i for i, f in enumerate(self.wprof) if f.tag is MsgType.WPROF_TRACE), None)
        if terminal is None:
            r.anomaly(
                "wprof-dropped",
                "bulk",
                self.wprof[-1].offset,
                "wprof chunks without a terminal WPRF frame: no trace",
            )
            return
        parts = self.wprof[: terminal + 1]
        r.wprof = Blob(b"".join(bytes(f.payload) for f in parts))
        r.cite("wprof", "bulk", *(f.offset for f in parts))

    def _test_result(self) -> None:
        r, f = self.r, self.test
        if f is None:
            return
        r.cite("verdict", "bulk", f.offset)
        if self.prof.test_result not in ("postcard-e4", "postcard-e3"):
            r.test_result_error = f"{self.prof.test_result} test results are not decoded"
            return
        try:
            result = decode_assert_result(bytes(f.payload), self.prof)
        except PayloadError as exc:
            r.test_result_error = str(exc)
            r.anomaly("payload-error", "bulk", f.offset, f"TEST: {exc}")
            return
        r.test_result = result
        r.verdict = result.verdict.value


def _exit(b: _Bulk, f: Frame) -> None:
    if f.crc_ok and f.length == 4:
        b.r.exit_code = decode_i32(bytes(f.payload))
        b.offsets["exit_code"] = [f.offset]
    elif f.crc_ok:
        b.r.anomaly("payload-error", "bulk", f.offset, f"EXIT payload of {f.length} bytes")


def _exec_exit(b: _Bulk, f: Frame) -> None:
    if f.crc_ok and f.length == 4:
        b.r.exec_exit_code = decode_i32(bytes(f.payload))
        b.offsets["exec_exit_code"] = [f.offset]


def _sched_exit(b: _Bulk, f: Frame) -> None:
    if not f.crc_ok:
        return  # upstream drops a CRC-bad SCDX entirely
    b.r.scheduler_died = True
    if f.length == 4:
        b.r.scheduler_exit_code = decode_i32(bytes(f.payload))
    b.seen("scheduler_died", f)


def _test(b: _Bulk, f: Frame) -> None:
    if f.crc_ok:
        b.test = f


def _lifecycle(b: _Bulk, f: Frame) -> None:
    life = b.decode(f, decode_lifecycle) if f.crc_ok else None
    if life is None:
        return
    b.r.lifecycle.append(LifecycleEvent(life.phase.name, life.reason, f.offset))
    b.seen("lifecycle", f)
    if life.phase is LifecyclePhase.SCHEDULER_DIED:
        b.r.scheduler_died = True
        b.seen("scheduler_died", f)
    elif life.phase is LifecyclePhase.SCHEDULER_NOT_ATTACHED:
        b.r.scheduler_not_attached = life.reason or "not attached"
        b.seen("scheduler_not_attached", f)


def _collector(attr: str, name: str, crc_only: bool = False) -> Any:
    def collect(b: _Bulk, f: Frame) -> None:
        if crc_only and (not f.crc_ok or not f.length):
            return
        getattr(b, attr).append(bytes(f.payload))
        b.seen(name, f)

    return collect


def _decoded(decode: Any, target: str, name: str) -> Any:
    def handle(b: _Bulk, f: Frame) -> None:
        value = b.decode(f, decode) if f.crc_ok else None
        if value is None:
            return
        getattr(b.r, target).append(value)
        b.seen(name, f)

    return handle


def _profraw(b: _Bulk, f: Frame) -> None:
    if f.crc_ok:
        b.r.profraw.append(Blob(bytes(f.payload)))
        b.seen("profraw", f)


def _wprof(b: _Bulk, f: Frame) -> None:
    b.wprof.append(f)


def _scenario(b: _Bulk, f: Frame) -> None:
    if not f.crc_ok:
        return
    s = b.r.scenario
    tag = f.tag
    try:
        if tag is MsgType.SCENARIO_START:
            s.setdefault("started", True)
        elif tag is MsgType.SCENARIO_PAUSE:
            s["pauses"] = s.get("pauses", 0) + 1
        elif tag is MsgType.SCENARIO_RESUME:
            s["resumes"] = s.get("resumes", 0) + 1
        elif tag is MsgType.SCENARIO_END:
            end = decode_scenario_end(bytes(f.payload), b.prof)
            s.update(ended=True, elapsed_ms=end.elapsed_ms, total_iterations=end.total_iterations)
        else:
            step = decode_stimulus(bytes(f.payload), b.prof)
            key = "steps" if tag is MsgType.STIMULUS else "step_ends"
            s.setdefault(key, []).append(to_jsonable(step))
    except PayloadError as exc:
        b.bad_payload(f, exc)
        return
    b.seen("scenario", f)


def _sys_rdy(b: _Bulk, f: Frame) -> None:
    if f.crc_ok and not f.length and not b.r.boot_complete:
        b.r.boot_complete = True
        b.seen("boot_complete", f)
    elif f.crc_ok and f.length:
        b.r.anomaly("ignored-frame", "bulk", f.offset, "SRDY with a payload is ignored")


def _kern_addrs(b: _Bulk, f: Frame) -> None:
    addrs = b.decode(f, lambda p: decode_kern_addrs(p, b.prof)) if f.crc_ok else None
    if addrs is None:
        return
    b.r.kern_addrs = {
        "phys_base": addrs.phys_base,
        "page_offset_base": addrs.page_offset_base,
        "text": addrs.text,
    }
    b.seen("kern_addrs", f)


def _rpc(b: _Bulk, f: Frame) -> None:
    if not f.crc_ok:
        b.r.anomaly("rpc-dropped", "bulk", f.offset, f"{f.label} with a bad CRC gets no reply")
        return
    snapshot = f.tag is MsgType.SNAPSHOT_REQUEST
    value: Any = b.decode(f, decode_snapshot_request if snapshot else decode_kernel_op_request)
    if value is None:
        return
    b.r.rpc_requests.append({"type": f.label, "request": to_jsonable(value), "offset": f.offset})
    b.seen("rpc_requests", f)


def _host_only(b: _Bulk, f: Frame) -> None:
    b.r.anomaly(
        "internal-frame",
        "bulk",
        f.offset,
        f"{f.label} is a host->guest reply; the host drops it from the guest",
    )


def _crash(b: _Bulk, f: Frame) -> None:
    b.r.anomaly("unexpected-frame", "bulk", f.offset, "CRSH is reserved and never sent")


def _ignore(b: _Bulk, f: Frame) -> None:
    return


_HANDLERS: dict[MsgType, Any] = {
    MsgType.EXIT: _exit,
    MsgType.EXEC_EXIT: _exec_exit,
    MsgType.SCHED_EXIT: _sched_exit,
    MsgType.TEST_RESULT: _test,
    MsgType.LIFECYCLE: _lifecycle,
    MsgType.STDOUT: _collector("stdout", "stdout"),
    MsgType.STDERR: _collector("stderr", "stderr"),
    MsgType.SCHED_LOG: _collector("sched_log", "sched_log"),
    MsgType.DMESG: _collector("dmesg", "dmesg", crc_only=True),
    MsgType.PROBE_OUTPUT: _collector("probe", "probe_output"),
    MsgType.PAYLOAD_METRICS: _decoded(decode_payload_metrics, "payload_metrics", "payload_metrics"),
    MsgType.RAW_PAYLOAD_OUTPUT: _decoded(
        decode_raw_payload_output, "raw_payload_outputs", "raw_payload_outputs"
    ),
    MsgType.PROFRAW: _profraw,
    MsgType.WPROF_TRACE: _wprof,
    MsgType.WPROF_TRACE_CHUNK: _wprof,
    MsgType.SCENARIO_START: _scenario,
    MsgType.SCENARIO_END: _scenario,
    MsgType.SCENARIO_PAUSE: _scenario,
    MsgType.SCENARIO_RESUME: _scenario,
    MsgType.STIMULUS: _scenario,
    MsgType.STEP_END: _scenario,
    MsgType.SYS_RDY: _sys_rdy,
    MsgType.KERN_ADDRS: _kern_addrs,
    MsgType.SNAPSHOT_REQUEST: _rpc,
    MsgType.KERNEL_OP_REQUEST: _rpc,
    MsgType.SNAPSHOT_REPLY: _host_only,
    MsgType.KERNEL_OP_REPLY: _host_only,
    MsgType.SCHED_SWAP_NOTIFY: _ignore,
    MsgType.CRASH: _crash,
}


def _bulk(r: RunResult, chunks: Iterable[bytes], prof: Profile) -> None:
    acc = _Bulk(r, prof)
    for event in _bulk_events(chunks, prof):
        if isinstance(event, Dropped):
            hdr = ""
            if event.msg_type is not None:
                hdr = f", header {tag_label(event.msg_type)} length {event.length}"
            r.anomaly(
                "dropped",
                "bulk",
                event.offset,
                f"{event.size} bytes dropped ({event.reason.value}{hdr})",
            )
        else:
            acc.frame(event)
    acc.finish()


def _between_markers(text: str) -> str:
    """The text between the first START and the last END marker (upstream's walker);
    the whole text when the markers are missing."""
    start = text.find(SCHED_OUTPUT_START)
    end = text.rfind(SCHED_OUTPUT_END)
    if start < 0 or end < start:
        return text
    return text[start + len(SCHED_OUTPUT_START) : end]


# ---- serial -----------------------------------------------------------------------------


SERIAL_FEED = 64 * 1024
"""Serial channels are decoded in feeds of this size (bounds the events held at once)."""


def _serial_events(channel: str, data: bytes, *, lines: bool) -> Iterator[SerialEvent]:
    """The events of one serial channel, streamed a feed at a time."""
    decoder = SerialDecoder(channel, lines=lines)  # type: ignore[arg-type]
    view = memoryview(data)
    for at in range(0, len(data), SERIAL_FEED):
        yield from decoder.feed(view[at : at + SERIAL_FEED])
    yield from decoder.close()


def _serial(r: RunResult, channel: str, data: bytes) -> str:
    """Decode one serial channel for events and return the host's captured text."""
    if not data:
        return ""
    for event in _serial_events(channel, data, lines=False):
        if isinstance(event, KernelPanic) and r.kernel_panic is None:
            r.kernel_panic = event.message
            r.cite("kernel_panic", channel, event.offset)
        elif isinstance(event, PanicHead) and channel == "com2":
            if "crash_message" not in r.provenance:  # the first PANIC: line is the one
                r.cite("crash_message", channel, event.offset)
        elif isinstance(event, FatalSignal) and channel == "com2" and r.fatal_signal is None:
            r.fatal_signal = {"signal": str(event.signal), "addr": f"0x{event.addr:016x}"}
            r.cite("fatal_signal", channel, event.offset)
        elif isinstance(event, DumpStart):
            r.cite("sched_ext_dump", channel, event.offset)
        elif isinstance(event, DumpEnd):
            r.dump_complete = True
            r.cite("sched_ext_dump", channel, event.offset)
        elif isinstance(event, DumpUnterminated):
            r.anomaly(
                "dump-unterminated",
                channel,
                event.offset,
                f"sched_ext dump without its end marker ({event.reason})",
            )
        elif isinstance(event, CaptureTruncated):
            r.anomaly(
                "capture-truncated",
                channel,
                event.offset,
                f"the host's 4 MiB capture window dropped {event.dropped} bytes; "
                f"it now starts at {event.window_start}",
            )
        elif isinstance(event, LineOverflow):
            r.anomaly(
                "line-overflow", channel, event.offset, f"line longer than {event.limit} bytes"
            )
    return decode_lossy(capture_window(data)[1])


def _console(r: RunResult, com1_text: str, com2_text: str) -> None:
    r.crash_message = extract_panic_message(com2_text)
    at = com2_text.find(INITRAMFS_FATAL_HEAD)
    if at >= 0:
        r.initramfs_fatal = com2_text[at:].split("\n", 1)[0].rstrip("\r")
    r.sched_ext_dump = extract_sched_ext_dump(com1_text)
    r.dump_exit_reason = extract_exit_from_dump_trace(com1_text)
    if r.sched_ext_dump or r.sched_log:
        r.bug_summary = extract_bug_summary(r.sched_ext_dump or "", r.sched_log)
    r.kernel_version = extract_kernel_version(com1_text) or None


# ---- legacy ktstr-0.4 (COM2 sentinels) ---------------------------------------------------


def _legacy(r: RunResult, com2: bytes, com2_text: str) -> None:
    """0.4.9: everything, stdout included, went to COM2 as sentinel lines."""
    r.stdout = com2_text
    lines = (
        (e.offset, e.text.rstrip("\r"))
        for e in _serial_events("com2", com2, lines=True)
        if isinstance(e, Line)
    )
    block: list[str] | None = None
    block_kind = ""
    blocks: dict[str, tuple[int, list[str]]] = {}
    block_start = 0
    markers = {
        TEST_RESULT_START: ("test", TEST_RESULT_END),
        SCHED_OUTPUT_START: ("sched", SCHED_OUTPUT_END),
        PROBE_OUTPUT_START: ("probe", PROBE_OUTPUT_END),
    }
    end_marker = ""
    for offset, raw in lines:
        text = raw.strip()
        if block is not None:
            if text == end_marker or text.endswith(end_marker):
                head = raw[: raw.rfind(end_marker)]
                if head.strip():
                    block.append(head)
                blocks[block_kind] = (block_start, block)
                block = None
            else:
                block.append(raw)
            continue
        if text in markers:
            block_kind, end_marker = markers[text]
            block, block_start = [], offset
        elif text == "KTSTR_INIT_STARTED":
            r.lifecycle.append(LifecycleEvent("INIT_STARTED", "", offset))
            r.cite("lifecycle", "com2", offset)
        elif text == "KTSTR_PAYLOAD_STARTING":
            r.lifecycle.append(LifecycleEvent("PAYLOAD_STARTING", "", offset))
            r.cite("lifecycle", "com2", offset)
        elif text == "SCHEDULER_DIED":
            r.scheduler_died = True
            r.lifecycle.append(LifecycleEvent("SCHEDULER_DIED", "", offset))
            r.cite("scheduler_died", "com2", offset)
        elif text.startswith("SCHEDULER_NOT_ATTACHED"):
            reason = text.partition(":")[2].strip() or "not attached"
            r.scheduler_not_attached = reason
            r.lifecycle.append(LifecycleEvent("SCHEDULER_NOT_ATTACHED", reason, offset))
            r.cite("scheduler_not_attached", "com2", offset)
        elif text.startswith(("KTSTR_EXIT=", "STT_EXIT=")):
            code = _int(text.partition("=")[2])
            if code is None:
                r.anomaly("bad-sentinel", "com2", offset, f"unparsable exit line {text!r}")
            else:
                r.exit_code = code
                r.provenance["exit_code"] = []
                r.cite("exit_code", "com2", offset)
        elif text.startswith("KTSTR_EXEC_EXIT="):
            code = _int(text.partition("=")[2])
            if code is not None:
                r.exec_exit_code = code
                r.provenance["exec_exit_code"] = []
                r.cite("exec_exit_code", "com2", offset)
    if block is not None:
        r.anomaly(
            "unterminated-block", "com2", block_start, f"{block_kind} block without its end marker"
        )
    if "sched" in blocks:
        r.sched_log = "\n".join(blocks["sched"][1])
        r.cite("sched_log", "com2", blocks["sched"][0])
    if "probe" in blocks:
        r.probe_output = "\n".join(blocks["probe"][1])
        r.cite("probe_output", "com2", blocks["probe"][0])
    if "test" in blocks:
        _legacy_test_result(r, *blocks["test"])


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _legacy_test_result(r: RunResult, offset: int, lines: list[str]) -> None:
    r.cite("verdict", "com2", offset)
    try:
        doc = json.loads("\n".join(lines))
    except json.JSONDecodeError as exc:
        r.test_result_error = f"test result is not JSON: {exc.msg} at line {exc.lineno}"
        r.anomaly("payload-error", "com2", offset, r.test_result_error)
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("passed"), bool):
        r.test_result_error = "test result JSON lacks a boolean 'passed'"
        r.anomaly("payload-error", "com2", offset, r.test_result_error)
        return
    r.test_result = doc
    if doc.get("skipped") is True:
        r.verdict = "Skip"
    else:
        r.verdict = "Pass" if doc["passed"] else "Fail"


# ---- host side and the decision ----------------------------------------------------------


MAX_WAKE_BYTES = 64


def _host_side(r: RunResult, marks: list[Mark], hvc0_h2g: bytes) -> None:
    r.wake_bytes = list(hvc0_h2g[:MAX_WAKE_BYTES])
    # In test mode a 0xD3 is the watchdog's soft deadline; in shell mode (an EXCX
    # frame) hvc0 carries the user's keystrokes, where 0xD3 is just a UTF-8 byte.
    if r.exec_exit_code is None and WakeByte.SHUTDOWN in hvc0_h2g:
        r.timed_out = True
        r.cite("timed_out", "hvc0", hvc0_h2g.index(WakeByte.SHUTDOWN))
    for m in marks:
        if m.name == "timeout" or (m.name == "vm-exit" and m.data.get("timed_out")):
            r.timed_out = True


def _stage(r: RunResult) -> str | None:
    phases = {e.phase for e in r.lifecycle}
    if "INIT_STARTED" not in phases:
        return STAGE_INIT_NOT_STARTED
    if "PAYLOAD_STARTING" not in phases:
        return STAGE_INIT_STARTED_NO_PAYLOAD
    if r.verdict is None:
        return STAGE_PAYLOAD_STARTED_NO_RESULT
    return None


def _decide(r: RunResult, com1_text: str, *, legacy: bool) -> None:
    reasons = r.reasons
    if r.kernel_panic:
        reasons.append(f"kernel panic: {r.kernel_panic}")
    if r.initramfs_fatal:
        reasons.append("initramfs extraction incomplete (the guest ran out of memory)")
    if r.crash_message:
        reasons.append(f"guest crashed: {r.crash_message}")
    elif r.fatal_signal:
        reasons.append(f"guest crashed: fatal signal {r.fatal_signal['signal']}")
    if r.timed_out:
        reasons.append("timed out")
    if r.scheduler_not_attached:
        reasons.append(f"scheduler did not attach: {r.scheduler_not_attached}")
    elif r.scheduler_died:
        code = r.scheduler_exit_code
        reasons.append("scheduler died" + (f" (exit code {code})" if code is not None else ""))
    if r.exec_exit_code is not None:
        if r.exec_exit_code != 0:
            reasons.append(f"exec command exited with {r.exec_exit_code}")
    else:
        if r.exit_code is None:
            reasons.append("no exit code: the guest never reported one")
        elif r.exit_code != 0:
            reasons.append(f"guest exited with code {r.exit_code}")
        if r.verdict is None:
            why = f" ({r.test_result_error})" if r.test_result_error else ""
            reasons.append("no test result" + why)
        elif r.verdict in ("Fail", "Inconclusive"):
            reasons.append(f"test verdict: {r.verdict}" + _first_detail(r))
    if reasons:
        r.status = Status.FAIL
        r.stage = _stage(r) if r.exec_exit_code is None else None
        code = r.exit_code if r.exit_code is not None else 0
        r.diagnostics = format_console_diagnostics(com1_text, code, r.stage or "payload completed")
    else:
        r.status = Status.SKIP if r.verdict == "Skip" else Status.PASS


def _first_detail(r: RunResult) -> str:
    result = r.test_result
    outcomes = getattr(result, "outcomes", ())
    for outcome in outcomes:
        if outcome.kind.value in ("Fail", "Inconclusive") and outcome.detail is not None:
            return f": {outcome.detail.message}"
    if isinstance(result, dict):
        for d in result.get("details", []) or []:
            if isinstance(d, dict) and d.get("message"):
                return f": {d['message']}"
    return ""
