"""The file as the source fixer sees it: every call of one file, by where it
starts, with the qualified names, scopes and parents the planners read
(libcst metadata); which calls each code's fix may edit (:data:`KINDS`); and
:class:`Prepared`, files parsed ahead while the caller waits for the model
analysis. Planning and editing are :mod:`bnlint.fix.source`'s.

Imports libcst and the stdlib only (no torch).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import Any, Callable

import libcst as cst
from libcst.metadata import (
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
    ScopeProvider,
)

from bnlint.findings import Finding

# -- what each code's call must be --------------------------------------------

# torch.nn classes whose constructor takes `bias`, with bias's position.
BIAS_POSITION = {
    **{f"torch.nn.Conv{d}d": 7 for d in (1, 2, 3)},
    **{f"torch.nn.ConvTranspose{d}d": 7 for d in (1, 2, 3)},
    "torch.nn.Linear": 2,
    **{f"torch.nn.LazyConv{d}d": 6 for d in (1, 2, 3)},
    **{f"torch.nn.LazyConvTranspose{d}d": 6 for d in (1, 2, 3)},
    "torch.nn.LazyLinear": 1,
}
# BatchNorm constructors: their positional parameters, in order.
BN_PARAMS = {
    **{
        f"torch.nn.BatchNorm{d}d": ("num_features", "eps", "momentum", "affine", "track_running_stats")
        for d in (1, 2, 3)
    },
    "torch.nn.SyncBatchNorm": ("num_features", "eps", "momentum", "affine", "track_running_stats", "process_group"),
    **{f"torch.nn.LazyBatchNorm{d}d": ("eps", "momentum", "affine", "track_running_stats") for d in (1, 2, 3)},
}
GN_SWAPPABLE = {f"torch.nn.BatchNorm{d}d" for d in (1, 2, 3)} | {"torch.nn.SyncBatchNorm"}
# Functional dropouts whose `training` defaults to True (position 2).
FUNCTIONAL_DROPOUT = {f"torch.nn.functional.{n}" for n in ("dropout", "dropout1d", "dropout2d", "dropout3d")}
SITE_EXEMPT = {"BN203"}  # edits a forward line, not a construction call


def normal(qualified: str) -> str:
    """``torch.nn.modules.conv.Conv2d`` -> ``torch.nn.Conv2d``."""
    parts = qualified.split(".")
    if parts[:3] == ["torch", "nn", "modules"] and len(parts) >= 5:
        return ".".join(["torch", "nn", parts[-1]])
    return qualified


def decoded(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class Skip(Exception):
    """Raised while placing a group's edit: the reason it cannot be placed."""


# -- the file as libcst sees it --------------------------------------------------


class Index(cst.CSTVisitor):
    """Every call of one file by where it starts, with the metadata the
    planners read (qualified names, scopes, parents)."""

    METADATA_DEPENDENCIES = (PositionProvider, QualifiedNameProvider, ParentNodeProvider, ScopeProvider)

    def __init__(self, module: cst.Module, raw: bytes) -> None:
        super().__init__()
        self.wrapper = MetadataWrapper(module)  # (copies the tree: use wrapper.module)
        # Lines as the tokenizer counts them (str.splitlines also breaks at \f, \v, ...).
        self.lines = re.split(r"\r\n|\r|\n", decoded(raw))
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.at: dict[tuple[int, int], list[cst.Call]] = defaultdict(list)
        self.on_line: dict[int, list[cst.Call]] = defaultdict(list)
        self.classes: dict[str, cst.ClassDef] = {}
        self.starts: dict[cst.Call, tuple[int, int]] = {}
        self.qnames: dict[cst.CSTNode, set[str]] = {}
        self.parents: Any = None
        self.scopes: Any = None
        self.wrapper.visit(self)
        self.parents = self.wrapper.resolve(ParentNodeProvider)
        self.scopes = self.wrapper.resolve(ScopeProvider)

    def visit_Call(self, node: cst.Call) -> None:
        start = self.get_metadata(PositionProvider, node).start
        self.starts[node] = (start.line, start.column)
        self.at[(start.line, start.column)].append(node)
        self.on_line[start.line].append(node)
        if isinstance(node.func, cst.Attribute):
            # CPython 3.11 places `obj\n    .attr(...)` at the attribute's line.
            attr = self.get_metadata(PositionProvider, node.func.attr).start
            if attr.line != start.line:
                self.at[(attr.line, attr.column)].append(node)
        self.qnames[node] = {q.name for q in self.get_metadata(QualifiedNameProvider, node.func, set())}

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        names = {q.name for q in self.get_metadata(QualifiedNameProvider, node.name, set())}
        bases = set()
        for base in node.bases:
            bases |= {q.name for q in self.get_metadata(QualifiedNameProvider, base.value, set())}
        self.qnames[node] = bases
        for name in names:
            self.classes[name] = node

    # -- locating ---------------------------------------------------------------

    def locate(self, code: str, group: list[Finding], line: int, col: int) -> cst.Call:
        """The one call of ``code``'s kind that starts at (line, col)."""
        kind, accepts = KINDS[code]
        if line > len(self.lines):
            raise Skip(f"line {line} is past the end of the file ({len(self.lines)} lines): changed since the analysis?")
        text = self.lines[line - 1]
        raw = text.encode("utf-8")
        if col - 1 > len(raw):
            raise Skip(f"line {line} has no column {col}: changed since the analysis?")
        column = len(raw[: col - 1].decode("utf-8", "ignore"))
        here = self.at.get((line, column), [])
        found = [c for c in here if accepts(self, c)]
        if not found and col == 1 and all(f.source == "model" for f in group) and code in SITE_EXEMPT:
            # A forward line from an FX trace has no column: take the line's
            # one call of the kind, if it has exactly one.
            here = self.on_line.get(line, [])
            found = [c for c in here if accepts(self, c)]
            if len(found) > 1:
                raise Skip(f"line {line} has {len(found)} {kind} calls and the finding gives no column")
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Skip(f"{len(found)} {kind} calls start at {line}:{col}")
        there = ", ".join(sorted({self.code(c.func) + "(...)" for c in here}))
        raise Skip(
            f"no {kind} call starts at {line}:{col}"
            + (f" (there: {there})" if there else "")
            + ": changed since the analysis, or the layer is built by a call the fix cannot see"
        )

    def code(self, node: cst.CSTNode) -> str:
        return self.wrapper.module.code_for_node(node)

    def torch_class(self, call: cst.Call, table: dict | set, *, subclasses: bool = False) -> str | None:
        """The torch class in ``table`` that ``call`` constructs: directly
        (``nn.Conv2d``), or with ``subclasses`` through classes of this file
        that subclass one and define no ``__init__`` (same signature)."""
        return self._resolve(self.qnames.get(call, set()), table, subclasses, depth=0)

    def _resolve(self, names: set[str], table, subclasses: bool, depth: int) -> str | None:
        hits = {normal(n) for n in names} & set(table)
        if len(hits) == 1 and len(names) == 1:
            return hits.pop()
        if not subclasses or depth > 8 or len(names) != 1:
            return None
        cls = self.classes.get(next(iter(names)))
        if cls is None or _defines_init(cls):
            return None
        return self._resolve(self.qnames.get(cls, set()), table, subclasses, depth + 1)


def _defines_init(cls: cst.ClassDef) -> bool:
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else []
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value in ("__init__", "__new__"):
            return True
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = getattr(small, "targets", None) or [getattr(small, "target", None)]
                for t in targets:
                    t = getattr(t, "target", t)
                    if isinstance(t, cst.Name) and t.value in ("__init__", "__new__"):
                        return True
    return False


KINDS: dict[str, tuple[str, Callable[[Index, cst.Call], bool]]] = {
    "BN101": ("Conv/ConvTranspose/Linear", lambda ix, c: ix.torch_class(c, BIAS_POSITION, subclasses=True) is not None),
    "BN203": ("F.dropout", lambda ix, c: ix.torch_class(c, FUNCTIONAL_DROPOUT) is not None),
    "BN202": ("nn.Dropout", lambda ix, c: ix.torch_class(c, {"torch.nn.Dropout"}) is not None),
    "BN103": ("BatchNorm", lambda ix, c: ix.torch_class(c, BN_PARAMS, subclasses=True) is not None),
    "BN301": ("BatchNorm", lambda ix, c: ix.torch_class(c, GN_SWAPPABLE) is not None),
    "BN302": ("BatchNorm", lambda ix, c: ix.torch_class(c, GN_SWAPPABLE) is not None),
}


class Prepared:
    """Files parsed for planning ahead of :func:`plan_fixes`, by one thread,
    while the caller waits for something else (the model analysis in the
    child processes): the libcst parse and metadata of a file cost 20-60 ms,
    most of a JSON or SARIF run's own time otherwise. A file is used only if
    its bytes are still those parsed; anything that fails here is done again,
    and reported, by the planning itself."""

    def __init__(self) -> None:
        import queue
        import threading

        self._queue: "queue.Queue[str | None]" = queue.Queue()
        self._ready: dict[str, tuple[bytes, Index]] = {}
        self._asked: set[str] = set()
        self._thread = threading.Thread(target=self._work, name="bnlint-fix-prepare", daemon=True)
        self._thread.start()

    def add(self, path: str) -> None:
        path = os.path.realpath(path)
        if path not in self._asked:
            self._asked.add(path)
            self._queue.put(path)

    def _work(self) -> None:
        while True:
            path = self._queue.get()
            if path is None:
                return
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
                self._ready[path] = (raw, Index(cst.parse_module(raw), raw))
            except Exception:  # noqa: BLE001 -- the planning itself says what is wrong
                pass

    def finish(self) -> None:
        """Wait for the files asked for (call before planning)."""
        self._queue.put(None)
        self._thread.join()

    def take(self, path: str, raw: bytes) -> "Index | None":
        found = self._ready.pop(path, None)
        return found[1] if found is not None and found[0] == raw else None
