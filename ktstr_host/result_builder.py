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
    Lifecycle,
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
    decode_assert_result_prefix,
    decode_kernel_op_request,
    decode_payload_metrics,
    decode_raw_payload_output,
    to_jsonable,
)
from ktstr_proto.serial import (
    INITRAMFS_FATAL,
    PANIC_PREFIX,
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
    rust_trim,
)
from ktstr_proto.tags import MsgType, tag_label
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

from .bulk import BulkDecoder, scan_tlv_stream
from .events import BulkEvent, Dropped, Frame
from .extractors import (
    extract_bug_summary,
    extract_dump_exit_kind,
    extract_dump_trigger,
    extract_exit_from_dump_trace,
    extract_kernel_version,
    extract_panic_message,
    extract_sched_ext_dump,
    format_console_diagnostics,
)
from .kmsg import parse_kmsg_window
from .result import Blob, LifecycleEvent, RunResult, Status
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
    capture_window,
)
from .transcript_io import Transcript

T = TypeVar("T")

INITRAMFS_FATAL_HEAD = INITRAMFS_FATAL.split("\u2014", 1)[0].rstrip()


def build_run_result(transcript: Transcript, profile: str | Profile | None = None) -> RunResult:
    """The run result of a recorded (or synthetic) run."""
    prof = get_profile(profile if profile is not None else transcript.header.profile)
    r = RunResult(prof.name)
    bulk_chunks = [
        c.data for c in transcript.chunks if c.channel == "bulk" and c.direction == "g2h"
    ]
    com1 = transcript.channel_bytes("com1") if "com1" in transcript.header.channels else b""
    com2 = transcript.channel_bytes("com2") if "com2" in transcript.header.channels else b""
    r.bulk_bytes = sum(len(c) for c in bulk_chunks)
    r.com1_bytes, r.com2_bytes = len(com1), len(com2)
    com1_text, _ = _serial(r, "com1", com1)
    com2_text, com2_panic_at = _serial(r, "com2", com2)
    if prof.transport == "bulk":
        acc = _bulk(r, bulk_chunks, prof)
        _output_fields(r, acc, com2_text, com2_panic_at)
    else:
        _legacy(r, com2, com2_text)
    _console(r, com1_text, com2_text)
    hvc0 = transcript.channel_bytes("hvc0", "h2g") if "hvc0" in transcript.header.channels else b""
    _host_side(r, transcript.marks, hvc0)
    if transcript.truncated:
        r.anomaly("transcript-truncated", "transcript", None, transcript.truncated)
    _exit_code(r)
    _decide(r, com1_text, prof)
    return r


# ---- bulk -----------------------------------------------------------------------------


def _bulk_events(chunks: Iterable[bytes], prof: Profile) -> list[BulkEvent]:
    decoder = BulkDecoder(prof)
    events: list[BulkEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    base = decoder.offset - decoder.pending
    residual = decoder.take_residual()
    for e in scan_tlv_stream(residual, prof):
        events.append(e._replace(offset=e.offset + base))
    return events


class _Bulk:
    """Accumulates the bulk-derived fields of one run."""

    def __init__(self, r: RunResult, prof: Profile) -> None:
        self.r = r
        self.prof = prof
        self.test: Frame | None = None
        self.stdout: list[tuple[int, bytes]] = []
        self.stderr: list[tuple[int, bytes]] = []
        self.output: list[tuple[int, bytes]] = []
        """CRC-good SOUT and SERR payloads in arrival order (upstream's ``output``)."""
        self.sched_log: list[tuple[int, bytes]] = []
        self.dmesg: list[tuple[int, bytes]] = []
        self.probe: list[tuple[int, bytes]] = []
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
        r.stdout = _text(self.stdout)
        r.stderr = _text(self.stderr)
        if self.dmesg:
            r.dmesg = "\n".join(decode_lossy(d) for _, d in self.dmesg)
        if self.probe:
            r.probe_output = _text(self.probe)
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
            result, trailing = decode_assert_result_prefix(bytes(f.payload), self.prof)
        except PayloadError as exc:
            r.test_result_error = str(exc)
            r.anomaly("payload-error", "bulk", f.offset, f"TEST: {exc}")
            return
        if trailing:
            r.anomaly(
                "trailing-bytes",
                "bulk",
                f.offset,
                f"TEST: {trailing} bytes after a complete AssertResult (postcard::from_bytes "
                "ignores them)",
            )
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
    """Classified by the first payload byte alone; a reason that is not UTF-8 is decoded
    lossily (and reported), never a reason to drop the frame."""
    if not f.crc_ok:
        return
    payload = bytes(f.payload)
    try:
        phase = LifecyclePhase(payload[0]) if payload else None
    except ValueError:
        phase = None
    if phase is None:
        b.bad_payload(f, PayloadError("no valid lifecycle phase in byte 0", field="phase"))
        return
    try:
        reason = decode_lifecycle(payload).reason
    except PayloadError as exc:
        b.bad_payload(f, exc)
        reason = decode_lossy(payload[1:])
    life = Lifecycle(phase, reason)
    b.r.lifecycle.append(LifecycleEvent(life.phase.name, life.reason, f.offset))
    b.seen("lifecycle", f)
    if life.phase is LifecyclePhase.SCHEDULER_DIED:
        b.r.scheduler_died = True
        b.seen("scheduler_died", f)
    elif life.phase is LifecyclePhase.SCHEDULER_NOT_ATTACHED:
        b.r.scheduler_not_attached = life.reason or "not attached"
        b.seen("scheduler_not_attached", f)


def _collector(attr: str, name: str, *, crc_only: bool = False, skip_empty: bool = False) -> Any:
    """Collect the payloads of one tag. ``crc_only``: CRC-bad frames stay anomalies and
    never reach the text (``collect_results``, ``concat_sched_log_chunks``)."""

    def collect(b: _Bulk, f: Frame) -> None:
        if (crc_only and not f.crc_ok) or (skip_empty and not f.length):
            return
        part = (f.offset, bytes(f.payload))
        getattr(b, attr).append(part)
        if attr in ("stdout", "stderr"):
            b.output.append(part)
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
    MsgType.STDOUT: _collector("stdout", "stdout", crc_only=True),
    MsgType.STDERR: _collector("stderr", "stderr", crc_only=True),
    MsgType.SCHED_LOG: _collector("sched_log", "sched_log", crc_only=True),
    MsgType.DMESG: _collector("dmesg", "dmesg", crc_only=True, skip_empty=True),
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


def _bulk(r: RunResult, chunks: list[bytes], prof: Profile) -> _Bulk:
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
    return acc


COM2_PART = -1
"""Stands for the COM2 capture appended to the bulk output in :func:`_output_fields`."""


def _output_fields(r: RunResult, acc: _Bulk, com2_text: str, com2_panic_at: int | None) -> None:
    """The fields upstream reads from ``output`` (CRC-good SOUT and SERR in arrival
    order, then COM2, as ``collect_results`` builds it): the crash message and, when no
    scheduler log frames arrived, the scheduler log."""
    parts = [*acc.output, (COM2_PART, com2_text.encode())]
    output = _text(parts)
    r.crash_message = extract_panic_message(output)
    if r.crash_message is not None:
        at = next(
            off
            for off, line in _lines_with_frames(parts)
            if rust_trim(decode_lossy(line)).startswith(PANIC_PREFIX)
        )
        if at == COM2_PART:
            r.cite("crash_message", "com2", com2_panic_at if com2_panic_at is not None else 0)
        else:
            r.cite("crash_message", "bulk", at)
    sched_text = _text(acc.sched_log)
    r.has_sched_output = SCHED_OUTPUT_START in output or SCHED_OUTPUT_START in sched_text
    r.sched_log = parse_sched_output(sched_text or output)
    if acc.sched_log and r.sched_log is None:
        r.anomaly(
            "sched-log-dropped",
            "bulk",
            acc.sched_log[0][0],
            "scheduler log frames without both markers or with nothing between them: "
            "the host shows no scheduler log",
        )


def _text(parts: list[tuple[int, bytes]]) -> str:
    return decode_lossy(b"".join(p for _, p in parts))


def parse_sched_output(text: str) -> str | None:
    """Upstream's ``parse_sched_output``: the text from the first START marker to the
    last END marker, trimmed; None when a marker is missing or nothing is between."""
    start = text.find(SCHED_OUTPUT_START)
    if start < 0:
        return None
    start += len(SCHED_OUTPUT_START)
    end = text.rfind(SCHED_OUTPUT_END)
    if end < start:
        return None
    body = rust_trim(text[start:end])
    return body or None


def _lines_with_frames(parts: list[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """The LF-separated lines of the concatenated payloads, each with the offset of the
    frame it starts in."""
    joined = b"".join(p for _, p in parts)
    starts: list[tuple[int, int]] = []  # (byte position, frame offset)
    position = 0
    for frame_offset, payload in parts:
        starts.append((position, frame_offset))
        position += len(payload)
    index, begin = 0, 0
    while begin <= len(joined):
        end = joined.find(b"\n", begin)
        end = len(joined) if end < 0 else end
        while index + 1 < len(starts) and starts[index + 1][0] <= begin:
            index += 1
        yield starts[index][1], joined[begin:end]
        begin = end + 1


# ---- serial -----------------------------------------------------------------------------


def _serial(r: RunResult, channel: str, data: bytes) -> tuple[str, int | None]:
    """Decode one serial channel for events; return the host's captured text and the
    offset of the first ``PANIC:`` line."""
    if not data:
        return "", None
    panic_at: int | None = None
    decoder = SerialDecoder(channel)  # type: ignore[arg-type]
    for event in decoder.feed(data) + decoder.close():
        if isinstance(event, KernelPanic) and r.kernel_panic is None:
            r.kernel_panic = event.message
            r.cite("kernel_panic", channel, event.offset)
        elif isinstance(event, PanicHead) and panic_at is None:
            panic_at = event.offset
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
    return decode_lossy(capture_window(data)[1]), panic_at


def _console(r: RunResult, com1_text: str, com2_text: str) -> None:
    at = com2_text.find(INITRAMFS_FATAL_HEAD)
    if at >= 0:
        r.initramfs_fatal = com2_text[at:].split("\n", 1)[0].rstrip("\r")
    r.sched_ext_dump = extract_sched_ext_dump(com1_text)
    r.dump_exit_reason = extract_exit_from_dump_trace(com1_text)
    r.dump_exit_kind = extract_dump_exit_kind(com1_text)
    r.dump_trigger = extract_dump_trigger(com1_text)
    if r.sched_ext_dump or r.sched_log:
        r.bug_summary = extract_bug_summary(r.sched_ext_dump or "", r.sched_log)
    r.kernel_version = extract_kernel_version(com1_text) or None


# ---- legacy ktstr-0.4 (COM2 sentinels) ---------------------------------------------------


def _legacy(r: RunResult, com2: bytes, com2_text: str) -> None:
    """0.4.9: everything, stdout included, went to COM2 as sentinel lines."""
    r.stdout = com2_text
    lines: list[tuple[int, str]] = []
    decoder = SerialDecoder("com2")
    for event in decoder.feed(com2) + decoder.close():
        if isinstance(event, Line):
            lines.append((event.offset, event.text.rstrip("\r")))
    r.crash_message = extract_panic_message(com2_text, contains=True)
    crash_at = next((off for off, text in lines if PANIC_PREFIX in text), None)
    if r.crash_message is not None and crash_at is not None:
        r.cite("crash_message", "com2", crash_at)
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
    r.has_sched_output = SCHED_OUTPUT_START in com2_text
    r.sched_log = parse_sched_output(com2_text)
    if "sched" in blocks and r.sched_log is not None:
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
    if not doc["passed"]:
        r.verdict = "Fail"  # 0.4.9 decides on `passed` alone: `skipped` cannot rescue it
    else:
        r.verdict = "Skip" if doc.get("skipped") is True else "Pass"


# ---- host side and the decision ----------------------------------------------------------


MAX_WAKE_BYTES = 64


def _host_side(r: RunResult, marks: list[Mark], hvc0_h2g: bytes) -> None:
    r.wake_bytes = list(hvc0_h2g[:MAX_WAKE_BYTES])
    # A 0xD3 is the watchdog's soft deadline: it asks the guest to drain and keeps it
    # running. Only the hard deadline times a run out, and only the recorder knows it.
    if r.exec_exit_code is None and WakeByte.SHUTDOWN in hvc0_h2g:
        at = hvc0_h2g.index(WakeByte.SHUTDOWN)
        r.context.append(f"0xD3 soft-deadline wake byte @ hvc0 {at} (not a timeout)")
    for index, m in enumerate(marks):
        if m.name == TIMEOUT_MARK or (m.name == VM_EXIT_MARK and m.data.get("timed_out")):
            r.timed_out = True
            r.cite("timed_out", "marks", index)
        if m.name == VM_EXIT_MARK and isinstance(m.data.get("killed"), str):
            r.host_killed = m.data["killed"]
        if m.name == VM_EXIT_MARK:
            r.vm_exit_recorded = True


def _exit_code(r: RunResult) -> None:
    """Upstream's ``VmResult.exit_code``: the last CRC-good EXIT frame; without one, the
    run loop's -1 when the host ended the run (hard deadline, scheduler-exit kill,
    kernel-panic latch). A guest that powered off without EXIT gives 0 or -1 upstream,
    depending on which vCPU saw the reset first: a transcript cannot tell."""
    if r.exit_code is not None:
        src = r.provenance.get("exit_code", [])
        label = "EXIT frame" if not src or src[-1].channel == "bulk" else "exit sentinel line"
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


def _decide(r: RunResult, com1_text: str, prof: Profile) -> None:
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
    what = "TEST" if not src or src[-1].channel == "bulk" else "the result JSON"
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
