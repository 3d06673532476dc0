"""Where each module was constructed: the file:line of the ``nn.Conv2d(...)``
call, recorded at construction time by wrapping ``nn.Module.__init__``.

Works for layers built in loops, list comprehensions and helper functions
(``make_layers(cfg)``), because it records the call that created each object,
not the line that assigned it. When a layer is constructed inside a library
(torchvision, timm, torch itself) the innermost *user* frame is kept as well,
so a finding can point at the line the user can edit.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import sysconfig
import weakref
from typing import Iterator

from bnlint.findings import Location

_LIB_DIRS = tuple(
    os.path.normcase(os.path.realpath(p)) + os.sep
    for p in {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)
_BNLINT_DIR = os.path.normcase(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))) + os.sep


@functools.lru_cache(maxsize=4096)
def is_library_file(filename: str) -> bool:
    """True for code the user does not own: the stdlib, installed packages
    (torch, torchvision, timm), bnlint itself, and frozen modules."""
    if filename.startswith("<frozen") or filename.startswith("<string>"):
        return True
    real = os.path.normcase(os.path.realpath(filename))
    return (
        real.startswith(_BNLINT_DIR)
        or real.startswith(_LIB_DIRS)
        or f"{os.sep}site-packages{os.sep}" in real
    )


def user_line(depth: int = 1) -> Location | None:
    """The innermost frame of the user's code on the current stack, starting
    ``depth`` frames above the caller: where an op, a node or an audited
    action came from."""
    frame = sys._getframe(depth + 1)
    while frame is not None:
        if not is_library_file(frame.f_code.co_filename):
            return Location(frame.f_code.co_filename, frame.f_lineno)
        frame = frame.f_back
    return None


@functools.lru_cache(maxsize=1024)
def _positions(code) -> tuple:
    """A code object's instruction positions (one list per code object, not
    per module built: a loop building 12,000 modules runs the same code)."""
    return tuple(code.co_positions())


def _frame_location(frame) -> Location:
    col = 1
    try:
        pos = _positions(frame.f_code)[frame.f_lasti // 2]
        if pos[2] is not None and pos[0] == frame.f_lineno:
            col = pos[2] + 1
    except (AttributeError, IndexError, ValueError):
        pass
    return Location(frame.f_code.co_filename, frame.f_lineno, col)


class SiteRecorder:
    """Records, for every module constructed while active, where it was built."""

    def __init__(self) -> None:
        self.exact: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
        self.user: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    @contextlib.contextmanager
    def recording(self) -> Iterator["SiteRecorder"]:
        import torch.nn as nn

        original = nn.Module.__init__
        recorder = self

        def __init__(module, *args, **kwargs):
            original(module, *args, **kwargs)
            try:
                recorder._record(module, sys._getframe(1))
            except Exception:  # never let bookkeeping break a user's model
                pass

        __init__.__wrapped__ = original  # type: ignore[attr-defined]
        nn.Module.__init__ = __init__  # type: ignore[method-assign]
        try:
            yield self
        finally:
            nn.Module.__init__ = original  # type: ignore[method-assign]

    def _record(self, module, frame) -> None:
        if module in self.exact:
            return
        # Skip the constructor chain of this very object (subclass __init__s).
        while frame is not None and frame.f_locals.get("self") is module:
            frame = frame.f_back
        if frame is None:
            return
        self.exact[module] = _frame_location(frame)
        f = frame
        while f is not None and is_library_file(f.f_code.co_filename):
            f = f.f_back
        if f is not None and f is not frame:
            self.user[module] = _frame_location(f)

    def site(self, module) -> Location | None:
        """The line to report for ``module``: where it was constructed, or,
        when that is inside a library, the user's line that led there."""
        exact = self.exact.get(module)
        if exact is not None and is_library_file(exact.path):
            return self.user.get(module, None)
        return exact

    def library_site(self, module) -> Location | None:
        """Where a library built ``module``, when it did (the reported line
        is then the user's line that led there)."""
        exact = self.exact.get(module)
        return exact if exact is not None and is_library_file(exact.path) else None


class SourceSites:
    """Construction lines for a model built *before* bnlint was watching (a
    live model handed to :func:`bnlint.check`): read from the source of the
    classes that hold each module. A module assigned as ``self.conv =
    nn.Conv2d(...)`` in a user class is located at that call; a child of a
    container built inline (``nn.Sequential(nn.Conv2d(...), ...)``) at its
    argument of that call; anything else at its nearest located ancestor's
    call, or not at all. Library classes (torchvision's, torch's) are never
    read: their lines are not the user's."""

    def __init__(self, model) -> None:
        self._parent: dict[int, tuple[object, str]] = {}
        for _, m in model.named_modules():
            for name, child in m.named_children():
                self._parent.setdefault(id(child), (m, name))
        self._memo: dict[int, "Location | None"] = {}
        self._trees: dict[str, object] = {}

    def library_site(self, module) -> Location | None:
        """None: library classes are never read (see above)."""
        return None

    def site(self, module) -> Location | None:
        key = id(module)
        if key not in self._memo:
            self._memo[key] = None  # a cycle resolves to "unknown"
            self._memo[key] = self._locate(module)
        return self._memo[key]

    def _locate(self, module) -> Location | None:
        import ast

        found = self._parent.get(id(module))
        if found is None:
            return None
        parent, attr = found
        for cls in type(parent).__mro__:
            loc = self._assignment(cls, attr)
            if loc is not None:
                return loc
        outer = self.site(parent)  # a container: its own construction call
        if outer is None or not attr.isdigit():
            return outer
        call = self._call_at(outer)
        if call is None:
            return outer
        items = call.args
        if len(items) == 1 and isinstance(items[0], (ast.List, ast.Tuple)):
            items = items[0].elts  # nn.ModuleList([...])
        if any(isinstance(a, ast.Starred) for a in items) or int(attr) >= len(items):
            return outer
        arg = items[int(attr)]
        return Location(outer.path, arg.lineno, arg.col_offset + 1) if isinstance(arg, ast.Call) else outer

    def _tree(self, path: str):
        import ast

        if path not in self._trees:
            try:
                with open(path, "rb") as fh:
                    self._trees[path] = ast.parse(fh.read(), filename=path)
            except (OSError, SyntaxError, ValueError):
                self._trees[path] = None
        return self._trees[path]

    def _assignment(self, cls, attr: str) -> Location | None:
        """``self.<attr> = <call>`` in a method of ``cls`` (a user class)."""
        import ast
        import inspect

        try:
            path = inspect.getsourcefile(cls)
            _, first = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            return None
        if not path or is_library_file(path):
            return None
        tree = self._tree(path)
        if tree is None:
            return None
        node = next(
            (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__
             and (n.lineno == first or any(d.lineno == first for d in n.decorator_list))),
            None,
        )
        for sub in ast.walk(node) if node is not None else ():
            if isinstance(sub, (ast.Assign, ast.AnnAssign)) and isinstance(sub.value, ast.Call):
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                if any(
                    isinstance(t, ast.Attribute) and t.attr == attr
                    and isinstance(t.value, ast.Name) and t.value.id == "self"
                    for t in targets
                ):
                    return Location(path, sub.value.lineno, sub.value.col_offset + 1)
        return None

    def _call_at(self, loc: Location):
        import ast

        tree = self._tree(loc.path)
        for n in ast.walk(tree) if tree is not None else ():
            if isinstance(n, ast.Call) and n.lineno == loc.line and n.col_offset + 1 == loc.col:
                return n
        return None
