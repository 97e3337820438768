"""The bulk-derived fields of a run, accumulated frame by frame in bounded memory.

Upstream's ``collect_results`` (@1f3b340c) and the frame dispatch of the freeze
coordinator: each frame is handled as it arrives; large texts are kept as
:class:`~ktstr_host.decode.bounded_text.BoundedText` (whole in ``report --full`` files), lists and
citations are capped, the scans over upstream's ``output`` run as streams.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from ktstr_proto.channels import BULK, COM2
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
from ktstr_proto.profiles import Profile
from ktstr_proto.schemas import (
    decode_assert_result_prefix,
    decode_kernel_op_request,
    decode_payload_metrics,
    decode_raw_payload_output,
    to_jsonable,
)
from ktstr_proto.serial import decode_lossy
from ktstr_proto.tags import MsgType, tag_label

from ..decode.bounded_text import BoundedText
from ..decode.events import Dropped, Frame
from ..decode.output_scan import FirstPanicLine, SchedOutputScan
from .full_output import SCHED_LOG_FILE, FullOutput
from .result import Blob, LifecycleEvent, RunResult

T = TypeVar("T")

LIST_LIMIT = 4096
"""Entries a list field keeps (lifecycle, metrics, steps, ...); later ones are counted."""
CITE_LIMIT = 4096
"""Offsets a field's provenance keeps; later ones are counted."""
BLOB_KEEP = 16 << 20
"""Bytes of a binary artefact kept in memory (its size and SHA-256 always cover all)."""

TEXT_FIELDS = ("stdout", "stderr", "sched_log", "dmesg", "probe_output")
"""The bulk text fields; ``report --full`` writes each whole to its own file."""


class BlobBuilder:
    """A binary artefact built from parts: size and SHA-256 of all, bytes up to
    :data:`BLOB_KEEP`, everything to ``spill`` when given."""

    def __init__(self, spill: BinaryIO | None = None) -> None:
        self._hash = hashlib.sha256()
        self._data = bytearray()
        self._size = 0
        self._spill = spill

    def add(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self._size += len(data)
        if self._size <= BLOB_KEEP:
            self._data += data
        if self._spill is not None:
            self._spill.write(data)

    def blob(self) -> Blob:
        data = bytes(self._data) if self._size <= BLOB_KEEP else None
        return Blob(data, self._size, self._hash.hexdigest())


class _Wprof:
    """WPRC chunks then the terminal WPRF (bulk.md 5): no trace if any wprof frame is
    CRC-bad or no terminal frame came."""

    def __init__(self, spill: BinaryIO | None) -> None:
        self.blob = BlobBuilder(spill)
        self.offsets: list[int] = []
        self.last_offset: int | None = None
        self.bad_at: int | None = None
        self.complete = False

    def frame(self, f: Frame) -> None:
        self.last_offset = f.offset
        if not f.crc_ok and self.bad_at is None:
            self.bad_at = f.offset
        if self.complete or self.bad_at is not None:
            return
        self.blob.add(f.payload)
        if len(self.offsets) < CITE_LIMIT:
            self.offsets.append(f.offset)
        self.complete = f.tag is MsgType.WPROF_TRACE

    def into(self, r: RunResult) -> None:
        if self.last_offset is None:
            return
        if self.bad_at is not None:
            r.anomaly("wprof-dropped", BULK, self.bad_at, "a wprof frame failed its CRC: no trace")
        elif not self.complete:
            r.anomaly(
                "wprof-dropped",
                BULK,
                self.last_offset,
                "wprof chunks without a terminal WPRF frame: no trace",
            )
        else:
            r.wprof = self.blob.blob()
            r.cite("wprof", BULK, *self.offsets)


class _Bulk:
    """Accumulates the bulk-derived fields of one run: ``r`` holds the facts known so
    far; :meth:`into` writes the finished fields into a result."""

    def __init__(self, prof: Profile, full: FullOutput | None = None) -> None:
        self.r = RunResult(prof.name)
        self.prof = prof
        self.full = full
        self.test: tuple[int, bytes] | None = None
        self.texts: dict[str, BoundedText] = {}
        self.output_crash = FirstPanicLine()
        """``extract_panic_message`` over upstream's ``output`` (SOUT and SERR)."""
        self.output_sched = SchedOutputScan()
        """``parse_sched_output`` over ``output``: the scheduler log without SCLG."""
        self.sclg = SchedOutputScan(self.spill(SCHED_LOG_FILE))
        self.sclg_bytes = 0
        self.sclg_first: int | None = None
        self.wprof = _Wprof(self.spill("wprof.bin"))
        self.offsets: dict[str, list[int]] = {}
        self.extra_offsets: dict[str, int] = {}

    def spill(self, name: str) -> BinaryIO | None:
        """A file for a field's whole content under ``report --full`` (else None)."""
        return self.full.open(name) if self.full is not None else None

    def sched_log_bytes(self) -> int | None:
        """How much of the SCLG stream the scheduler log is (None: no log from SCLG)."""
        return self.sclg.committed_bytes if self.sclg_bytes and self.sclg.ended else None

    def seen(self, name: str, frame: Frame) -> None:
        offs = self.offsets.setdefault(name, [])
        if len(offs) < CITE_LIMIT:
            offs.append(frame.offset)
        else:
            self.extra_offsets[name] = self.extra_offsets.get(name, 0) + 1

    def keep(self, target: list[Any], item: Any, frame: Frame) -> None:
        """Append to a list field, up to :data:`LIST_LIMIT` entries."""
        if len(target) < LIST_LIMIT:
            target.append(item)
        else:
            self.r.anomaly(
                "list-full", BULK, frame.offset, f"{frame.label}: more than {LIST_LIMIT} kept"
            )

    def text(self, field: str, f: Frame) -> None:
        """Add a frame's payload to a text field (and to upstream's output scans)."""
        payload = bytes(f.payload)
        if field == "sched_log":
            self.sclg.feed(payload)
            self.sclg_bytes += len(payload)
            if self.sclg_first is None:
                self.sclg_first = f.offset
            return
        text = self.texts.get(field)
        if text is None:
            text = self.texts[field] = BoundedText(spill=self.spill(field + ".txt"))
        elif field == "dmesg":
            text.append(b"\n")  # DMSG payloads are joined with LF
        text.append(payload)
        if field in ("stdout", "stderr"):
            self.output_crash.feed(f.offset, payload)
            self.output_sched.feed(payload)

    def bad_payload(self, frame: Frame, exc: PayloadError) -> None:
        self.r.anomaly("payload-error", BULK, frame.offset, f"{frame.label}: {exc}")

    def decode(self, frame: Frame, decode: Callable[[bytes], T]) -> T | None:
        """The frame's payload decoded, or ``None`` (a payload-error anomaly recorded)."""
        try:
            return decode(bytes(frame.payload))
        except PayloadError as exc:
            self.bad_payload(frame, exc)
            return None

    def event(self, event: Frame | Dropped) -> None:
        if isinstance(event, Dropped):
            hdr = ""
            if event.msg_type is not None:
                hdr = f", header {tag_label(event.msg_type)} length {event.length}"
            self.r.anomaly(
                "dropped",
                BULK,
                event.offset,
                f"{event.size} bytes dropped ({event.reason.value}{hdr})",
            )
        else:
            self.frame(event)

    def frame(self, f: Frame) -> None:
        r = self.r
        if not f.crc_ok:
            r.anomaly(
                "crc-mismatch",
                BULK,
                f.offset,
                f"{f.label} frame of {f.length} bytes: header CRC 0x{f.crc32:08x} does "
                "not match the payload",
            )
        if f.pad:
            r.anomaly("nonzero-pad", BULK, f.offset, f"{f.label} frame has _pad=0x{f.pad:x}")
        if f.tag is None:
            r.anomaly(
                "unknown-tag",
                BULK,
                f.offset,
                f"unknown tag {tag_label(f.msg_type)} ({f.length} bytes), dropped",
            )
            return
        handler = _HANDLERS.get(f.tag)
        if handler is not None:
            handler(self, f)

    def into(self, r: RunResult, com2_text: str, com2_panic_at: int | None) -> None:
        """Write the bulk-derived fields into ``r`` (nothing here changes)."""
        r.merge(self.r)
        for name, offs in self.offsets.items():
            r.cite(name, BULK, *offs)
        for name, more in self.extra_offsets.items():
            r.anomaly("cites-full", BULK, None, f"{name}: {more} more frame offsets not listed")
        for field in ("stdout", "stderr"):
            text = self.texts.get(field)
            setattr(r, field, text.text() if text else "")
        if "dmesg" in self.texts:
            r.dmesg = self.texts["dmesg"].text()
        if "probe_output" in self.texts:
            r.probe_output = self.texts["probe_output"].text()
        r.omitted = {field: text.left_out for field, text in self.texts.items() if text.left_out}
        self.wprof.into(r)
        self._test_result(r)
        self._output_fields(r, com2_text, com2_panic_at)

    def _test_result(self, r: RunResult) -> None:
        if self.test is None:
            return
        offset, payload = self.test
        r.cite("verdict", BULK, offset)
        if self.prof.test_result not in ("postcard-e4", "postcard-e3"):
            r.test_result_error = f"{self.prof.test_result} test results are not decoded"
            return
        try:
            result, trailing = decode_assert_result_prefix(payload, self.prof)
        except PayloadError as exc:
            r.test_result_error = str(exc)
            r.anomaly("payload-error", BULK, offset, f"TEST: {exc}")
            return
        if trailing:
            r.anomaly(
                "trailing-bytes",
                BULK,
                offset,
                f"TEST: {trailing} bytes after a complete AssertResult (postcard::from_bytes "
                "ignores them)",
            )
        r.test_result = result
        r.verdict = result.verdict.value

    def _output_fields(self, r: RunResult, com2_text: str, com2_panic_at: int | None) -> None:
        """The fields upstream reads from ``output`` (CRC-good SOUT and SERR in arrival
        order, then COM2, as ``collect_results`` builds it): the crash message and, when
        no scheduler log frames arrived, the scheduler log."""
        crash = self.output_crash.finish_with(com2_text)
        if crash is not None:
            r.crash_message, at = crash
            if at is None:
                r.cite("crash_message", COM2, com2_panic_at if com2_panic_at is not None else 0)
            else:
                r.cite("crash_message", BULK, at)
        output_sched = self.output_sched.copy()
        output_sched.feed(com2_text.encode())
        r.has_sched_output = self.sclg.seen_start or output_sched.seen_start
        chosen = self.sclg if self.sclg_bytes else output_sched
        r.sched_log = chosen.result()
        if chosen.left_out:
            r.omitted["sched_log"] = chosen.left_out
        if self.sclg_first is not None and r.sched_log is None:
            r.anomaly(
                "sched-log-dropped",
                BULK,
                self.sclg_first,
                "scheduler log frames without both markers or with nothing between them: "
                "the host shows no scheduler log",
            )


def _exit(b: _Bulk, f: Frame) -> None:
    if f.crc_ok and f.length == 4:
        b.r.exit_code = decode_i32(bytes(f.payload))
        b.offsets["exit_code"] = [f.offset]
    elif f.crc_ok:
        b.r.anomaly("payload-error", BULK, f.offset, f"EXIT payload of {f.length} bytes")


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
        b.test = (f.offset, bytes(f.payload))


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
    b.keep(b.r.lifecycle, LifecycleEvent(life.phase.name, life.reason, f.offset), f)
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
        b.text(attr, f)
        b.seen(name, f)

    return collect


def _decoded(decode: Any, target: str, name: str) -> Any:
    def handle(b: _Bulk, f: Frame) -> None:
        value = b.decode(f, decode) if f.crc_ok else None
        if value is None:
            return
        b.keep(getattr(b.r, target), value, f)
        b.seen(name, f)

    return handle


def _profraw(b: _Bulk, f: Frame) -> None:
    if f.crc_ok:
        blob = BlobBuilder(b.spill(f"profraw-{f.offset}.bin"))
        blob.add(f.payload)
        b.keep(b.r.profraw, blob.blob(), f)
        b.seen("profraw", f)


def _wprof(b: _Bulk, f: Frame) -> None:
    b.wprof.frame(f)


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
            b.keep(s.setdefault(key, []), to_jsonable(step), f)
    except PayloadError as exc:
        b.bad_payload(f, exc)
        return
    b.seen("scenario", f)


def _sys_rdy(b: _Bulk, f: Frame) -> None:
    if f.crc_ok and not f.length and not b.r.boot_complete:
        b.r.boot_complete = True
        b.seen("boot_complete", f)
    elif f.crc_ok and f.length:
        b.r.anomaly("ignored-frame", BULK, f.offset, "SRDY with a payload is ignored")


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
        b.r.anomaly("rpc-dropped", BULK, f.offset, f"{f.label} with a bad CRC gets no reply")
        return
    snapshot = f.tag is MsgType.SNAPSHOT_REQUEST
    value: Any = b.decode(f, decode_snapshot_request if snapshot else decode_kernel_op_request)
    if value is None:
        return
    b.keep(
        b.r.rpc_requests, {"type": f.label, "request": to_jsonable(value), "offset": f.offset}, f
    )
    b.seen("rpc_requests", f)


def _host_only(b: _Bulk, f: Frame) -> None:
    b.r.anomaly(
        "internal-frame",
        BULK,
        f.offset,
        f"{f.label} is a host->guest reply; the host drops it from the guest",
    )


def _crash(b: _Bulk, f: Frame) -> None:
    b.r.anomaly("unexpected-frame", BULK, f.offset, "CRSH is reserved and never sent")


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
    MsgType.PROBE_OUTPUT: _collector("probe_output", "probe_output"),
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
