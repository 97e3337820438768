"""Payload schemas: the worked examples of payloads.md section 6 byte for byte, round trips
of every schema, hostile input, the E4 -> E3 fallback, the verdict fold, the guest's
oversized-result fallback (section 5) and the JSON view."""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ktstr_proto import strategies_postcard as sp
from ktstr_proto.errors import PayloadError, UsageError
from ktstr_proto.frame import build_frame
from ktstr_proto.profiles import KTSTR_0_15
from ktstr_proto.schemas import (
    AssertDetail,
    AssertResult,
    CgroupStatsE3,
    DetailKind,
    InfoNote,
    KernelOpDirection,
    KernelOpEntry,
    KernelOpMode,
    KernelOpReplyPayload,
    KernelOpRequestPayload,
    KernelOpValue,
    Metric,
    MetricBounds,
    MetricSource,
    MetricStream,
    NoteKind,
    NoteValue,
    Outcome,
    OutcomeKind,
    PayloadMetrics,
    PerCpuFieldTarget,
    PhaseBucket,
    PhaseCgroupStats,
    Polarity,
    PolarityKind,
    RawPayloadOutput,
    ScenarioStats,
    ScenarioStatsE3,
    ValueKind,
    decode_assert_result,
    decode_assert_result_as,
    decode_kernel_op_reply,
    decode_kernel_op_request,
    decode_payload_metrics,
    decode_raw_payload_output,
    encode_assert_result,
    encode_kernel_op_reply,
    encode_kernel_op_request,
    encode_payload_metrics,
    encode_raw_payload_output,
    encode_test_result_for_guest,
    strip_phase_cgroup_samples,
    to_jsonable,
)
from ktstr_proto.tags import MsgType

TEST = 0x54455354
STARVED = AssertDetail(DetailKind.STARVED, "worker starved")
RELAXED = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


def same(a: Any, b: Any) -> bool:
    """Structural equality with floats compared bit for bit (NaN == NaN, 0.0 != -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_same_helper_can_fail() -> None:
    assert same(float("nan"), float("nan"))
    assert not same(0.0, -0.0)
    assert not same(AssertResult.pass_(), AssertResult.pass_("e3"))
    assert not same({"a": 1.0}, {"a": 2.0})


# ---- 6.1 / 6.2: whole TEST payloads ----------------------------------------------------


def test_6_1_pass_is_45_zero_bytes_with_frame_header() -> None:
    payload = encode_assert_result(AssertResult.pass_())
    assert payload == bytes(45)
    assert build_frame(MsgType.TEST_RESULT, payload)[:16] == hx(
        "54 53 45 54 2d 00 00 00 a4 97 80 c6 00 00 00 00"
    )
    assert build_frame(TEST, payload)[16:] == payload
    decoded = decode_assert_result(payload)
    assert decoded == AssertResult.pass_()
    assert decoded.verdict is OutcomeKind.PASS


def test_6_1_e3_pass_is_101_zero_bytes() -> None:
    payload = encode_assert_result(AssertResult.pass_("e3"), "ktstr-0.10")
    assert payload == bytes(101)
    assert decode_assert_result(payload, "ktstr-0.10") == AssertResult.pass_("e3")


FAIL_E4 = hx("01 03 00 0e 77 6f 72 6b 65 72 20 73 74 61 72 76 65 64 00 00" + "00" * 41 + "00 00")


def test_6_2_fail() -> None:
    result = AssertResult.fail(STARVED)
    payload = encode_assert_result(result)
    assert len(payload) == 63
    assert payload == FAIL_E4
    assert build_frame(TEST, payload)[:16] == hx("54 53 45 54 3f 00 00 00 8d 71 c2 b7 00 00 00 00")
    decoded = decode_assert_result(payload)
    assert decoded == result
    assert decoded.verdict is OutcomeKind.FAIL
    assert decoded.outcome.detail == STARVED


def test_6_2_fail_e3_is_119_bytes_with_index_2() -> None:
    payload = encode_assert_result(AssertResult.fail(STARVED, "e3"), "ktstr-0.10")
    assert len(payload) == 119
    assert payload == FAIL_E4[:1] + b"\x02" + FAIL_E4[2:20] + bytes(99)
    assert decode_assert_result(payload, "ktstr-0.10") == AssertResult.fail(STARVED, "e3")


# ---- 6.3 fragments ---------------------------------------------------------------------


def test_6_3_skip_fragment() -> None:
    payload = encode_assert_result(AssertResult.skip("no smt"))
    assert payload[:11] == hx("01 01 10 06 6e 6f 20 73 6d 74 00")
    assert payload[11:] == bytes(44)
    decoded = decode_assert_result(payload)
    assert decoded.outcomes == (Outcome(OutcomeKind.SKIP, AssertDetail(DetailKind.SKIP, "no smt")),)
    # E3: DetailKind Skip is index 15 (no WorkerStalled)
    e3 = encode_assert_result(AssertResult.skip("no smt", "e3"), "ktstr-0.10")
    assert e3[:3] == hx("01 01 0f")


def test_6_3_measurements_fragment() -> None:
    result = AssertResult(measurements={"max_wchar": NoteValue.int_(12345)})
    payload = encode_assert_result(result)
    fragment = hx("01 09 6d 61 78 5f 77 63 68 61 72 00 f2 c0 01")
    assert payload == bytes(43) + fragment + b"\x00"
    assert decode_assert_result(payload).measurements == {"max_wchar": NoteValue.int_(12345)}


def test_6_3_payload_metrics() -> None:
    iops = PayloadMetrics(
        0,
        (
            Metric(
                "iops",
                1000.0,
                Polarity(PolarityKind.HIGHER_BETTER),
                "iops",
                MetricSource.JSON,
                MetricStream.STDOUT,
            ),
        ),
        0,
    )
    wire = hx("00 01 04 69 6f 70 73 00 00 00 00 00 40 8f 40 00 04 69 6f 70 73 00 00 00")
    assert len(wire) == 24
    assert encode_payload_metrics(iops) == wire
    assert decode_payload_metrics(wire) == iops

    lat = PayloadMetrics(
        3,
        (
            Metric(
                "lat_p99",
                2.78,
                Polarity.target_value(100.0),
                "us",
                MetricSource.LLM_EXTRACT,
                MetricStream.STDERR,
            ),
        ),
        -1,
    )
    wire = hx(
        "03 01 07 6c 61 74 5f 70 39 39 3d 0a d7 a3 70 3d 06 40 02 00 00 00 00 00 00 59 40 02 75"
        "73 01 01 01"
    )
    assert encode_payload_metrics(lat) == wire
    assert decode_payload_metrics(wire) == lat


def test_6_3_raw_payload_output() -> None:
    raw = RawPayloadOutput(1, "ok\n", "", None, (), MetricBounds(5, 0.0, None))
    wire = hx("01 03 6f 6b 0a 00 00 00 01 01 05 01 00 00 00 00 00 00 00 00 00")
    assert encode_raw_payload_output(raw) == wire
    assert decode_raw_payload_output(wire) == raw


def test_6_3_kernel_op_request() -> None:
    req = KernelOpRequestPayload(
        1,
        KernelOpMode.COLD,
        KernelOpDirection.WRITE,
        "seed",
        (
            KernelOpEntry(
                PerCpuFieldTarget("runqueues", "clock", 0), KernelOpValue(ValueKind.U64, 5)
            ),
        ),
    )
    wire = hx(
        "01 01 00 04 73 65 65 64 01 03 09 72 75 6e 71 75 65 75 65 73 05 63 6c 6f 63 6b 00 01 05"
    )
    assert encode_kernel_op_request(req) == wire
    assert decode_kernel_op_request(wire) == req


def test_6_3_kernel_op_replies() -> None:
    ok = KernelOpReplyPayload(1, True, "", ())
    assert encode_kernel_op_reply(ok) == hx("01 01 00 00")
    assert decode_kernel_op_reply(hx("01 01 00 00")) == ok
    read = KernelOpReplyPayload(2, True, "", (KernelOpValue(ValueKind.U32, 0x1234),))
    assert encode_kernel_op_reply(read) == hx("02 01 00 01 00 b4 24")
    assert decode_kernel_op_reply(hx("02 01 00 01 00 b4 24")) == read


# ---- round trips -----------------------------------------------------------------------

E3_PROFILE = "ktstr-0.10"


def check_round_trip(
    value: Any, encode: Callable[[Any], bytes], decode: Callable[[bytes], Any]
) -> None:
    wire = encode(value)
    back = decode(wire)
    assert same(back, value)
    assert encode(back) == wire


@RELAXED
@given(sp.assert_results("e4"))
def test_round_trip_assert_result_e4(value: AssertResult) -> None:
    check_round_trip(value, encode_assert_result, decode_assert_result)


@RELAXED
@given(sp.assert_results("e3"))
def test_round_trip_assert_result_e3(value: AssertResult) -> None:
    check_round_trip(
        value,
        lambda v: encode_assert_result(v, E3_PROFILE),
        lambda b: decode_assert_result(b, E3_PROFILE),
    )


@RELAXED
@given(sp.payload_metrics)
def test_round_trip_payload_metrics(value: PayloadMetrics) -> None:
    check_round_trip(value, encode_payload_metrics, decode_payload_metrics)


@RELAXED
@given(sp.raw_payload_outputs)
def test_round_trip_raw_payload_output(value: RawPayloadOutput) -> None:
    check_round_trip(value, encode_raw_payload_output, decode_raw_payload_output)


@RELAXED
@given(sp.kernel_op_requests)
def test_round_trip_kernel_op_request(value: KernelOpRequestPayload) -> None:
    check_round_trip(value, encode_kernel_op_request, decode_kernel_op_request)


@RELAXED
@given(sp.kernel_op_replies)
def test_round_trip_kernel_op_reply(value: KernelOpReplyPayload) -> None:
    check_round_trip(value, encode_kernel_op_reply, decode_kernel_op_reply)


def test_round_trip_of_every_variant() -> None:
    notes = {
        "i": NoteValue.int_(-(2**63)),
        "u": NoteValue.uint(2**64 - 1),
        "f": NoteValue.float_(float("nan")),
        "b": NoteValue.bool_(True),
        "t": NoteValue.text("x"),
    }
    outcomes = tuple(
        Outcome(
            k,
            None
            if k is OutcomeKind.PASS
            else AssertDetail(DetailKind.WORKER_STALLED, "s", "Step[0]"),
        )
        for k in OutcomeKind
    )
    result = AssertResult(outcomes=outcomes, measurements=notes)
    check_round_trip(result, encode_assert_result, decode_assert_result)
    wire = encode_assert_result(result)
    assert wire[:2] == b"\x04\x00"  # 4 outcomes, first is Pass (0)
    assert wire[2:4] == b"\x01\x0f"  # Skip, DetailKind WorkerStalled = 15


# ---- hostile input ---------------------------------------------------------------------

DECODERS: list[Callable[[bytes], Any]] = [
    decode_assert_result,
    lambda b: decode_assert_result(b, E3_PROFILE),
    decode_payload_metrics,
    decode_raw_payload_output,
    decode_kernel_op_request,
    decode_kernel_op_reply,
]


@settings(max_examples=300)
@given(st.binary(max_size=160))
def test_garbage_raises_only_payload_error(data: bytes) -> None:
    for decode in DECODERS:
        try:
            decode(data)
        except PayloadError as exc:
            assert exc.offset is not None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(sp.assert_results("e4"), st.data())
def test_mutated_results_raise_only_payload_error(value: AssertResult, data: st.DataObject) -> None:
    wire = bytearray(encode_assert_result(value))
    pos = data.draw(st.integers(0, len(wire) - 1))
    wire[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(pos, len(wire)))
    for decode in DECODERS[:2]:
        try:
            decode(bytes(wire[:cut]))
        except PayloadError as exc:
            assert exc.offset is not None


def test_every_truncation_is_a_payload_error_with_offset() -> None:
    cases: list[tuple[bytes, Callable[[bytes], Any]]] = [
        (FAIL_E4, lambda b: decode_assert_result(b, "ktstr-0.20")),
        (
            hx("01 03 6f 6b 0a 00 00 00 01 01 05 01 00 00 00 00 00 00 00 00 00"),
            decode_raw_payload_output,
        ),
        (hx("02 01 00 01 00 b4 24"), decode_kernel_op_reply),
    ]
    for wire, decode in cases:
        for cut in range(len(wire)):
            with pytest.raises(PayloadError) as info:
                decode(wire[:cut])
            assert info.value.offset is not None
            assert info.value.offset <= cut


def test_error_names_field_path_and_offset() -> None:
    bad = bytearray(FAIL_E4)
    bad[18] = 0x02  # the phase Option tag of the Fail detail
    with pytest.raises(PayloadError) as info:
        decode_assert_result(bytes(bad), "ktstr-0.20")
    assert info.value.field == "outcomes[0].Fail.phase"
    assert info.value.offset == 18

    # one CgroupStats: name "", num_workers 0, cpus_used {}, num_cpus 0, then Option tag 05
    cgroup = hx("00 00 01 00 00 00 00 05") + bytes(200)
    with pytest.raises(PayloadError) as info:
        decode_assert_result(cgroup, "ktstr-0.20")
    assert info.value.field == "stats.cgroups[0].avg_off_cpu_pct"
    assert info.value.offset == 7
    # a count that cannot fit is reported on the count itself
    with pytest.raises(PayloadError, match="at least 78 bytes") as info:
        decode_assert_result(hx("00 00 01") + bytes(42), "ktstr-0.20")
    assert info.value.field == "stats.cgroups"
    assert info.value.offset == 2


def test_unknown_variant_indices_are_rejected() -> None:
    with pytest.raises(PayloadError, match="unknown Outcome variant index 3"):
        decode_assert_result(hx("01 03") + bytes(43), E3_PROFILE)
    with pytest.raises(PayloadError, match="unknown DetailKind variant index 18"):
        decode_assert_result(hx("01 03 12 00 00") + bytes(44), "ktstr-0.20")
    with pytest.raises(PayloadError, match="unknown KernelOpTarget variant index 5"):
        decode_kernel_op_request(hx("01 00 00 00 01 05 00 00"))


# ---- profiles and the E4 -> E3 fallback ------------------------------------------------


def test_fallback_to_e3_under_ktstr_0_15() -> None:
    assert KTSTR_0_15.test_result_fallback_e3
    e3_fail = encode_assert_result(AssertResult.fail(STARVED, "e3"), E3_PROFILE)
    decoded = decode_assert_result(e3_fail)  # default profile ktstr-0.15
    assert decoded.schema == "e3"
    assert isinstance(decoded.stats, ScenarioStatsE3)
    assert decoded.verdict is OutcomeKind.FAIL
    assert decode_assert_result(bytes(101)).schema == "e3"
    assert decode_assert_result(bytes(45)).schema == "e4"
    # such a result can be re-encoded under the same profile, in its own schema
    assert encode_assert_result(decoded) == e3_fail


def test_no_fallback_without_the_flag() -> None:
    e3_fail = encode_assert_result(AssertResult.fail(STARVED, "e3"), E3_PROFILE)
    with pytest.raises(PayloadError, match="trailing"):
        decode_assert_result(e3_fail, "ktstr-0.20")
    with pytest.raises(PayloadError):
        decode_assert_result(bytes(45), E3_PROFILE)
    with pytest.raises(UsageError):
        encode_assert_result(AssertResult.pass_("e3"), "ktstr-0.20")
    with pytest.raises(UsageError):
        encode_assert_result(AssertResult.pass_(), E3_PROFILE)


def test_neither_schema_fits() -> None:
    with pytest.raises(PayloadError) as info:
        decode_assert_result(bytes(46))
    text = str(info.value)
    assert "fits neither schema" in text
    assert "(E4)" in text
    assert "(E3)" in text
    assert info.value.offset == 45


def test_explicit_schema_decoding() -> None:
    assert decode_assert_result_as(bytes(101), "e3") == AssertResult.pass_("e3")
    with pytest.raises(UsageError):
        decode_assert_result_as(bytes(45), "e5")  # type: ignore[arg-type]


@pytest.mark.parametrize("profile", ["ktstr-bulk-256k", "ktstr-0.4"])
def test_bincode_and_json_profiles_are_not_decoded(profile: str) -> None:
    with pytest.raises(UsageError, match="postcard"):
        decode_assert_result(bytes(45), profile)
    with pytest.raises(UsageError):
        encode_assert_result(AssertResult.pass_(), profile)


def test_e3_cannot_encode_e4_only_variants() -> None:
    stalled = AssertResult.fail(AssertDetail(DetailKind.WORKER_STALLED, "x"), "e3")
    with pytest.raises(UsageError, match="WorkerStalled"):
        encode_assert_result(stalled, E3_PROFILE)
    inconclusive = AssertResult(
        outcomes=(Outcome(OutcomeKind.INCONCLUSIVE, STARVED),), stats=ScenarioStatsE3()
    )
    with pytest.raises(UsageError, match="Inconclusive"):
        encode_assert_result(inconclusive, E3_PROFILE)
    mixed = AssertResult(stats=ScenarioStats(cgroups=(CgroupStatsE3(),)))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="CgroupStats expected"):
        encode_assert_result(mixed)


def test_encoding_rejects_bad_values() -> None:
    with pytest.raises(UsageError):
        encode_assert_result(AssertResult(stats=ScenarioStats(total_workers=-1)))
    with pytest.raises(UsageError):
        encode_payload_metrics(PayloadMetrics(0, (), 2**31))
    with pytest.raises(UsageError):
        encode_kernel_op_reply(
            KernelOpReplyPayload(0, True, "", (KernelOpValue(ValueKind.U32, 2**32),))
        )
    with pytest.raises(UsageError):
        encode_payload_metrics("not metrics")  # type: ignore[arg-type]


def test_value_constructors_validate() -> None:
    with pytest.raises(UsageError):
        Outcome(OutcomeKind.PASS, STARVED)
    with pytest.raises(UsageError):
        Outcome(OutcomeKind.FAIL)
    with pytest.raises(UsageError):
        NoteValue(NoteKind.INT, True)
    with pytest.raises(UsageError):
        NoteValue(NoteKind.BOOL, 1)
    with pytest.raises(UsageError):
        Polarity(PolarityKind.TARGET_VALUE)
    with pytest.raises(UsageError):
        Polarity(PolarityKind.UNKNOWN, 1.0)
    with pytest.raises(UsageError):
        KernelOpValue(ValueKind.BYTES, 5)
    with pytest.raises(UsageError):
        AssertDetail("Nope", "x")  # type: ignore[arg-type]
    assert AssertDetail("Skip", "x").kind is DetailKind.SKIP  # type: ignore[arg-type]
    assert Outcome("Fail", STARVED).kind is OutcomeKind.FAIL  # type: ignore[arg-type]


# ---- verdict -------------------------------------------------------------------------

SKIP_A = Outcome(OutcomeKind.SKIP, AssertDetail(DetailKind.SKIP, "a"))
SKIP_B = Outcome(OutcomeKind.SKIP, AssertDetail(DetailKind.SKIP, "b"))
PASS = Outcome(OutcomeKind.PASS)
INC = Outcome(OutcomeKind.INCONCLUSIVE, AssertDetail(DetailKind.MIGRATION, "zero denominator"))
FAIL_1 = Outcome(OutcomeKind.FAIL, AssertDetail(DetailKind.STUCK, "first"))
FAIL_2 = Outcome(OutcomeKind.FAIL, AssertDetail(DetailKind.UNFAIR, "second"))


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ((), PASS),
        ((SKIP_A,), SKIP_A),
        ((SKIP_B, SKIP_A), SKIP_B),
        ((SKIP_A, PASS), PASS),
        ((PASS, SKIP_A, INC), INC),
        ((INC, FAIL_2, SKIP_A, FAIL_1), FAIL_2),
        ((FAIL_1, FAIL_2), FAIL_1),
    ],
)
def test_verdict_fold(outcomes: tuple[Outcome, ...], expected: Outcome) -> None:
    result = AssertResult(outcomes=outcomes)
    assert result.outcome == expected
    assert result.verdict is expected.kind


def test_constructors() -> None:
    assert AssertResult.skip("r").verdict is OutcomeKind.SKIP
    assert AssertResult.fail_msg("m").outcomes == (
        Outcome(OutcomeKind.FAIL, AssertDetail(DetailKind.OTHER, "m")),
    )
    assert AssertResult.pass_("e3").schema == "e3"
    assert AssertResult.pass_().schema == "e4"
    with pytest.raises(UsageError):
        AssertResult.pass_("e5")  # type: ignore[arg-type]
    noted = AssertResult.pass_().with_note("hello")
    assert noted.info_notes == (InfoNote("hello"),)


# ---- the guest's oversized-result fallback ---------------------------------------------


def sampled_result(n: int) -> AssertResult:
    carrier = PhaseCgroupStats(
        num_workers=2,
        wake_latencies_ns=tuple(range(1000, 1000 + n)),
        run_delays_ns=(7, 8),
        off_cpu_pcts=(0.5,),
        total_iterations=99,
    )
    empty = PhaseCgroupStats(num_workers=1)
    bucket = PhaseBucket(step_index=1, label="Step[0]", per_cgroup={"cg": carrier, "idle": empty})
    return AssertResult(outcomes=(FAIL_1,), stats=ScenarioStats(phases=(bucket,)))


def test_fits_is_sent_unchanged() -> None:
    result = sampled_result(50)
    wire = encode_assert_result(result)
    assert encode_test_result_for_guest(result, len(wire)) == wire
    assert encode_test_result_for_guest(result) == wire  # profile cap: 16 MiB


def test_strip_counts_samples_and_marks_only_carriers_that_had_some() -> None:
    stripped, dropped = strip_phase_cgroup_samples(sampled_result(50))
    assert dropped == 50 + 2 + 1
    per_cgroup = stripped.stats.phases[0].per_cgroup  # type: ignore[union-attr]
    assert per_cgroup["cg"].stripped
    assert per_cgroup["cg"].wake_latencies_ns == ()
    assert per_cgroup["cg"].total_iterations == 99
    assert not per_cgroup["idle"].stripped
    assert strip_phase_cgroup_samples(AssertResult.pass_("e3")) == (AssertResult.pass_("e3"), 0)


def test_step_2_strips_samples_and_notes_it() -> None:
    result = sampled_result(200)
    full = len(encode_assert_result(result))
    cap = full - 100
    wire = encode_test_result_for_guest(result, cap, "ktstr-0.15")
    assert len(wire) <= cap
    decoded = decode_assert_result(wire)
    assert decoded.outcomes == (FAIL_1,)  # verdict preserved
    assert decoded.info_notes == (
        InfoNote(
            f"per_cgroup raw samples (203) dropped: AssertResult postcard size {full} exceeded "
            f"bulk port limit {cap}; verdict and reduced telemetry preserved"
        ),
    )
    carrier = decoded.stats.phases[0].per_cgroup["cg"]  # type: ignore[union-attr]
    assert carrier.stripped
    assert carrier.wake_latencies_ns == ()


def test_step_3_after_a_strip_reports_the_stripped_size() -> None:
    result = sampled_result(200)
    full = len(encode_assert_result(result))
    stripped, dropped = strip_phase_cgroup_samples(result)
    noted = stripped.with_note(
        f"per_cgroup raw samples ({dropped}) dropped: AssertResult postcard size {full} "
        "exceeded bulk port limit 80; verdict and reduced telemetry preserved"
    )
    noted_size = len(encode_assert_result(noted))
    wire = encode_test_result_for_guest(result, 80)
    expected = AssertResult.fail_msg(
        f"AssertResult postcard size {noted_size} exceeded bulk port limit 80; "
        "original details dropped"
    )
    assert decode_assert_result(wire) == expected
    assert wire == encode_assert_result(expected)


def test_step_3_without_samples_reports_the_original_size() -> None:
    result = AssertResult.pass_().with_note("x" * 300)
    full = len(encode_assert_result(result))
    wire = encode_test_result_for_guest(result, 100)
    assert decode_assert_result(wire) == AssertResult.fail_msg(
        f"AssertResult postcard size {full} exceeded bulk port limit 100; original details dropped"
    )


def test_e3_goes_straight_to_step_3() -> None:
    result = AssertResult(
        outcomes=(FAIL_1,),
        stats=ScenarioStatsE3(phases=()),
        info_notes=(InfoNote("y" * 200),),
    )
    full = len(encode_assert_result(result, E3_PROFILE))
    wire = encode_test_result_for_guest(result, 150, E3_PROFILE)
    decoded = decode_assert_result(wire, E3_PROFILE)
    assert decoded == AssertResult.fail_msg(
        f"AssertResult postcard size {full} exceeded bulk port limit 150; original details dropped",
        "e3",
    )


def test_guest_fallback_argument_checks() -> None:
    with pytest.raises(UsageError):
        encode_test_result_for_guest(AssertResult.pass_(), -1)
    with pytest.raises(UsageError):
        encode_test_result_for_guest(AssertResult.pass_(), 100, "ktstr-bulk-256k")


# ---- JSON view -----------------------------------------------------------------------


def test_to_jsonable_shapes() -> None:
    result = AssertResult(
        outcomes=(FAIL_1,),
        stats=ScenarioStats(
            worst_spread=float("nan"),
            phases=(PhaseBucket(per_cgroup={"cg": PhaseCgroupStats(cpus_used=frozenset({3, 1}))}),),
        ),
        measurements={"k": NoteValue.uint(7)},
    )
    view = to_jsonable(result)
    assert isinstance(view, dict)
    assert view["outcomes"] == [
        {"kind": "Fail", "detail": {"kind": "Stuck", "message": "first", "phase": None}}
    ]
    stats = view["stats"]
    assert isinstance(stats, dict)
    assert stats["worst_spread"] == "NaN"
    assert stats["phases"][0]["per_cgroup"]["cg"]["cpus_used"] == [1, 3]  # type: ignore[index,call-overload]
    assert view["measurements"] == {"k": {"kind": "Uint", "value": 7}}
    json.dumps(view, allow_nan=False)

    entry = KernelOpEntry(
        PerCpuFieldTarget("rq", "clock", 1), KernelOpValue(ValueKind.BYTES, b"\x01\xff")
    )
    req = KernelOpRequestPayload(9, KernelOpMode.HOT, KernelOpDirection.READ, "t", (entry,))
    req_view = to_jsonable(req)
    assert isinstance(req_view, dict)
    assert req_view["mode"] == "Hot"
    assert req_view["entries"] == [
        {
            "target": {"variant": "PerCpuField", "symbol": "rq", "field": "clock", "cpu": 1},
            "value": {"kind": "Bytes", "value": "01ff"},
        }
    ]
    with pytest.raises(UsageError):
        to_jsonable(object())


@RELAXED
@given(sp.assert_results("e4"))
def test_to_jsonable_is_strict_json(value: AssertResult) -> None:
    json.dumps(to_jsonable(value), allow_nan=False)
