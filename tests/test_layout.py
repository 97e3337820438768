"""ktstr_host's layout: the layers import downwards only, and the old flat paths still work."""

from __future__ import annotations

import ast
import importlib
import pickle
import sys
import warnings
from pathlib import Path

import pytest

import ktstr_host
from ktstr_host.decode.events import Frame
from ktstr_host.moved_modules import MOVED, new_name

HOST = Path(ktstr_host.__file__).resolve().parent

LAYER = {"decode": 0, "session": 1, "vm": 1, "transcripts": 2, "export": 3, "fuzzing": 3, "cli": 4}
"""The data flow of the package's docstring: a subpackage imports only from lower layers
(and from the shared top-level modules such as ``output_files``)."""


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the module at ``path``."""
    parts = list(path.relative_to(HOST.parent).with_suffix("").parts)
    package = parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.append((node.lineno, ".".join([*base, *filter(None, [node.module])])))
            else:
                found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def test_every_subpackage_has_a_layer() -> None:
    subpackages = {p.parent.name for p in HOST.glob("*/__init__.py")}
    assert subpackages == set(LAYER)


def test_layers_import_downwards_only() -> None:
    wrong = []
    for path in sorted(HOST.glob("*/**/*.py")):
        own = path.relative_to(HOST).parts[0]
        for line, module in _imports(path):
            top = module.split(".")
            if top[0] != "ktstr_host" or len(top) < 2 or top[1] not in LAYER or top[1] == own:
                continue
            if LAYER[top[1]] >= LAYER[own]:
                wrong.append(f"{path.relative_to(HOST)}:{line} imports {module}")
    assert wrong == []


def test_relative_imports_are_resolved() -> None:
    """The AST walk resolves relative imports (so the check above can fail)."""
    path = HOST / "decode" / "bulk.py"
    lines = dict(_imports(path))
    assert "ktstr_host.decode.events" in lines.values()
    assert all(not m.startswith(".") for m in lines.values())


def test_no_module_is_left_at_an_old_path() -> None:
    for old in MOVED:
        assert not (HOST / f"{old}.py").exists(), old
        assert importlib.util.find_spec(f"ktstr_host.{MOVED[old]}") is not None, old


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_is_the_new_module_with_a_warning(old: str) -> None:
    name = f"ktstr_host.{old}"
    saved = sys.modules.pop(name, None)
    try:
        with pytest.warns(DeprecationWarning, match=f"{name} moved to ktstr_host.{MOVED[old]}"):
            module = importlib.import_module(name)
        new = importlib.import_module(f"ktstr_host.{MOVED[old]}")
        assert module is new
        assert module.__spec__ is not None and module.__spec__.name == new.__name__
    finally:
        sys.modules.pop(name, None)
        if saved is not None:
            sys.modules[name] = saved


def test_new_name() -> None:
    assert new_name("ktstr_host.transcript_io") == "ktstr_host.transcripts.io"
    assert new_name("ktstr_host.urlhandler.protocol_ktstrreplay") == (
        "ktstr_host.transcripts.urlhandler.protocol_ktstrreplay"
    )
    assert new_name("ktstr_host.session") is None  # now a package of its own
    assert new_name("ktstr_host.decode.bulk") is None
    assert new_name("ktstr_hostile.bulk") is None


def test_a_frame_pickled_before_the_move_loads() -> None:
    """Protocol 0 names the unpickler's module in plain text: write the old one in."""
    frame = Frame(16, 2, None, memoryview(b"hi").toreadonly(), True, 0, 0)
    data = pickle.dumps(frame, protocol=0)
    assert b"ktstr_host.decode.events" in data
    old = data.replace(b"ktstr_host.decode.events", b"ktstr_host.events")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        back = pickle.loads(old)
    assert back == frame and bytes(back.payload) == b"hi"
