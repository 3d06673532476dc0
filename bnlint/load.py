"""Find the files to check, decide from their source whether importing them is
safe and useful, and run the model analysis in a child process with a time
limit. Torch-free: this is the parent's side.

A file is imported only when its source says it *defines or builds models*
(a class deriving from something, a model built at module level, or a
``bnlint_models()`` hook) and it does *not* look like a script that would
start work on import: module-level loops or ``with`` blocks, ``.backward()``,
``optimizer.step()``, ``parse_args()``, ``input()``, or a bare call of one of
the file's own functions (``main()``). Code under ``if __name__ ==
"__main__":`` never runs (the file is imported under another name).
``--import`` / ``--no-import`` override the decision.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from bnlint.findings import FileResult, Finding
from bnlint.inputs import InputSpec
from bnlint.registry import get_rule

DEFAULT_TIMEOUT = 60.0
WORKER_START_TIMEOUT = 180.0
EXCLUDED_DIRS = {
    ".git", ".hg", ".svn", ".venv", "venv", "env", ".env", "__pycache__", "node_modules",
    "site-packages", "dist-packages", "build", "dist", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".eggs",
}


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit 2."""


@dataclass
class Target:
    path: str
    names: list[str] | None = None  # file.py::Name targets


def expand_paths(args: Iterable[str]) -> list[Target]:
    """Files and directories (recursively, ``*.py``) and ``file.py::Name``."""
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


# -- should we import it? ---------------------------------------------------
@dataclass
class Verdict:
    importable: bool
    reason: str
    syntax_error: SyntaxError | None = None
    tree: ast.Module | None = field(default=None, repr=False)


_WORK_METHODS = {"backward", "step", "fit", "parse_args", "parse_known_args", "zero_grad"}
_WORK_FUNCS = {"input", "exit", "quit"}


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If):
        return False
    t = node.test
    return (
        isinstance(t, ast.Compare)
        and isinstance(t.left, ast.Name)
        and t.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in t.comparators)
    )


def _top_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """Module-level statements that run on import (descending into if/try,
    skipping the __main__ block and definitions)."""
    stack = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        if _is_main_guard(node):
            continue
        if isinstance(node, (ast.If, ast.Try)):
            for block in ("body", "orelse", "finalbody"):
                stack.extend(reversed(getattr(node, block, [])))
            for h in getattr(node, "handlers", []):
                stack.extend(reversed(h.body))
            continue
        yield node


def classify(path: str, text: str | None = None) -> Verdict:
    if text is None:
        with open(path, "rb") as fh:
            text = fh.read()  # type: ignore[assignment]
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return Verdict(False, "syntax error", syntax_error=exc)
    except ValueError as exc:  # null bytes
        err = SyntaxError(str(exc))
        err.filename, err.lineno = path, 1
        return Verdict(False, "not Python source", syntax_error=err)
    except (RecursionError, MemoryError):  # CPython's parser gives up on it too
        err = SyntaxError("too deeply nested for Python's parser")
        err.filename, err.lineno = path, 1
        return Verdict(False, "too deeply nested", syntax_error=err)

    own_functions = {
        n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    defines_class = builds = has_hook = False
    for node in _top_level(tree):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            return Verdict(False, f"runs a loop at module level (line {node.lineno})", tree=tree)
        if isinstance(node, (ast.With, ast.AsyncWith)):
            return Verdict(False, f"runs a `with` block at module level (line {node.lineno})", tree=tree)
        if isinstance(node, ast.ClassDef) and node.bases:
            defines_class = True
        if isinstance(node, ast.FunctionDef) and node.name == "bnlint_models":
            has_hook = True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for sub in ast.walk(node):
            if not isinstance(sub, ast.Call):
                continue
            f = sub.func
            if isinstance(f, ast.Attribute) and f.attr in _WORK_METHODS:
                return Verdict(False, f"calls .{f.attr}() at module level (line {sub.lineno})", tree=tree)
            if isinstance(f, ast.Name) and f.id in _WORK_FUNCS:
                return Verdict(False, f"calls {f.id}() at module level (line {sub.lineno})", tree=tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            f = node.value.func
            if isinstance(f, ast.Name) and f.id in own_functions:
                return Verdict(False, f"calls {f.id}() at module level (line {node.lineno})", tree=tree)
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
            builds = True
    if has_hook:
        return Verdict(True, "defines bnlint_models()", tree=tree)
    if defines_class:
        return Verdict(True, "defines classes", tree=tree)
    if builds:
        return Verdict(True, "builds objects at module level", tree=tree)
    return Verdict(False, "defines no models", tree=tree)


# -- the child process ---------------------------------------------------------
class WorkerDied(Exception):
    pass


# `python -m` / `-c` put the working directory first on sys.path, so a user's
# `struct.py`, `random.py` or `inspect.py` next to where they run bnlint would
# shadow the standard library while torch imports. Move it to the end: the
# user's own imports from there still resolve, after the stdlib's.
_WORKER_BOOT = "import sys; sys.path.append(sys.path.pop(0)); from bnlint.worker import main; main()"


class Worker:
    """One analysis process (:mod:`bnlint.worker`), reused across files."""

    def __init__(self) -> None:
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
            env=env,
        )
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.stage = "starting"
        self._expect("ready", WORKER_START_TIMEOUT)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _expect(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(self.stage)
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError(self.stage) from None
            if line is None:
                raise WorkerDied(self._death())
            msg = json.loads(line)
            if msg["event"] == "stage":
                self.stage = msg["stage"]
            elif msg["event"] == event:
                return msg

    def _death(self) -> str:
        code = self.proc.wait()
        self.stderr.seek(0)
        tail = [l for l in self.stderr.read().decode("utf-8", "replace").splitlines() if l.strip()]
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        last = f": {tail[-1].strip()[:200]}" if tail else ""
        return f"the analysis process died ({how}) while {self.stage}{last}"

    def run(self, job: dict, timeout: float) -> dict:
        assert self.proc.stdin is not None
        self.stage = "importing"
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise WorkerDied(self._death()) from None
        return self._expect("result", timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr.close()


def _bn001(path: str, message: str, line: int = 1, col: int = 1) -> Finding:
    rule = get_rule("BN001")
    assert rule is not None
    from bnlint.paths import display_path

    return rule.make(message, path=display_path(path), line=line, col=col)


def analyze_models(
    jobs: list[Target],
    rule_codes: list[str],
    *,
    inputs: "InputSpec | None" = None,
    batch_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_file: Callable[[str], None] = lambda path: None,
) -> Iterator[FileResult]:
    """Analyze each target in a child process; one outcome per file."""
    worker: Worker | None = None
    try:
        for target in jobs:
            on_file(target.path)
            job = {
                "path": target.path,
                "targets": target.names,
                "rules": rule_codes,
                "inputs": inputs.to_json() if inputs else None,
                "batch_size": batch_size,
            }
            try:
                if worker is None:
                    worker = Worker()
                msg = worker.run(job, timeout)
                yield FileResult.from_json(msg)
            except TimeoutError as exc:
                stage = str(exc)
                if worker is not None:
                    worker.close()
                    worker = None
                if stage == "starting":
                    raise UsageError(
                        "the analysis process did not start in time "
                        f"({WORKER_START_TIMEOUT:.0f} s): is torch importable?"
                    ) from None
                res = FileResult(target.path)
                res.findings.append(_bn001(target.path, f"timed out after {timeout:g} s while {stage}"))
                yield res
            except WorkerDied as exc:
                if worker is not None:
                    worker.close()
                    worker = None
                res = FileResult(target.path)
                res.findings.append(_bn001(target.path, str(exc)))
                yield res
    finally:
        if worker is not None:
            worker.close()
