"""What the machine formats share: the repo root that CI tools resolve paths
against, paths relative to it, a stable finding order, and the hint and fix
lines shown under a message."""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from bnlint.findings import Finding, Run, display_path


def repo_root(cwd: str | None = None) -> Path:
    """The nearest ancestor of the working directory (looked up now) that
    holds ``.git`` -- a directory, or a file in a worktree or submodule --
    else the working directory."""
    here = Path(cwd or os.getcwd()).resolve()
    for d in (here, *here.parents):
        if (d / ".git").exists():
            return d
    return here


def below(path: str, root: Path | str) -> str | None:
    """``path`` relative to ``root`` with ``/`` separators, or None when it
    does not lie below ``root``."""
    rel = display_path(path, str(root))
    return None if os.path.isabs(rel) else PurePath(rel).as_posix()


def ordered(run: Run) -> list[Finding]:
    """The findings by path, line, column, code, model and module."""
    return sorted(run.findings, key=Finding.sort_key)


def details(f: Finding) -> list[str]:
    """The finding's hint and fix, one line each (none when it has neither)."""
    lines = []
    if f.hint:
        lines.append(f"hint: {f.hint}")
    if f.fix:
        lines.append(f"fix ({f.fix_safety.value if f.fix_safety else 'manual'}): {f.fix}")
    return lines
