"""The files a run checks: files and directories (recursively, ``*.py``) and
``file.py::Name`` targets. Torch-free."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Iterator

from bnlint.findings import UsageError

EXCLUDED_DIRS = {
    ".git", ".hg", ".svn", ".venv", "venv", "env", ".env", "__pycache__", "node_modules",
    "site-packages", "dist-packages", "build", "dist", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".eggs",
}


@dataclass
class Target:
    path: str
    names: list[str] | None = None  # file.py::Name targets


def expand_paths(args: Iterable[str]) -> list[Target]:
    """Files and directories (recursively, ``*.py``) and ``file.py::Name``.
    Raises :class:`UsageError` for a path that does not exist or cannot be read."""
    targets: dict[str, Target] = {}
    for arg in args:
        path, sep, name = arg.partition("::")
        if sep and not name:
            raise UsageError(f"{arg!r}: expected file.py::ModelName")
        if not os.path.exists(path):
            raise UsageError(f"{path}: no such file or directory")
        if os.path.isdir(path):
            if sep:
                raise UsageError(f"{arg!r}: ::Name needs a file, not a directory")
            for file in _walk(path):
                targets.setdefault(file, Target(file))
            continue
        if not os.access(path, os.R_OK):
            raise UsageError(f"{path}: permission denied")
        target = targets.setdefault(path, Target(path))
        if sep:
            if target.names is None:
                target.names = []
            target.names.append(name)
    return list(targets.values())


def _walk(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in EXCLUDED_DIRS and not d.startswith(".") and not d.endswith(".egg-info")
        )
        for f in sorted(filenames):
            if f.endswith(".py"):
                yield os.path.join(dirpath, f)
