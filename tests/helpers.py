"""What the tests share: paths, running the CLI as a user does, and the
in-process entry points the model and source analyses offer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def run_cli(*args, cwd=ROOT, env=None, timeout=300):
    """Run the installed `bnlint` as a user would (a separate process)."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bnlint", *map(str, args)],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def source_findings(text: str, rule: str | None = None, filename: str = "script.py"):
    """The source rules (or one of them) on a snippet, through the API."""
    from bnlint.api import check_source

    found = check_source(textwrap.dedent(text), filename=filename, select=[rule] if rule else None)
    return [f for f in found if rule is None or f.code == rule]


def model_findings(path, rules=None):
    """The model analysis of one file, in this process (the worker's entry
    point): a FileResult."""
    from bnlint.model.worker import analyze_file

    return analyze_file(str(path), rules=rules)


def line_of(text: str, needle: str) -> int:
    return next(i for i, l in enumerate(textwrap.dedent(text).splitlines(), 1) if needle in l)
