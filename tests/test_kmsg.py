"""The host's ``parse_kmsg_window`` (scheduler exit events on COM1), case by case.

Expected values written by hand from upstream's parser (likewhatevs/ktstr, the
``parse_kmsg_window`` / ``extract_stack_symbols`` pair used by ``evaluate_vm_result``
@77af34a2).
"""

from __future__ import annotations

from ktstr_host.decode.kmsg import ScxExitEvent, parse_kmsg_window


def test_anchor_name_and_parenthesised_reason() -> None:
    text = '[ 1.0] sched_ext: BPF scheduler "simple" disabled (runtime error)\n'
    assert parse_kmsg_window(text) == [ScxExitEvent("simple", "runtime error")]


def test_no_parentheses_gives_an_empty_message() -> None:
    assert parse_kmsg_window('sched_ext: BPF scheduler "qmap" disabled\n') == [
        ScxExitEvent("qmap", "")
    ]


def test_stack_frames_and_trace_framing_are_skipped_unrelated_line_ends_the_event() -> None:
    text = (
        'sched_ext: BPF scheduler "s" disabled (watchdog failed)\n'
        "sched_ext: s: runnable task stall (kworker:12 failed to run for 30s)\n"
        " Call Trace:\n"
        " <TASK>\n"
        " scx_watchdog_workfn+0x123/0x456\n"
        " </TASK>\n"
        "random: crng init done\n"
        "sched_ext: after the end\n"
    )
    (event,) = parse_kmsg_window(text)
    assert event.message == (
        "watchdog failed sched_ext: s: runnable task stall (kworker:12 failed to run for 30s)"
    )


def test_each_anchor_starts_an_event() -> None:
    text = (
        'sched_ext: BPF scheduler "a" disabled (one)\n'
        "BPF prog detached\n"
        'sched_ext: BPF scheduler "b" disabled (two)\n'
    )
    assert parse_kmsg_window(text) == [
        ScxExitEvent("a", "one BPF prog detached"),
        ScxExitEvent("b", "two"),
    ]


def test_nothing_without_an_anchor() -> None:
    assert parse_kmsg_window("sched_ext: enabled\nBPF scheduler simple\n") == []
