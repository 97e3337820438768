"""Regenerate the README screenshots: ``python docs/img/make_screenshots.py``.

``tshark.png``: tshark with the dissector on the QEMU scheduler-crash fixture (the text
output rendered by headless Chromium); ``timeline.png``: ``report --html`` of the same run.
"""

from __future__ import annotations

import html
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ktstr_host.export.html import write_html  # noqa: E402
from ktstr_host.export.pcapng import export_pcapng  # noqa: E402
from ktstr_host.export.wireshark import DISSECTOR  # noqa: E402
from ktstr_host.session.result_builder import build_run_result  # noqa: E402
from ktstr_host.transcripts.io import read_transcript  # noqa: E402
from tests.browser_support import Browser  # noqa: E402

FIXTURE = ROOT / "fixtures" / "qemu" / "scheduler-crash-with-dump.jsonl"
OUT = Path(__file__).resolve().parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pcapng = tmp / "run.pcapng"
        export_pcapng(FIXTURE, pcapng)
        base = ["tshark", "-n", "-2", "-r", str(pcapng), "-X", f"lua_script:{DISSECTOR}"]
        listing = subprocess.run(base, capture_output=True, text=True, check=True).stdout
        detail = subprocess.run(
            [*base, "-O", "ktstr", "-Y", 'ktstr.tag == "SCDX"'],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        text = "$ tshark -r run.pcapng -X lua_script:ktstr.lua -2\n" + listing
        text += "\n$ tshark ... -O ktstr -Y 'ktstr.tag == \"SCDX\"'\n"
        text += "\n".join(line for line in detail.splitlines() if not line.startswith("Frame"))
        page = tmp / "tshark.html"
        page.write_text(
            "<body style='margin:0;background:#111;color:#ddd'><pre style='font:12px "
            f"monospace;padding:8px;margin:0'>{html.escape(text)}</pre></body>"
        )
        transcript = read_transcript(FIXTURE)
        timeline = tmp / "timeline.html"
        write_html(transcript, build_run_result(transcript), timeline, overwrite=True)
        with Browser(tmp / "profile", width=980, height=640) as browser:
            browser.open(page)
            browser.screenshot(OUT / "tshark.png", full_page=False)
            browser.open(timeline)
            browser.screenshot(OUT / "timeline.png", full_page=False)


if __name__ == "__main__":
    main()
