"""Helpers over the stdlib ``ast``: dotted names, constants, the statements
and definitions of a block, the identifiers a piece of code uses, and the
file's imports. Nothing here knows about torch or modes."""

from __future__ import annotations

import ast
import re
from typing import Iterator


def parse(path: str, raw: bytes | str) -> tuple[str, ast.Module]:
    """A file's text and tree. Raises SyntaxError (and ValueError on null bytes)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text, ast.parse(raw, filename=path)


def dotted(expr: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return ".".join(reversed(parts))


def const(expr: ast.AST | None):
    """The value of a literal constant, or the sentinel ``...`` if not one."""
    if isinstance(expr, ast.Constant):
        return expr.value
    return ...


def argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    """The argument a call passes at ``position`` or as ``keyword``."""
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def name_words(name: str) -> set[str]:
    """``evaluate_model`` -> {evaluate, model}; ``runTest`` -> {run, test}."""
    return {w for w in re.split(r"_+|(?<=[a-z])(?=[A-Z])", name.lower()) if w}


def identifier(n: ast.AST) -> str | None:
    """The name one node says: a variable, an attribute, a definition, an
    import, a keyword argument; None for others."""
    if isinstance(n, ast.Name):
        return n.id
    if isinstance(n, ast.Attribute):
        return n.attr
    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.alias)):
        return n.name
    if isinstance(n, ast.keyword):
        return n.arg
    return None


def identifiers(tree: ast.AST) -> set[str]:
    """The names a piece of code uses (variables, attributes, definitions,
    imports, keyword arguments) -- what it says, without its comments."""
    return {name for n in ast.walk(tree) if (name := identifier(n))}


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def statements(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, without descending into
    expressions (imports, classes and functions are statements)."""
    stack = list(reversed(getattr(tree, "body", [])))
    while stack:
        node = stack.pop()
        yield node
        for block in _BLOCKS:
            children = getattr(node, block, None)
            if children:
                stack.extend(reversed(children))


def definitions(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Functions and classes defined in a block, also inside its ifs, trys,
    withs and loops, but not inside other definitions."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, DEFINITIONS):
            yield node
            continue
        for block in _BLOCKS:
            children = getattr(node, block, None)
            if children:
                stack.extend(reversed(children))


def own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not of functions or classes nested in it."""
    stack = list(func.body) if hasattr(func, "body") else []
    nested = (*DEFINITIONS, ast.Lambda)
    AST = ast.AST
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, nested):
            continue  # its name is ours, its body is not
        for name in node._fields:  # ast.iter_child_nodes, inlined: this is the hottest loop of a read
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend(c for c in value if isinstance(c, AST) and not isinstance(c, nested))
            elif isinstance(value, AST) and not isinstance(value, nested):
                stack.append(value)


class Imports:
    """Local names -> qualified names, from every import in the file
    (flow-insensitive: a script imports what it uses)."""

    def __init__(self, tree: ast.Module):
        self.table: dict[str, str] = {}
        for node in statements(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.table[a.asname] = a.name
                    else:
                        root = a.name.split(".", 1)[0]
                        self.table.setdefault(root, root)
            elif isinstance(node, ast.ImportFrom) and (node.module or node.level):
                base = "." * node.level + (node.module or "")  # `.models` stays relative
                for a in node.names:
                    if a.name != "*":
                        self.table[a.asname or a.name] = f"{base}.{a.name}" if node.module else f"{base}{a.name}"

    def qualify(self, expr: ast.AST) -> str | None:
        d = dotted(expr)
        if d is None:
            return None
        root, _, rest = d.partition(".")
        base = self.table.get(root)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base


def assignments(nodes, name: str) -> list[ast.Assign]:
    """The ``name = ...`` statements among ``nodes`` (``name`` one of the targets)."""
    return [
        n for n in nodes
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)
    ]


def self_calls(node: ast.AST) -> set[str]:
    """The names ``self.<name>(...)`` calls in a method."""
    return {
        n.func.attr for n in ast.walk(node)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "self"
    }
