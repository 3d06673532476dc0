"""bnlint's pytest plugin (the ``pytest11`` entry point ``bnlint``): gate a
project's models in its own test suite. Loading it imports no torch.

* the ``bnlint_check`` fixture -- ``bnlint_check(model, example_inputs=None,
  **options)`` fails the test with a table of the findings at or above
  ``fail_on`` (default ``warning``);
* the ``@pytest.mark.bnlint(select=..., ignore=..., fail_on=...,
  example_inputs=...)`` marker sets that fixture's defaults for one test;
* ``pytest --bnlint``: every Python file pytest collects from is also checked
  the way ``bnlint check`` checks it (one ``bnlint`` item per file; the files
  are analyzed together, once, when the first item runs; ``[tool.bnlint]``
  applies).
"""

from __future__ import annotations

from typing import Any

import pytest

_RESULTS = pytest.StashKey[dict]()
_FILES = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bnlint")
    group.addoption(
        "--bnlint", action="store_true", default=False,
        help="check every collected Python file with bnlint (models and scripts); findings fail the item",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "bnlint(select=None, ignore=None, fail_on='warning', example_inputs=None): "
        "defaults for the bnlint_check fixture in this test",
    )
    config.stash[_FILES] = []


class BnlintFailure(Exception):
    """The findings of one file or model, already formatted."""


class BnlintFile(pytest.File):
    def collect(self):
        self.config.stash[_FILES].append(str(self.path))
        yield BnlintItem.from_parent(self, name="bnlint")


class BnlintItem(pytest.Item):
    def runtest(self) -> None:
        results = self.config.stash.get(_RESULTS, None)
        if results is None:
            results = self.config.stash[_RESULTS] = _check_all(self.config.stash[_FILES])
        problems = results.get(str(self.path))
        if problems:
            raise BnlintFailure(problems)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, BnlintFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"bnlint: {self.path.name}"


def _check_all(paths: list[str]) -> dict[str, str]:
    """One run over every collected file; per file, the failure text."""
    import os

    from bnlint.api import check_paths
    from bnlint.config import resolve
    from bnlint.testing import format_table

    if not paths:
        return {}
    config = resolve(paths, {})
    run = check_paths(paths, config)
    failing = run.failing(config.fail_on)
    by_file: dict[str, list] = {}
    for f in failing:
        by_file.setdefault(os.path.realpath(f.path) if f.path else "", []).append(f)
    out = {}
    for path in paths:
        found = by_file.get(os.path.realpath(path), [])
        errors = [e for e in run.internal_errors if os.path.basename(path) in e]
        if found or errors:
            text = format_table(found) if found else ""
            out[path] = "\n".join([f"bnlint found {len(found)} problem(s):", text, *errors]).rstrip()
    return out


def pytest_collect_file(file_path, parent):
    if parent.config.getoption("bnlint") and file_path.suffix == ".py":
        return BnlintFile.from_parent(parent, path=file_path)
    return None


@pytest.fixture
def bnlint_check(request: pytest.FixtureRequest):
    """``bnlint_check(model, example_inputs=None, **options)``: assert the
    model is clean; defaults come from a ``@pytest.mark.bnlint(...)`` marker."""
    marker = request.node.get_closest_marker("bnlint")
    defaults: dict[str, Any] = dict(marker.kwargs) if marker else {}

    def check(model, example_inputs=None, **options):
        from bnlint.testing import assert_clean

        merged = {**defaults, **options}
        inputs = example_inputs if example_inputs is not None else merged.pop("example_inputs", None)
        merged.pop("example_inputs", None)
        __tracebackhide__ = True
        assert_clean(model, inputs, **merged)

    return check
