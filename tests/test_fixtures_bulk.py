"""Golden decodes of the bundled raw bulk fixtures (reviewed by hand when regenerated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ktstr_host.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures" / "bulk").glob("*.bin"))


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
