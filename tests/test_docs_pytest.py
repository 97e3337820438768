"""Every example of docs/pytest.md, run as written (pytester sandboxes).

Conventions of the doc: each ``## `` section is one fresh project; a fenced block after
``<!-- file: NAME -->`` is written to NAME; ``$ pytest ARGS  # N passed`` lines run
pytest and check the outcome; ``$ ls PATH`` checks a file exists, ``$ rm PATH`` removes
one; a block after ``<!-- output -->`` holds fnmatch lines the previous pytest output
must contain, in order; ``<!-- needs: vm -->`` marks a section that boots QEMU.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import vm_support

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parent.parent / "docs" / "pytest.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_DIRECTIVE = re.compile(r"<!-- (file|needs|output)(?:: (\S+))? -->\n$")
_OUTCOME = re.compile(r"(\d+) (passed|failed|errors?|skipped)")


@dataclass
class Step:
    kind: str  # file, run, ls, rm, output
    arg: str = ""
    text: str = ""
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class Example:
    title: str
    steps: list[Step] = field(default_factory=list)
    needs_vm: bool = False


def _command(line: str) -> Step:
    command, _, expect = line.removeprefix("$ ").partition("#")
    words = shlex.split(command)
    if words[0] in ("ls", "rm") and len(words) == 2:
        return Step(words[0], words[1])
    assert words[0] == "pytest", f"docs/pytest.md: unsupported command {line!r}"
    outcomes = {}
    for n, what in _OUTCOME.findall(expect):
        outcomes["errors" if what.startswith("error") else what] = int(n)
    assert outcomes, f"docs/pytest.md: {line!r} does not say its outcome (# N passed)"
    return Step("run", shlex.join(words[1:]), outcomes=outcomes)


def parse(doc: str) -> list[Example]:
    examples: list[Example] = []
    for section in re.split(r"^## ", doc, flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        example = Example(title)
        pos = 0
        for m in _FENCE.finditer(body):
            before = body[pos : m.start()]
            pos = m.end()
            directives = [_DIRECTIVE.search(line + "\n") for line in before.splitlines()]
            found = [(d.group(1), d.group(2) or "") for d in directives if d]
            example.needs_vm |= ("needs", "vm") in found
            lang, text = m.group(1), m.group(2)
            if ("output", "") in found:
                example.steps.append(Step("output", text=text))
            elif any(kind == "file" for kind, _ in found):
                name = next(arg for kind, arg in found if kind == "file")
                example.steps.append(Step("file", name, text))
            elif lang == "sh":
                example.steps += [_command(line) for line in text.splitlines() if line.strip()]
            else:
                raise AssertionError(f"docs/pytest.md, {title}: a {lang} block that is not run")
        if example.steps:
            examples.append(example)
    return examples


EXAMPLES = parse(DOC.read_text(encoding="utf-8"))


def test_the_doc_has_an_example_per_feature() -> None:
    titles = [e.title for e in EXAMPLES]
    assert titles == [
        "Quick start",
        "Record modes",
        "Where transcripts go",
        "Recorders",
        "Filtering what gets recorded",
        "Matching host writes",
        "One report per failure",
    ]
    runs = [s for e in EXAMPLES for s in e.steps if s.kind == "run"]
    assert len(runs) >= 12


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.title for e in EXAMPLES])
def test_doc_example(example: Example, pytester: pytest.Pytester) -> None:
    if example.needs_vm:
        vm_support.vm_env()
    output: list[str] | None = None
    for step in example.steps:
        path = pytester.path / step.arg
        if step.kind == "file":
            path.write_text(step.text, encoding="utf-8")
        elif step.kind == "ls":
            assert path.is_file(), f"{step.arg} was not written"
        elif step.kind == "rm":
            path.unlink()
        elif step.kind == "run":
            result = pytester.runpytest("-p", "no:cacheprovider", *shlex.split(step.arg))
            output = result.outlines
            result.assert_outcomes(**step.outcomes)
        else:
            assert output is not None, "an output block before any pytest run"
            pytest.LineMatcher(output).fnmatch_lines(step.text.splitlines())
