"""Issue 11 item 7: hostile profiles, numeric options and timestamps give one-line errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ktstr_host.cli import main
from ktstr_proto.errors import ProfileError
from ktstr_proto.profiles import KTSTR_0_44, get_profile

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PASSING = FIXTURES / "synthetic" / "normal-pass.jsonl"

BAD_PROFILES = [
    ({"name": "p", "cap": True}, "cap must be an integer"),
    ({"name": "p", "cap": 1.5}, "cap must be an integer"),
    ({"name": "p", "cap": 0}, "cap must be in"),
    ({"name": "p", "residual_cap": "no"}, "residual_cap must be true or false"),
    ({"name": "p", "pad_warning": 1}, "pad_warning must be true or false"),
    ({"name": "p", "known_tags": [1.9]}, "known_tags must be a list of u32"),
    ({"name": "p", "known_tags": 5}, "known_tags must be a list of u32"),
    ({"name": "p", "known_tags": "abc"}, "known_tags must be a list of u32"),
    ({"name": "p", "known_tags": [-1]}, "known_tags must be a list of u32"),
    ({"name": "p", "known_tags": [4294967296]}, "known_tags must be a list of u32"),
    ({"name": "p", "known_tags": [True]}, "known_tags must be a list of u32"),
    ({"name": "p", "scenario_end_len": 8.0}, "scenario_end_len must be one of"),
    ({"name": "p", "era": 3}, "era must be a string"),
    ({"name": "p", "base": 5}, "base must be a profile name"),
    ({"name": "ktstr-0.15", "cap": 100}, "built in and cannot be replaced"),
]


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse
        status = int(exc.code or 0)
    err = capsys.readouterr().err.strip().splitlines()
    return status, err[-1] if err else ""


@pytest.mark.parametrize("doc,message", BAD_PROFILES)
def test_bad_profile_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: dict[str, object], message: str
) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    status, err = _run(capsys, ["--profiles", str(path), "validate", str(PASSING)])
    assert status == 2
    assert err.startswith("ktstr-host: error:") and message in err


def test_deeply_nested_profile_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    status, err = _run(capsys, ["--profiles", str(path), "validate", str(PASSING)])
    assert status == 2 and err.startswith("ktstr-host: error: cannot read profiles")


def test_user_profile_cannot_shadow_a_builtin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"name": "ktstr-0.15", "cap": 16}))
    assert _run(capsys, ["--profiles", str(path), "report", str(PASSING)])[0] == 2
    assert get_profile("ktstr-0.15").cap == 16 << 20
    assert main(["report", str(PASSING)]) == 0


def test_profile_fields_are_type_checked_in_python() -> None:
    with pytest.raises(ProfileError, match="cap must be an integer"):
        dataclasses.replace(KTSTR_0_44, cap=True)
    with pytest.raises(ProfileError, match="known_tags"):
        dataclasses.replace(KTSTR_0_44, known_tags=frozenset({-1}))
    with pytest.raises(ProfileError, match="wprof_chunked"):
        dataclasses.replace(KTSTR_0_44, wprof_chunked="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1000000000000", str(2**63), "0", "-1", "abc", "1e3"])
def test_decode_chunk_size_is_range_checked(capsys: pytest.CaptureFixture[str], value: str) -> None:
    raw = FIXTURES / "bulk" / "normal-run.bin"
    status, err = _run(capsys, ["decode", "--chunk-size", value, str(raw)])
    assert status == 2 and err.startswith("ktstr-host: error: --chunk-size must be")


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "--speed", "nan", str(PASSING)],
        ["replay", "--speed", "0", str(PASSING)],
        ["fuzz", "--time", "inf"],
        ["fuzz", "--iterations", "-1"],
        ["fuzz", "--seed", str(2**64)],
        ["fuzz", "--chunk-size", str(2**63)],
        ["record", "--duration", "-1", "--out", "x.jsonl"],
    ],
)
def test_numeric_options_are_range_checked(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    status, err = _run(capsys, argv)
    assert status == 2 and err.startswith(f"ktstr-host: error: {argv[1]} must be")


def test_pcapng_export_of_an_unrepresentable_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = PASSING.read_text().splitlines()
    last = json.loads(lines[-1])
    last["t"] = 1e303
    src = tmp_path / "far.jsonl"
    src.write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")
    out = tmp_path / "o.pcapng"
    status, err = _run(capsys, ["export", "--pcapng", str(out), str(src)])
    assert status == 2 and "pcapng timestamp" in err and not out.exists()
