"""The file-level (interprocedural) layer: every function of the file is
walked once its callees have summaries (:class:`~bnlint.source.flow.Summary`),
so a call of a helper applies the helper's effect (one that calls
``model.eval()`` puts the caller's model in eval); each call site records
the modes it passes (:class:`~bnlint.source.facts.CallOf`), so a mode that
is the caller's (``entry``) is resolved along the file's call chains.

:class:`SourceAnalysis` is what the source rules query: the facts, who calls
whom, whether a model is certainly in training mode somewhere up the call
chain (:meth:`SourceAnalysis.train_path`) and whether it may hold BatchNorm
or Dropout at all (:meth:`SourceAnalysis.is_live`).

Methods of ``nn.Module`` / ``LightningModule`` subclasses are not analyzed
for modes: their mode is their parent's or the framework's to set (a module
calling ``self(x)`` in its own ``predict`` is fine)."""

from __future__ import annotations

import ast
import contextlib
import os
import re
from dataclasses import replace
from typing import Iterator

from bnlint.source import vocabulary as V
from bnlint.source.facts import CallOf, ForeignCall, ModeSet, Reentry, Step
from bnlint.source.flow import ENTRY, EVALUATING, FROM_CALLER, TRAINING, Mode, Summary, Val, substitute
from bnlint.source.structure import CycleMemo, FileStructure, Func, structure_of
from bnlint.source.syntax import dotted
from bnlint.source.walker import Walker

_PASSED_ROUNDS = 4  # walks of a file at most (see SourceAnalysis.__init__)


class SourceAnalysis:
    """Everything the source rules ask about one file."""

    def __init__(self, structure: FileStructure, walk_all: bool = True):
        self.structure = structure
        self.events: list = []  # every fact of the file, function by function
        self.inherited: list = []  # the facts of the methods inherited from other files (FileStructure._inherit)
        self._summaries: dict[int, Summary | None] = {}
        self._events: dict[int, list] = {}
        self._busy: set[int] = set()
        self._callers: dict[int, list[CallOf]] = {}
        self._training: set[int] = set()  # functions with a training step
        self._outside: dict[int, "SourceAnalysis"] = {}  # a caller in another file -> that file's analysis
        self._memo = CycleMemo()
        self._handed: set[str] | None = None  # see _handed_over
        # A parameter that a caller passes a model to is a model, whatever its
        # name (`train(args, generator, g_ema)`): when a walk finds one, the
        # file is walked again knowing it. Each round carries a model one call
        # further down; past the last round, such parameters stay unknown.
        if not walk_all:  # summaries on demand only (a module another one imports)
            return
        order = self._callees_first()
        for round_ in range(_PASSED_ROUNDS):
            for func in order:
                self.summary(func)
            if not self._pass_models(order) or round_ == _PASSED_ROUNDS - 1:
                break
            self._summaries.clear()
            self._events.clear()
        for func in structure.funcs:
            events = self._events.get(id(func), ())
            # an inherited method's facts are its own file's to report (but see inherited_loops)
            (self.events if func.origin is None else self.inherited).extend(events)
            for ev in events:
                if isinstance(ev, CallOf):
                    self._callers.setdefault(id(ev.callee), []).append(ev)
                elif isinstance(ev, Step):
                    self._training.add(id(ev.func))

    # -- walking ---------------------------------------------------------------------
    def _pass_models(self, order: list[Func]) -> bool:
        """Mark the parameters callers pass models to; whether there were new ones."""
        passed = False
        for func in order:
            for ev in self._events.get(id(func), ()):
                if isinstance(ev, CallOf):
                    new = {
                        p for p in ev.binding
                        if p in ev.callee.params and not V.looks_like_model_name(p)
                        and ev.callee.annotations.get(p, "") not in self.structure.model_type_names
                    } - ev.callee.passed
                    if new:
                        ev.callee.passed |= new
                        passed = True
        return passed

    def _callees_first(self) -> list[Func]:
        """Every function after the functions it calls (depth-first, without
        recursion: a chain of a thousand helpers is fine), so that a walk
        finds its callees' summaries ready."""
        order: list[Func] = []
        done: set[int] = set()
        for root in self.structure.funcs:
            if id(root) in done:
                continue
            done.add(id(root))
            stack = [(root, iter(root.calls))]
            while stack:
                func, pending = stack[-1]
                for f in pending:
                    callee = self.structure.callee(f, func)
                    if callee is not None and id(callee) not in done:
                        done.add(id(callee))
                        stack.append((callee, iter(callee.calls)))
                        break
                else:
                    stack.pop()
                    order.append(func)
        return order

    def summary(self, func: Func) -> Summary | None:
        fid = id(func)
        if fid in self._summaries:
            return self._summaries[fid]
        if fid in self._busy:  # recursion: assume it changes nothing
            return None
        if func.cls is not None and func.cls.managed:
            return None
        self._busy.add(fid)
        walk = Walker(self.structure, self.summary, func, foreign_summary)
        try:
            summary = walk.run()
        finally:
            self._busy.discard(fid)
        self._summaries[fid] = summary
        self._events[fid] = walk.main
        return summary

    # -- queries -----------------------------------------------------------------------
    def of(self, kind: type) -> Iterator:
        """The facts of one kind (ModelCall, Step ...), in file order."""
        return (e for e in self.events if isinstance(e, kind))

    def inherited_loops(self) -> Iterator[tuple[Reentry, ModeSet, Func]]:
        """The training loops of inherited methods (a base trainer's epoch
        loop, in another file) that put a model in eval through a method of
        this file: (the loop, that call's mode change, the method)."""
        own = {f.qualname: f for f in self.structure.funcs if f.origin is None and f.cls is not None}
        for loop in self.inherited:
            if isinstance(loop, Reentry):
                for fact in loop.first:
                    if isinstance(fact, ModeSet) and fact.evals and fact.via in own:
                        yield loop, fact, own[fact.via]

    def events_of(self, func: Func) -> list:
        return self._events.get(id(func), [])

    def callers_of(self, func: Func) -> list[CallOf]:
        """The calls of ``func`` in this file."""
        return self._callers.get(id(func), [])

    def has_callers(self, func: Func) -> bool:
        return id(func) in self._callers

    def outside_callers(self, func: Func) -> list[CallOf]:
        """The calls of ``func`` from the other files of the run
        (:class:`Project`) that import it, each walked as its own file."""
        project = _PROJECT[-1] if _PROJECT else None
        if project is None or func.parent is not None:
            return []
        here = os.path.realpath(self.structure.path)
        found = []
        names = _module_names(here)
        for path in project.calling(func.name):
            if path == here or not project.may_import(path, names):
                continue
            other = project.analysis(path)
            if other is None:
                continue
            for ev in other.of(ForeignCall):
                callee = ev.call.callee
                if callee.qualname == func.qualname and os.path.realpath(ev.path) == here:
                    self._outside[id(ev.call)] = other
                    found.append(ev.call)
        return found

    def given_in_eval(self, func: Func, key: str) -> bool:
        """Whether a call of ``func`` from another file of the run passes it
        ``key`` certainly in eval mode (``contrastive_evaluate(loader,
        model)`` right after a helper that called ``model.eval()``)."""
        for c in self.outside_callers(func):
            bound = c.bound(key)
            if bound is not None and c.binding[bound[0]][1] == EVALUATING:
                return True
        return False

    def site(self, call: CallOf) -> str:
        """Where a call of one of this file's functions is: ``line N``, or
        ``path:N`` for a call from another file of the run or from a method
        inherited from one."""
        other = self._outside.get(id(call))
        path = other.structure.path if other is not None else call.caller.origin
        if path is None:
            return f"line {call.node.lineno}"
        return f"{_display(path)}:{call.node.lineno}"

    def line_of(self, func: Func, node: ast.AST) -> str:
        """``line N`` of this file, or ``path:N`` in a method's own file."""
        return f"line {node.lineno}" if func.origin is None else f"{_display(func.origin)}:{node.lineno}"

    def trains(self, func: Func) -> bool:
        """Whether ``func`` has a training step (its own or a helper's)."""
        return id(func) in self._training

    def train_path(self, func: Func, key: str, mode: Mode) -> list[CallOf] | None:
        """A chain of calls in this file along which ``key`` is certainly in
        training mode where ``func`` has it in ``mode`` ([] when it is so on
        every path already), or None. One certain path is enough: a
        ``validate(model)`` also called with a model of unknown mode is still
        wrong when the epoch loop calls it right after training."""
        if ENTRY not in mode:
            return [] if mode == TRAINING else None
        if mode - FROM_CALLER - TRAINING:
            return None

        def compute():
            callers = self.callers_of(func)
            if not callers and mode == FROM_CALLER and self._attribute_stays_in_train(func, key):
                return []
            # this file's calls first, then those of the other files of the run
            for c in [*callers, *(self.outside_callers(func) if _from_callers(func, key) else ())]:
                bound = c.bound(key)
                if bound is None:
                    continue
                caller_mode = substitute(mode, c.binding[bound[0]][1])
                if not bound[1]:  # a new model passed straight in
                    if caller_mode == TRAINING:
                        return [c]
                    continue
                owner = self._outside.get(id(c), self)
                path = owner.train_path(c.caller, bound[1], caller_mode)
                if path is not None:
                    return [c, *path]
            return None

        return self._memo(("train", id(func), key, mode), None, compute)

    def _attribute_stays_in_train(self, func: Func, key: str) -> bool:
        """``self.model`` built in ``__init__`` (so in train mode) by a class
        of which no method -- and nothing else in the file -- sets that
        attribute's mode: every method sees it in train mode."""
        cls = func.cls
        if cls is None or not key.startswith("self.") or key.count(".") != 1:
            return False
        init = cls.method("__init__")
        summary = self._summaries.get(id(init)) if init is not None else None
        if summary is None or summary.exit is None or summary.exit.get(key) != TRAINING:
            return False
        attr = key.split(".", 1)[1]
        if any(isinstance(ev, ModeSet) and (ev.key == key or ev.key.endswith("." + attr)) for ev in self.events):
            return False
        # handed to a function anywhere in the file (`set_eval(self.onet)`, `load(det.onet)`):
        # who knows. The class's own methods take it as `self`, and their mode changes are
        # events above.
        return not any(d == key or d.endswith("." + attr) for d in self._handed_over())

    def _handed_over(self) -> set[str]:
        """The names the file's calls take as arguments (read once per file),
        but for calls that only read them: an export, a wrapper sharing the
        module's mode, a builtin (``print(self.onet)``)."""
        if self._handed is None:
            imports = self.structure.imports
            self._handed = set()
            for node in ast.walk(self.structure.tree):
                if not isinstance(node, ast.Call):
                    continue
                qual = imports.qualify(node.func)
                if qual in V.EXPORTS or (qual is not None and V.is_wrapper(qual)) or (
                    qual is None and isinstance(node.func, ast.Name) and node.func.id in V.BUILTINS
                ):
                    continue
                for arg in (*node.args, *(k.value for k in node.keywords)):
                    d = dotted(arg.value if isinstance(arg, ast.Starred) else arg)
                    if d is not None:
                        self._handed.add(d)
        return self._handed

    def is_live(self, func: Func, key: str, live: bool | None) -> bool:
        """Whether the model ``key`` names in ``func`` may hold BatchNorm or
        Dropout; ``live`` None means "as the callers' model"."""
        if live is not None:
            return live

        def compute():
            # this file's calls, and those of the other files of the run (a
            # `run_first_stage(image, pnet)` of detector.py, pnet = PNet())
            calls = [*self.callers_of(func), *(self.outside_callers(func) if _from_callers(func, key) else ())]
            for c in calls:
                bound = c.bound(key)
                if bound is None:
                    return True
                lv = c.live.get(bound[0], True)
                if not bound[1]:  # a new model passed straight in
                    if lv is not False:
                        return True
                elif self._outside.get(id(c), self).is_live(c.caller, bound[1], lv):
                    return True
            return not calls

        return self._memo(("live", id(func), key), True, compute)


def _from_callers(func: Func, key: str) -> bool:
    """Whether ``key`` in ``func`` is what its callers pass: a parameter (or
    a part of one), or for a method of a plain class, an attribute of the
    object it is called on (``trainer.validate(loader)`` in main.py)."""
    root = key.split(".", 1)[0]
    return root in func.params or (root == "self" and key != "self" and func.cls is not None)


# -- the project view -----------------------------------------------------------------
# What a module needs of the modules of the checked tree it imports are
# summaries of their functions: walked on demand -- the function asked for
# and its callees, each once per process -- from that module's one structure
# (structure.structure_of), never from its file's full analysis.
_ON_DEMAND: dict[str, SourceAnalysis] = {}


def foreign_summary(structure: FileStructure, func: Func) -> Summary | None:
    """What a function of another module does (None: unknown, or a cycle)."""
    path = os.path.abspath(structure.path)
    lazy = _ON_DEMAND.get(path)
    if lazy is None or lazy.structure is not structure:
        if len(_ON_DEMAND) > 4096:
            _ON_DEMAND.clear()
        lazy = _ON_DEMAND[path] = SourceAnalysis(structure, walk_all=False)
    summary = lazy.summary(func)
    if summary is None or summary.returns is None:
        return summary

    def portable(val: Val | None) -> Val | None:  # what it builds, named so that it means the same in the caller
        if val is None or val.key is not None:
            return val
        made = val.makes and replace(val.makes, arch=structure.portable_arch(val.makes.arch))
        parts = val.parts and tuple(portable(p) for p in val.parts)
        return replace(val, arch=structure.portable_arch(val.arch), makes=made, parts=parts)

    return replace(summary, returns=portable(summary.returns))


# -- the run's files, read together ---------------------------------------------------
_CALLED = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_PROJECT: list["Project"] = []


class Project:
    """The files one run reads as source. A function of one file that leaves
    its model's mode to its callers (``def evaluate(loader, model)`` in
    ``engine.py``) is asked about the calls of it in the others
    (``evaluate(val_loader, model)`` in ``main.py``, after training): each
    such file is walked in full, once, and only when a question needs it --
    the files that call a function of that name at all, by an index of the
    names called in each file, built on the first question."""

    def __init__(self, paths) -> None:
        self.paths = sorted({os.path.realpath(p) for p in paths})
        self._index: dict[str, list[str]] | None = None
        self._imported: dict[str, frozenset[str] | None] = {}  # file -> the module names its imports mention
        self._analyses: dict[str, SourceAnalysis | None] = {}

    def calling(self, name: str) -> list[str]:
        """The files of the run in which ``name(`` appears."""
        if self._index is None:
            index: dict[str, list[str]] = {}
            for path in self.paths:
                try:
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        text = fh.read()
                except OSError:
                    continue
                for n in set(_CALLED.findall(text)):
                    index.setdefault(n, []).append(path)
                mentioned = set()
                for m in _IMPORTS.finditer(text):
                    for group in m.groups():
                        mentioned.update(p for p in re.split(r"[^\w]+", group or "") if p)
                self._imported[path] = None if _STAR.search(text) else frozenset(mentioned)
            self._index = index
        return self._index.get(name, [])

    def may_import(self, path: str, names: frozenset[str]) -> bool:
        """Whether a file's import statements can bind a function of a
        module known by ``names`` (its own name and its packages'): they
        mention one of them, or import ``*`` (which may re-export it). A
        function of another module is only ever recorded as called through
        such a statement, so this skips no caller."""
        mentioned = self._imported.get(path, None)
        return mentioned is None or bool(mentioned & names)

    def analysis(self, path: str) -> SourceAnalysis | None:
        if path not in self._analyses:
            self._analyses[path] = None  # a question met again while this file is walked: no answer
            structure = structure_of(path)
            self._analyses[path] = SourceAnalysis(structure) if structure is not None else None
        return self._analyses[path]


@contextlib.contextmanager
def project(paths) -> Iterator[Project]:
    """The files of one run, for the block: source analyses in it may ask
    about the calls of their functions in the others."""
    _PROJECT.append(Project(paths))
    try:
        yield _PROJECT[-1]
    finally:
        _PROJECT.pop()


# `from M import N...` / `import M...`: every name they mention (parenthesized lists may span lines)
_IMPORTS = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+)?import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_STAR = re.compile(r"^\s*from\s+[\w.]+\s+import\s+\*", re.M)


def _module_names(path: str) -> frozenset[str]:
    """The names a file's module can be imported by, in part: its own
    (``engine``; a package's ``__init__.py``: its directory's) and those of
    the packages above it (up to :data:`_PACKAGE_DEPTH` directories)."""
    head, name = os.path.split(path)
    names = {name[:-3]} if name != "__init__.py" else set()
    for _ in range(_PACKAGE_DEPTH):
        head, part = os.path.split(head)
        if not part:
            break
        names.add(part)
    return frozenset(names)


_PACKAGE_DEPTH = 6


def _display(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel.replace(os.sep, "/")
