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


def _frame_location(frame) -> Location:
    col = 1
    try:
        positions = list(frame.f_code.co_positions())
        pos = positions[frame.f_lasti // 2]
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
