"""Golden decodes of the bundled raw bulk fixtures (reviewed by hand when regenerated)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ktstr_host.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures" / "bulk").glob("*.bin"))


def test_fixtures_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "fixtures" / "make_bulk_fixtures.py")],
        capture_output=True,
        check=False,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_cli_decode_matches_golden(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--json", str(path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows.pop()["event"] == "end"
    golden = [
        json.loads(line) for line in path.with_suffix(".golden.jsonl").read_text().splitlines()
    ]
    assert rows == golden


def test_bundled_fixtures_exist() -> None:
    assert {p.stem for p in FIXTURES} >= {"normal-run", "hostile-run"}
