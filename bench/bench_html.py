"""The HTML timeline with 100,000 frames, against 1,000 frames in the same run.

Run: ``python bench/bench_html.py`` (needs Chromium). Builds a synthetic run of N frames
(bulk frames of mixed tags, one chunk per 20 frames, plus COM1 lines), writes the page
with ``ktstr_host.export.html``, opens it in headless Chromium and times a redraw zoomed
out (marks aggregated per pixel column) and zoomed in to 1/1000 of the run.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_host.export.html import render_html
from ktstr_host.session.result_builder import build_run_result
from ktstr_proto.payloads import LifecyclePhase, Stimulus
from ktstr_proto.transcript import Chunk, Event, Header, Transcript

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser_support import Browser


def synthetic_run(frames: int) -> Transcript:
    w = GuestBulkWriter("ktstr-0.15")
    head = [w.sys_rdy(), w.lifecycle(LifecyclePhase.INIT_STARTED), w.scenario_start()]
    body = []
    for i in range(frames - len(head) - 1):
        if i % 100 == 0:
            body.append(w.stimulus(Stimulus(i, i // 100, 1, 1, 1, 1, i)))
        elif i % 3 == 0:
            body.append(w.sched_log(b"scx: tick %d\n" % i))
        else:
            body.append(w.stdout(b"line %d\n" % i))
    all_frames = [*head, *body, w.exit(0)]
    events: list[Event] = []
    for n, start in enumerate(range(0, len(all_frames), 20)):
        t = n * 0.001
        events.append(Chunk(t, "bulk", "g2h", b"".join(all_frames[start : start + 20])))
        if n % 10 == 0:
            events.append(Chunk(t, "com1", "g2h", b"[ %f] kernel line\r\n" % t))
    return Transcript(Header("ktstr-0.15"), events)


def measure(frames: int, folder: Path) -> dict[str, float]:
    transcript = synthetic_run(frames)
    t0 = time.perf_counter()
    page = render_html(transcript, build_run_result(transcript))
    build = time.perf_counter() - t0
    path = folder / f"run-{frames}.html"
    path.write_text(page, encoding="utf-8")
    with Browser(folder / f"profile-{frames}") as browser:
        t0 = time.perf_counter()
        browser.open(path)
        load = time.perf_counter() - t0
        out = browser.js("ktstrTimeline.reset()")
        zoomed_out = min(browser.js("ktstrTimeline.draw()") for _ in range(5))
        end = transcript.duration()
        zoomed_in = min(
            browser.js(f"ktstrTimeline.view({end / 2}, {end / 2 + end / 1000})") for _ in range(5)
        )
        assert browser.errors() == [], browser.errors()
    del out
    return {
        "build_s": build,
        "size_mb": len(page.encode()) / 1e6,
        "load_s": load,
        "draw_out_ms": zoomed_out,
        "draw_in_ms": zoomed_in,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = measure(1_000, Path(tmp))
        big = measure(100_000, Path(tmp))
    for key in base:
        ratio = big[key] / base[key] if base[key] else float("inf")
        print(f"{key:<12} 1k: {base[key]:9.3f}   100k: {big[key]:9.3f}   ratio {ratio:7.1f}")


if __name__ == "__main__":
    main()
