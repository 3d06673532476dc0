"""Run `bnlint check fixtures/` once, as a user would, and compare what it
reports with the marks in the fixture files, in both directions."""

import json
from collections import defaultdict
from pathlib import Path

import pytest

from marks import parse_marks

from helpers import FIXTURES, ROOT, run_cli

FILES = sorted(p for p in FIXTURES.rglob("*.py"))


@pytest.fixture(scope="module")
def reported():
    proc = run_cli("check", "fixtures", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    by_file = defaultdict(list)
    for f in json.loads(proc.stdout)["findings"]:
        by_file[str((ROOT / f["path"]).resolve())].append(f)
    return by_file


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_marks(path: Path, reported):
    marks = parse_marks(path)
    found = reported.get(str(path.resolve()), [])
    at = defaultdict(list)
    for f in found:
        at[(f["line"], f["code"])].append(f)

    problems = []
    for (line, code), modules in marks.expect.items():
        got = at.get((line, code), [])
        if not got:
            problems.append(f"line {line}: expected {code}, not reported")
        for module in modules:
            if not any(f["module"] == module for f in got):
                problems.append(f"line {line}: expected {code} @{module}; got {[f['module'] for f in got]}")
        if modules and len(got) != len(modules):
            problems.append(f"line {line}: expected {len(modules)} {code} findings, got {len(got)}")
    for line, code in marks.ok:
        if (line, code) in at:
            problems.append(f"line {line}: {code} must not be reported: {at[(line, code)][0]['message']}")
    for line, code in marks.todo:
        if (line, code) in at:
            problems.append(f"line {line}: {code} is now found: promote `todo-expect` to `expect`")
    for (line, code), fs in at.items():
        if (line, code) not in marks.expect:
            problems.append(f"line {line}: unexpected {code}: {fs[0]['message']}")
    assert not problems, "\n".join(problems)


def test_every_fixture_is_annotated_or_clean():
    """A fixture with no marks at all proves nothing: each one says what it expects."""
    for path in FILES:
        m = parse_marks(path)
        assert m.expect or m.ok or m.todo, f"{path} has no expectation marks"
