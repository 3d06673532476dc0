"""What a module's top-level code adds to ``sys.path`` (``import _init_paths``
of research repositories: ``sys.path.insert(0, osp.join(this_dir, '..',
'lib'))``), read from its source, never run: paths built from ``__file__``,
string literals and ``os.path`` functions only."""

from __future__ import annotations

import ast
import os
from typing import TYPE_CHECKING

from bnlint.source.syntax import dotted, own_nodes

if TYPE_CHECKING:
    from bnlint.source.structure import FileStructure

_PATH_FUNCTIONS = {"os.path.join", "os.path.dirname", "os.path.abspath", "os.path.realpath", "os.path.normpath"}


def sys_path_additions(structure: "FileStructure") -> list[str]:
    """The directories a module's top-level code adds to ``sys.path``:
    ``sys.path.insert(i, P)``, ``sys.path.append(P)``, or a call of one of its
    functions that does so with its parameter (``add_path(lib_path)``)."""
    imports = structure.imports
    path = os.path.abspath(structure.path)

    def value(e: ast.AST | None, depth: int = 0) -> str | None:
        if e is None or depth > 8:
            return None
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            return e.value
        if isinstance(e, ast.Name):
            return path if e.id == "__file__" else value(structure.module_value(e.id), depth + 1)
        if isinstance(e, ast.Call) and not e.keywords:
            q = imports.qualify(e.func)
            args = [value(a, depth + 1) for a in e.args]
            if q not in _PATH_FUNCTIONS or not args or None in args:
                return None
            if q == "os.path.join":
                return os.path.join(*args)  # type: ignore[arg-type]
            if len(args) != 1:
                return None
            return os.path.dirname(args[0]) if q == "os.path.dirname" else os.path.abspath(args[0])  # type: ignore[arg-type]
        return None

    def adds(call: ast.Call) -> ast.expr | None:  # what `sys.path.insert(0, P)` / `.append(P)` adds
        q = imports.qualify(call.func) or dotted(call.func) or ""
        if q == "sys.path.insert" and len(call.args) == 2:
            return call.args[1]
        if q == "sys.path.append" and len(call.args) == 1:
            return call.args[0]
        return None

    adders = {  # module functions that add their first parameter: `def add_path(path): sys.path.insert(0, path)`
        name for name, func in getattr(structure, "functions", {}).items() if func.params and any(
            isinstance(n, ast.Call) and isinstance(adds(n), ast.Name) and adds(n).id == func.params[0]  # type: ignore[union-attr]
            for n in ast.walk(func.node)
        )
    }
    found = []
    for node in own_nodes(structure.tree):
        if not isinstance(node, ast.Call):
            continue
        added = adds(node)
        if added is None and isinstance(node.func, ast.Name) and node.func.id in adders and len(node.args) == 1:
            added = node.args[0]
        p = value(added)
        if p is not None:
            found.append(p if os.path.isabs(p) else os.path.join(os.path.dirname(path), p))
    return found
