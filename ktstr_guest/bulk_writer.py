"""The bytes a ktstr guest writes to the bulk port, as pure data (bulk.md section 5).

:class:`GuestBulkWriter` returns, for each message, exactly the frame bytes the guest's
``guest_comms`` emits under a profile, chunked the way its callers chunk:
stdout/stderr at 4096 bytes per frame, the scheduler log at 64 KiB between the
``===SCHED_OUTPUT_START===`` / ``===SCHED_OUTPUT_END===`` marker frames, wprof as one
frame or (``ktstr-0.20`` and later) cap-sized WPRC chunks plus a terminal WPRF.
:class:`HostReplyWriter` builds the host's replies on the same port.
"""

from __future__ import annotations

from collections.abc import Iterator

from ktstr_proto import serial
from ktstr_proto.errors import UsageError
from ktstr_proto.frame import build_frame
from ktstr_proto.payloads import (
    KernAddrs,
    Lifecycle,
    LifecyclePhase,
    ScenarioEnd,
    SnapshotKind,
    SnapshotReply,
    SnapshotRequest,
    SnapshotStatus,
    Stimulus,
    encode_i32,
    encode_kern_addrs,
    encode_lifecycle,
    encode_scenario_end,
    encode_snapshot_reply,
    encode_snapshot_request,
    encode_stimulus,
)
from ktstr_proto.profiles import Profile, get_profile
from ktstr_proto.tags import MsgType

STDIO_CHUNK_BYTES = 4096
SCHED_LOG_CHUNK_BYTES = 64 * 1024
SCHED_OUTPUT_START = serial.SCHED_OUTPUT_START.encode()
SCHED_OUTPUT_END = serial.SCHED_OUTPUT_END.encode()


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """Split ``data`` into consecutive slices of at most ``size`` bytes."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


class GuestBulkWriter:
    """Frame bytes for every guest->host bulk message under one profile."""

    def __init__(self, profile: str | Profile | None = None) -> None:
        self.profile = get_profile(profile)
        if self.profile.transport != "bulk":
            raise UsageError(f"profile {self.profile.name!r} has no bulk channel")
        self._next_request_id = 1

    # ---- exit codes and lifecycle ----------------------------------------------------

    def exit(self, code: int) -> bytes:
        """EXIT: the guest's exit code, sent right before reboot."""
        return build_frame(MsgType.EXIT, encode_i32(code))

    def sched_exit(self, code: int) -> bytes:
        """SCDX: the scheduler process exited with ``code``."""
        return build_frame(MsgType.SCHED_EXIT, encode_i32(code))

    def exec_exit(self, code: int) -> bytes:
        """EXCX: exit code of the ``shell --exec`` command."""
        return build_frame(MsgType.EXEC_EXIT, encode_i32(code))

    def lifecycle(self, phase: LifecyclePhase | int, reason: str = "") -> bytes:
        """LIFE: a phase byte and a reason (only phase 4 carries one upstream)."""
        try:
            value = LifecyclePhase(phase)
        except ValueError:
            raise UsageError(f"lifecycle phase must be 1..4, got {phase!r}") from None
        return build_frame(MsgType.LIFECYCLE, encode_lifecycle(Lifecycle(value, reason)))

    def kern_addrs(self, addrs: KernAddrs) -> bytes:
        """KADR: kernel addresses (24 biased bytes, or 16 raw under E2 profiles)."""
        return build_frame(MsgType.KERN_ADDRS, encode_kern_addrs(addrs, self.profile))

    def sys_rdy(self) -> bytes:
        """SRDY: boot complete (empty)."""
        return build_frame(MsgType.SYS_RDY, b"")

    def sched_swap_notify(self) -> bytes:
        """SCSW (``ktstr-0.20`` and later): the scheduler was swapped."""
        if not self.profile.sched_swap_notify:
            raise UsageError(f"profile {self.profile.name!r} has no SchedSwapNotify")
        return build_frame(MsgType.SCHED_SWAP_NOTIFY, b"")

    # ---- scenario --------------------------------------------------------------------

    def scenario_start(self) -> bytes:
        return build_frame(MsgType.SCENARIO_START, b"")

    def scenario_end(self, elapsed_ms: int, total_iterations: int = 0) -> bytes:
        """SCEN: 16 bytes (elapsed, iterations) from E4, else 8 bytes (elapsed)."""
        value = ScenarioEnd(elapsed_ms, total_iterations)
        return build_frame(MsgType.SCENARIO_END, encode_scenario_end(value, self.profile))

    def scenario_pause(self) -> bytes:
        return build_frame(MsgType.SCENARIO_PAUSE, b"")

    def scenario_resume(self) -> bytes:
        return build_frame(MsgType.SCENARIO_RESUME, b"")

    def stimulus(self, step: Stimulus) -> bytes:
        """STIM: a scenario step starts."""
        return build_frame(MsgType.STIMULUS, encode_stimulus(step))

    def step_end(self, step: Stimulus) -> bytes:
        """STEN (E4+): a scenario step ended; same payload as its STIM."""
        if not self.profile.step_end:
            raise UsageError(f"profile {self.profile.name!r} has no StepEnd")
        return build_frame(MsgType.STEP_END, encode_stimulus(step))

    # ---- streams ---------------------------------------------------------------------

    def _stream(self, tag: MsgType, data: bytes, size: int) -> bytes:
        return b"".join(build_frame(tag, part) for part in chunks(bytes(data), size))

    def stdout(self, data: bytes) -> bytes:
        """SOUT frames of at most 4096 bytes each (one per pipe read)."""
        return self._stream(MsgType.STDOUT, data, STDIO_CHUNK_BYTES)

    def stderr(self, data: bytes) -> bytes:
        """SERR frames of at most 4096 bytes each."""
        return self._stream(MsgType.STDERR, data, STDIO_CHUNK_BYTES)

    def sched_log(self, log: bytes | None) -> bytes:
        """The scheduler log: START marker frame, 64 KiB chunks, END marker frame.

        ``None`` models a missing log file. The guest reads the file as UTF-8, so a
        log that is not valid UTF-8 sends only the two markers, as upstream does.
        """
        body = b""
        if log is not None:
            try:
                bytes(log).decode("utf-8")
            except UnicodeDecodeError:
                body = b""
            else:
                body = self._stream(MsgType.SCHED_LOG, log, SCHED_LOG_CHUNK_BYTES)
        return (
            build_frame(MsgType.SCHED_LOG, SCHED_OUTPUT_START)
            + body
            + build_frame(MsgType.SCHED_LOG, SCHED_OUTPUT_END)
        )

    def sched_log_text(self, text: str) -> bytes:
        """One SCLG frame with a diagnostic snippet, truncated to 64 KiB."""
        return build_frame(MsgType.SCHED_LOG, text.encode("utf-8")[:SCHED_LOG_CHUNK_BYTES])

    def dmesg(self, data: bytes) -> bytes:
        """DMSG: the kernel log buffer, one frame."""
        return build_frame(MsgType.DMESG, bytes(data))

    def probe_output(self, data: bytes, chunk: int = STDIO_CHUNK_BYTES) -> bytes:
        """PROB: probe JSON, chunked by the caller (default 4096 bytes)."""
        return self._stream(MsgType.PROBE_OUTPUT, data, chunk)

    def profraw(self, data: bytes) -> bytes:
        """PRAW: an LLVM ``.profraw`` blob, one frame."""
        return build_frame(MsgType.PROFRAW, bytes(data))

    def wprof(self, trace: bytes) -> bytes:
        """The wprof trace: one WPRF frame, or (E5+) WPRC chunks of exactly the cap
        followed by a terminal WPRF with the rest."""
        data = bytes(trace)
        cap = self.profile.cap
        if not self.profile.wprof_chunked or len(data) <= cap:
            return build_frame(MsgType.WPROF_TRACE, data)
        parts = list(chunks(data, cap))
        head = b"".join(build_frame(MsgType.WPROF_TRACE_CHUNK, p) for p in parts[:-1])
        return head + build_frame(MsgType.WPROF_TRACE, parts[-1])

    # ---- postcard payloads (encoded by the caller) -----------------------------------

    def test_result(self, encoded: bytes) -> bytes:
        """TEST: an encoded AssertResult."""
        return build_frame(MsgType.TEST_RESULT, bytes(encoded))

    def payload_metrics(self, encoded: bytes) -> bytes:
        """PMET: an encoded PayloadMetrics."""
        return build_frame(MsgType.PAYLOAD_METRICS, bytes(encoded))

    def raw_payload_output(self, encoded: bytes) -> bytes:
        """RAWO (until 0.20): an encoded RawPayloadOutput."""
        if not self.profile.raw_payload_output:
            raise UsageError(f"profile {self.profile.name!r} has no RawPayloadOutput")
        return build_frame(MsgType.RAW_PAYLOAD_OUTPUT, bytes(encoded))

    def kernel_op_request(self, encoded: bytes) -> bytes:
        """KORQ: an encoded KernelOpRequestPayload."""
        return build_frame(MsgType.KERNEL_OP_REQUEST, bytes(encoded))

    # ---- snapshot RPC ----------------------------------------------------------------

    def next_request_id(self) -> int:
        """The guest's request counter: starts at 1, skips 0 on wrap."""
        rid = self._next_request_id
        self._next_request_id = (rid + 1) & 0xFFFFFFFF or 1
        return rid

    def snapshot_request(
        self, kind: SnapshotKind | int, tag: str, request_id: int | None = None
    ) -> bytes:
        """SNRQ: 72 bytes (id, kind, tag truncated to 64 bytes, NUL padded)."""
        rid = self.next_request_id() if request_id is None else request_id
        value = SnapshotRequest(rid, SnapshotKind(kind), tag)
        return build_frame(MsgType.SNAPSHOT_REQUEST, encode_snapshot_request(value))


class HostReplyWriter:
    """Frames the host writes back to the guest on the bulk port."""

    def __init__(self, profile: str | Profile | None = None) -> None:
        self.profile = get_profile(profile)

    def snapshot_reply(
        self, request_id: int, status: SnapshotStatus | int = SnapshotStatus.OK, reason: str = ""
    ) -> bytes:
        """SNRP: 72 bytes (up to E3) or 520 bytes (E4+)."""
        value = SnapshotReply(request_id, SnapshotStatus(status), reason)
        return build_frame(MsgType.SNAPSHOT_REPLY, encode_snapshot_reply(value, self.profile))

    def kernel_op_reply(self, encoded: bytes) -> bytes:
        """KORP: an encoded KernelOpReplyPayload."""
        return build_frame(MsgType.KERNEL_OP_REPLY, bytes(encoded))
