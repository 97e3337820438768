"""``ktstr-host report --html``: the page's data, the CLI, and the page in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ktstr_host.export.html import render_html, timeline_data
from ktstr_host.session.result_builder import build_run_result
from ktstr_host.transcripts.io import read_transcript
from ktstr_proto.frame import build_frame
from ktstr_proto.tags import MsgType
from ktstr_proto.transcript import Chunk, Header, Transcript

from .browser_support import Browser
from .tshark_support import ktstr_host

ROOT = Path(__file__).resolve().parent.parent
CRASH = ROOT / "fixtures" / "qemu" / "scheduler-crash-with-dump.jsonl"
PAGES = {
    "qemu/scheduler-crash-with-dump": ("FAILED", ["bulk", "com1", "host"]),
    "synthetic/normal-pass": ("PASSED", ["bulk", "host"]),
    "synthetic/guest-panic": ("FAILED", ["bulk", "com1", "com2", "host"]),
    "qemu/legacy-0.4.9": ("PASSED", ["com2", "host"]),
}


def page_data(page: str) -> dict[str, Any]:
    m = re.search(r"const DATA = (.*);\n", page)
    assert m is not None
    data: dict[str, Any] = json.loads(m.group(1).replace("<\\/", "</"))
    return data


def data_of(fixture: Path) -> dict[str, Any]:
    transcript = read_transcript(fixture)
    return timeline_data(transcript, build_run_result(transcript))


def test_page_is_self_contained() -> None:
    transcript = read_transcript(CRASH)
    page = render_html(transcript, build_run_result(transcript))
    assert not re.search(r"""(src|href)\s*=|https?://|@import|url\(""", page.split("<script>")[0])
    script = page.split("<script>", 1)[1]
    assert "fetch(" not in script and "XMLHttpRequest" not in script and "https://" not in script
    assert page_data(page)["status"] == "fail"


def test_crash_run_has_the_dump_after_the_scenario_start() -> None:
    data = data_of(CRASH)
    spans = {(s["lane"], s["kind"]): s for s in data["spans"]}
    dump, scenario = spans["com1", "dump"], spans["bulk", "scenario"]
    assert dump["t0"] > scenario["t0"]
    assert dump["prov"] == "com1 @ 0"
    assert [s["label"] for s in data["spans"] if s["kind"] == "phase"] == [
        "INIT_STARTED",
        "PAYLOAD_STARTING",
    ]


def test_frames_carry_time_offset_and_content() -> None:
    data = data_of(CRASH)
    bulk = next(lane for lane in data["lanes"] if lane["name"] == "bulk")
    tags = [data["labels"][k] for k in bulk["k"]]
    # the scheduler crash ends with SCDX (the host kills the VM): KADR 40 + SRDY 16 +
    # 2 LIFE 17 + SCST 16 + STIM 40 + SCLG 40, 105, 38 bytes put it at 329
    assert tags[:3] == ["KADR", "SRDY", "LIFE"] and tags[-1] == "SCDX"
    assert bulk["o"][:3] == [0, 40, 56]
    assert bulk["t"] == sorted(bulk["t"])
    assert bulk["d"][-1] == "g2h: 329 SCDX len=4 crc=ok code=1"
    assert data["cites"]["bulk:329"] == ["scheduler_died"]


def test_lines_are_labelled_by_the_serial_decoder_and_host_replies_decoded() -> None:
    """The timeline reads the run through RunSession: each COM1 line is a mark labelled by
    the event the decoder gave it, a host reply on bulk is a decoded frame, and a line
    still open at the end is shown at the time of its channel's last chunk."""
    header = Header("ktstr-0.15")
    com1 = [
        b"[    1.000000] Booting\r\n",
        b"[    2.000000] Kernel panic - not syncing: Attempted to kill init!\r\n",
        b"   task-1 [000] 3.0: sched_ext_dump: Debug dump triggered by SysRq-D\n",
        b"unterminated",
    ]
    reply = build_frame(MsgType.SNAPSHOT_REPLY, b"\x00" * 4)
    transcript = Transcript(
        header,
        [
            Chunk(1.0, "com1", "g2h", com1[0] + com1[1]),
            Chunk(2.0, "bulk", "h2g", reply),
            Chunk(3.0, "com1", "g2h", com1[2] + com1[3]),
        ],
    )
    data = timeline_data(transcript, build_run_result(transcript))
    lanes = {lane["name"]: lane for lane in data["lanes"]}
    line_lane, bulk = lanes["com1"], lanes["bulk"]
    assert [data["labels"][k] for k in line_lane["k"]] == ["line", "kernel-panic", "dump", "line"]
    starts = [0, len(com1[0]), len(com1[0] + com1[1]), len(com1[0] + com1[1] + com1[2])]
    assert line_lane["o"] == starts and line_lane["t"] == [1.0, 1.0, 3.0, 3.0]
    assert line_lane["d"][3] == "unterminated"
    assert [data["labels"][k] for k in bulk["k"]] == ["SNRP"] and bulk["t"] == [2.0]
    assert bulk["d"][0].startswith("h2g: 0 SNRP len=4 crc=ok")


def test_panic_span_on_com2() -> None:
    data = data_of(ROOT / "fixtures" / "synthetic" / "guest-panic.jsonl")
    panics = [s for s in data["spans"] if s["kind"] == "panic"]
    assert len(panics) == 1 and panics[0]["lane"] == "com2"


def test_cli_writes_the_page_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    proc = ktstr_host("report", str(CRASH), "--html", str(out))
    assert proc.returncode == 1, proc.stderr  # the run failed: the report's exit status
    assert "FAILED" in proc.stdout and page_data(out.read_text())["status"] == "fail"
    out.write_text("old")
    proc = ktstr_host("report", str(CRASH), "--html", str(out))
    assert proc.returncode == 2 and proc.stderr.startswith("ktstr-host: error:")
    assert out.read_text() == "old"
    proc = ktstr_host("report", str(CRASH), "--html", str(out), "--force")
    assert proc.returncode == 1 and page_data(out.read_text())["status"] == "fail"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.html"]


# ---- in Chromium ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_in_chromium(name: str, tmp_path: Path) -> None:
    verdict, lanes = PAGES[name]
    html = tmp_path / "run.html"
    proc = ktstr_host("report", str(ROOT / "fixtures" / f"{name}.jsonl"), "--html", str(html))
    assert proc.returncode in (0, 1), proc.stderr
    with Browser(tmp_path / "profile") as browser:
        url = browser.open(html)
        assert browser.js("document.getElementById('verdict').textContent").startswith(
            f"ktstr run {verdict}"
        )
        got = browser.js(
            "[...document.querySelectorAll('#lanes [data-lane]')].map(e => e.dataset.lane)"
        )
        assert got == lanes
        assert browser.js("document.querySelectorAll('#report').length") == 1
        assert browser.js("document.getElementById('report').textContent").startswith("ktstr run")
        browser.screenshot(tmp_path / "timeline.png")
        assert browser.errors() == []
        assert browser.requests() == [url]
    assert (tmp_path / "timeline.png").stat().st_size > 10_000


def test_crash_page_dump_span_and_click(tmp_path: Path) -> None:
    html = tmp_path / "crash.html"
    proc = ktstr_host("report", str(CRASH), "--html", str(html))
    assert proc.returncode == 1, proc.stderr
    with Browser(tmp_path / "profile") as browser:
        browser.open(html)
        rows = browser.js(
            "[...document.querySelectorAll('#spans tbody tr')].map(r => "
            "[r.dataset.lane, r.dataset.kind, +r.dataset.t0])"
        )
        starts = {(lane, kind): t0 for lane, kind, t0 in rows}
        assert starts["com1", "dump"] > starts["bulk", "scenario"]
        # zoom onto the dump and click the first dump line on the COM1 lane
        t0 = starts["com1", "dump"]
        first_line = browser.js(
            "(() => { const d = ktstrTimeline.data, l = d.lanes.find(l => l.name === 'com1');"
            " return l.t[l.k.findIndex(k => d.labels[k] === 'dump')]; })()"
        )
        browser.js(f"ktstrTimeline.view({t0 - 0.01}, {t0 + 0.02})")
        point = browser.js(f"ktstrTimeline.point('com1', {first_line})")
        browser.click(point["x"], point["y"])
        detail = browser.js("document.getElementById('detail').textContent")
        assert detail.startswith("dump at ") and "provenance: com1 stream offset 0" in detail
        assert "the report's sched_ext_dump cite it" in detail
        # zoom and pan change the visible range
        before = browser.js("document.getElementById('range').textContent")
        browser.js("document.getElementById('zoom-out').click()")
        assert browser.js("document.getElementById('range').textContent") != before
        browser.screenshot(tmp_path / "crash.png")
        assert browser.errors() == []
