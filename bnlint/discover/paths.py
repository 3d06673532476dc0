"""The files a run checks: files and directories (recursively, ``*.py``) and
``file.py::Name`` targets. Torch-free."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

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


def expand_paths(
    args: Iterable[str],
    *,
    excluded: Callable[[str], bool] = lambda path: False,
    respect_gitignore: bool = False,
    notes: list[str] | None = None,
) -> list[Target]:
    """Files and directories (recursively, ``*.py``) and ``file.py::Name``.

    Files found by walking a directory are dropped when ``excluded(path)``
    says so or, with ``respect_gitignore``, when git ignores them (as ruff
    does); a file named explicitly is always checked. A file reached twice
    (``a.py ./a.py``, a directory and a file in it, a symlink to it) is
    checked once; a dangling or looping symlink met in a directory is skipped
    with a note (appended to ``notes``). Raises :class:`UsageError` for a
    path named explicitly that does not exist or cannot be read."""
    notes = notes if notes is not None else []
    targets: dict[str, Target] = {}  # by real path
    walked: list[str] = []
    explicit: set[str] = set()
    for arg in args:
        path, sep, name = arg.partition("::")
        if sep and not name:
            raise UsageError(f"{arg!r}: expected file.py::ModelName")
        if not os.path.exists(path):
            raise UsageError(f"{path}: no such file or directory")
        if os.path.isdir(path):
            if sep:
                raise UsageError(f"{arg!r}: ::Name needs a file, not a directory")
            for file in _walk(path, excluded):
                if os.path.islink(file) and not os.path.exists(file):
                    notes.append(f"{file}: skipped, a dangling or looping symlink")
                    continue
                key = os.path.realpath(file)
                if key not in targets:
                    targets[key] = Target(file)
                    walked.append(key)
            continue
        if not os.access(path, os.R_OK):
            raise UsageError(f"{path}: permission denied")
        explicit.add(os.path.realpath(path))
        target = targets.setdefault(os.path.realpath(path), Target(path))
        if sep:
            if target.names is None:
                target.names = []
            target.names.append(name)
    if respect_gitignore and walked:
        ignored = git_ignored([targets[k].path for k in walked])
        for key in walked:
            if targets[key].path in ignored and key not in explicit:
                del targets[key]
    return list(targets.values())


def _walk(root: str, excluded: Callable[[str], bool]) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in EXCLUDED_DIRS and not d.startswith(".") and not d.endswith(".egg-info")
            and not excluded(os.path.join(dirpath, d))
        )
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            if f.endswith(".py") and not excluded(path):
                yield path


def git_ignored(paths: list[str]) -> set[str]:
    """The paths git ignores (``.gitignore``, ``.git/info/exclude``, the
    global excludes); none outside a git work tree or without git."""
    git = shutil.which("git")
    if git is None:
        return set()
    ignored: set[str] = set()
    by_dir: dict[str, list[str]] = {}
    for p in paths:
        by_dir.setdefault(os.path.dirname(os.path.abspath(p)) or ".", []).append(p)
    # One call per work tree is enough; group by the first directory's tree.
    roots: dict[str, list[str]] = {}
    for d, ps in by_dir.items():
        try:
            top = subprocess.run(
                [git, "-C", d, "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if top.returncode == 0:
            roots.setdefault(top.stdout.strip(), []).extend(ps)
    for root, ps in roots.items():
        try:
            out = subprocess.run(
                [git, "-C", root, "check-ignore", "--no-index", "-z", "--stdin"],
                input="\0".join(os.path.abspath(p) for p in ps), capture_output=True, text=True, timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        hits = {h for h in out.stdout.split("\0") if h}
        ignored.update(p for p in ps if os.path.abspath(p) in hits)
    return ignored
