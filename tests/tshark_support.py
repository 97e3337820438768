"""Running the real tshark with the packaged dissector (skipped locally when missing,
a failure in CI), and running ``ktstr-host decode --json`` as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ktstr_host.export.wireshark import DISSECTOR

SEP = "\x1f"  # between occurrences of one field (no tag label can hold it)


def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but tshark is not installed")
        pytest.skip("tshark is not installed")
    return path


def tshark_fields(
    pcapng: Path, fields: list[str], *, display_filter: str = "", prefs: tuple[str, ...] = ()
) -> list[dict[str, list[str]]]:
    """One dict per displayed packet: field -> its occurrences (two-pass dissection)."""
    cmd = [tshark(), "-n", "-2", "-r", str(pcapng), "-X", f"lua_script:{DISSECTOR}"]
    for pref in prefs:
        cmd += ["-o", pref]
    if display_filter:
        cmd += ["-Y", display_filter]
    cmd += ["-T", "fields", "-E", f"aggregator={SEP}", "-E", "separator=\t"]
    for field in fields:
        cmd += ["-e", field]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Lua" not in proc.stderr, proc.stderr  # a dissector error is reported there
    rows = []
    for line in proc.stdout.splitlines():
        cells = line.split("\t")
        assert len(cells) == len(fields), line
        rows.append({f: (c.split(SEP) if c else []) for f, c in zip(fields, cells, strict=True)})
    return rows


def ktstr_host(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ktstr_host.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def decode_json(raw: Path, *, profile: str = "ktstr-0.15") -> list[dict[str, Any]]:
    """``ktstr-host decode --json`` of a whole lane (fed in one piece, as the dissector
    sees one continuous stream), without the closing summary line."""
    size = max(raw.stat().st_size, 1)
    proc = ktstr_host("decode", "--json", "--profile", profile, "--chunk-size", str(size), str(raw))
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "end"
    return events[:-1]
