"""Stand-in results for the ops a shape-only run cannot compute.

Some ops' output *size* depends on the data: ``torch.nonzero`` (and
boolean-mask indexing, ``torch.where(cond)``, ``masked_select``, which use
it), ``torch.unique``, torchvision's NMS. On meta tensors they raise, so a
detection model's forward -- backbone, FPN, RPN, then proposals filtered by
score and NMS, then the RoI heads -- stops at the first of them and its heads
are never reached.

For a *retry* of a run that failed, :class:`StandIns` gives each of those ops
a stand-in result when it raises, one that some real data could produce:
every element non-zero (torch's own ``meta_nonzero_assume_all_nonzero``),
every box kept by NMS, one value for ``unique`` (its result is often
iterated -- per-class NMS loops over the classes present -- and an upper
bound would run that loop once per element). That keeps the run going, so
the later modules are reached; but sizes after a stand-in are not the real
ones. So the first stand-in marks the point after which the run's shapes are
not used (``used`` is non-empty from then on): the shape rules and the
graph's shape annotations keep only what ran before it, and the caller says
which ops were stood in for.

Values are never made up: ``item()``, ``bool(tensor)`` and ``int(tensor)``
still fail, since one made-up number read twice cannot stay consistent
with the arithmetic between the reads, and a branch on a value would be
taken blindly. A retried run that fails is still taken as whole when the
failure comes after every layer has run (:func:`ended_after_the_layers`):
Mask R-CNN pastes each mask into the image at coordinates it reads with
``item()``, Keypoint R-CNN reads heatmap sizes with it, each after its last
layer. The graph then ends there, and every value computed by
then counts as an output.

Only for runs on meta tensors: fake tensors (a model built on the CPU) raise
differently, and such runs are not retried.
"""

from __future__ import annotations

import collections
import os
import traceback
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.fx.experimental._config as fx_config
from torch.utils._python_dispatch import TorchDispatchMode

from bnlint.model.trace import is_torch_layer

aten = torch.ops.aten


def _nms(boxes, scores, iou_threshold):
    return boxes.new_empty((boxes.shape[0],), dtype=torch.long)


def _unique(x, sorted=True, return_inverse=False, return_counts=False):  # noqa: A002 -- aten's names
    n = min(1, x.numel())
    return (x.new_empty((n,)), x.new_empty(x.shape if return_inverse else (0,), dtype=torch.long),
            x.new_empty((n,) if return_counts else (0,), dtype=torch.long))


def _unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    if dim is not None:
        return _unique_dim(x, dim, True, return_inverse, return_counts)
    return _unique(x, True, return_inverse, return_counts)


def _unique_dim(x, dim, sorted=True, return_inverse=False, return_counts=False):  # noqa: A002
    n = x.shape[dim]
    shape = list(x.shape)
    shape[dim] = min(1, n)
    return (x.new_empty(shape), x.new_empty((n,) if return_inverse else (0,), dtype=torch.long),
            x.new_empty((min(1, n),) if return_counts else (0,), dtype=torch.long))


# By the op's name (``str(op)``): torchvision's ops exist only where it is installed.
_TABLE: dict[str, tuple[str, Callable[..., Any]]] = {
    "torchvision.nms.default": ("torchvision's nms (every box kept)", _nms),
    "aten._unique2.default": ("torch.unique (one value)", _unique),
    "aten.unique_consecutive.default": ("torch.unique_consecutive (one value)", _unique_consecutive),
    "aten.unique_dim.default": ("torch.unique along a dim (one slice)", _unique_dim),
}
_NONZERO = "torch.nonzero (every element non-zero)"


class StandIns(TorchDispatchMode):
    """A dispatch mode for a retried shape-only run on meta tensors: an op that
    raises gets a stand-in result where one is known (see the module's
    docstring), counted in ``used`` by description. Every other op, and
    every op that does not raise, runs as it is."""

    def __init__(self) -> None:
        super().__init__()
        self.used: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            return func(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 -- a stand-in below, or the op's own error
            first = error
            entry = _TABLE.get(str(func))
            if entry is not None:
                self.used[entry[0]] += 1
                return entry[1](*args, **kwargs)
            try:
                with fx_config.patch(meta_nonzero_assume_all_nonzero=True):
                    out = func(*args, **kwargs)
            except Exception:  # noqa: BLE001 -- not a nonzero-based op: its first error stands
                pass
            else:
                self.used[_NONZERO] += 1
                return out
            raise first

    def describe(self) -> str:
        return ", ".join(f"{what}{f' x{n}' if n > 1 else ''}" for what, n in sorted(self.used.items()))


def ended_after_the_layers(model: nn.Module, called: set[int]) -> bool:
    """Every module of ``model`` that holds parameters or buffers has been
    called (``called``: their ids), a torch layer counting as a whole: what
    a failing run had left to do can have called no BatchNorm, conv or
    linear layer for the first time."""
    todo = [model]
    while todo:
        m = todo.pop()
        layer = is_torch_layer(m)
        own = (*m.parameters(recurse=layer), *m.buffers(recurse=layer))
        if own and id(m) not in called:
            return False
        if not layer:
            todo.extend(m.children())
    return True


_TORCH = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_BNLINT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def failing_line(exc: BaseException) -> str:
    """``path:line`` of the innermost frame of ``exc`` outside torch and
    bnlint (library code included), or ""."""
    where = ""
    for frame, line in traceback.walk_tb(exc.__traceback__):
        name = os.path.abspath(frame.f_code.co_filename)
        if not name.startswith((_TORCH, _BNLINT)):
            where = f"{name}:{line}"
    return where


__all__ = ["StandIns", "ended_after_the_layers", "failing_line"]
