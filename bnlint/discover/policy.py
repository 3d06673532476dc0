"""The import policy: decide from a file's source alone whether importing it
to build its models is safe and useful. Torch-free; nothing is executed.

A file is imported only when its source says it *defines or builds models*
(a class deriving from something, a model built at module level, or a
``bnlint_models()`` hook) and it does *not* look like a script that would
start work on import: module-level loops or ``with`` blocks, ``.backward()``,
``optimizer.step()``, ``parse_args()``, ``input()``, or a bare call of one of
the file's own functions (``main()``). Code under ``if __name__ ==
"__main__":`` never runs (the file is imported under another name).
``--import`` / ``--no-import`` override the decision. This is the one place
the policy is written down; the README quotes it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterator


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
