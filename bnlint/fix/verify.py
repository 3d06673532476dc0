"""Numerical proof for the safe fixes: run the original and the fixed model
on the same inputs, in eval mode and in the model's own dtype (float32 as the
user runs it), and refuse the fix when they disagree.

The measure is the largest absolute difference over every output tensor,
relative to the largest absolute value of the original's output (max |ref|):
``max |fixed - ref| / max |ref|``, taken in float64 from the two outputs.
An output that is all zeros is compared absolutely.

:data:`DEFAULT_TOLERANCE` is 1e-4. Folding reorders float32 arithmetic
(``(W x) * s`` becomes ``(W * s) x``), so a fold is exact only up to
rounding, and rounding grows with depth and with the statistics: running
variances far from 1 scale the weights by large factors. On the benchmark's
ResNet-50, VGG16-BN, MobileNetV2 and DenseNet-121 with realistic statistics
the measured error stays below 1e-5; a tolerance ten times larger leaves
room for deeper models, while a wrong fold (a channel mixed up, a pad
ignored, a BN folded on the wrong dimension) moves outputs by far more.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import torch
import torch.nn as nn

from bnlint.config import DEFAULT_TOLERANCE  # noqa: F401 -- re-exported: shared with the torch-free CLI


class FixRefused(RuntimeError):
    """A safe fix changed what the model computes beyond the tolerance (or
    could not be checked); nothing is returned and the model is unchanged."""

    def __init__(self, message: str, error: float | None = None, tolerance: float | None = None):
        super().__init__(message)
        self.error = error
        self.tolerance = tolerance


def is_on_meta(model: nn.Module) -> bool:
    return any(t.is_meta for t in (*model.parameters(), *model.buffers()))


def refuse_meta(model: nn.Module, what: str) -> None:
    if is_on_meta(model):
        raise ValueError(
            f"{what} needs real weights and running statistics, but the model is on the meta device: "
            "materialize it (model.to_empty(device='cpu')) and load its state_dict first"
        )


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.float32


def example_tensors(model: nn.Module, example_inputs: Any, seed: int = 0) -> tuple:
    """The forward's positional inputs: tensors as given, and for each shape
    (a tuple of ints) a random normal tensor on the model's device and in its
    floating dtype (seeded, so a rerun sees the same inputs). One tensor or
    one shape stands for a single input."""
    if example_inputs is None:
        raise ValueError("example_inputs are needed: tensors, or shapes (tuples of ints) for random inputs")
    if isinstance(example_inputs, torch.Tensor) or _is_shape(example_inputs):
        example_inputs = (example_inputs,)
    device, dtype = _device_dtype(model)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for item in example_inputs:
        if isinstance(item, torch.Tensor):
            out.append(item)
        elif _is_shape(item):
            out.append(torch.randn(tuple(item), generator=gen, dtype=dtype).to(device))
        else:
            raise TypeError(f"example_inputs: expected tensors or shapes, got {type(item).__name__}")
    return tuple(out)


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list, torch.Size)) and bool(value) and all(
        isinstance(d, int) and not isinstance(d, bool) for d in value
    )


class eval_mode:
    """Every module of ``model`` in eval for the block, each mode restored after.
    For models bnlint built (results, shells), never for the user's."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.saved = [(m, m.training) for m in self.model.modules()]
        for m, _ in self.saved:
            m.training = False
        return self.model

    def __exit__(self, *exc):
        for m, mode in self.saved:
            m.training = mode


def run(model: nn.Module, inputs: Sequence) -> Any:
    """``model(*inputs)`` in eval mode and without autograd, on copies of the
    inputs (a forward that writes into its input -- an in-place first layer --
    must not change what the next run sees, or the caller's tensors)."""
    copies = [t.clone() if isinstance(t, torch.Tensor) else t for t in inputs]
    with eval_mode(model), torch.no_grad():
        return model(*copies)


def _leaves(value: Any, where: str = "output") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k in value:
            yield from _leaves(value[k], f"{where}[{k!r}]")
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{where}[{i}]")
    else:
        yield where, value


def relative_error(reference: Any, fixed: Any) -> float:
    """``max |fixed - ref| / max |ref|`` over every tensor of the two outputs
    (nested tuples, lists and dicts); inf when their structure, shapes or
    non-tensor values differ, or NaNs sit in different places."""
    ref, new = list(_leaves(reference)), list(_leaves(fixed))
    if [w for w, _ in ref] != [w for w, _ in new]:
        return math.inf
    worst = 0.0
    for (_, a), (_, b) in zip(ref, new):
        if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
            if a != b:
                return math.inf
            continue
        if a.shape != b.shape:
            return math.inf
        if not a.is_floating_point():
            if not torch.equal(a, b):
                return math.inf
            continue
        a, b = a.detach().double(), b.detach().double()
        nan = torch.isnan(a)
        if not torch.equal(nan, torch.isnan(b)):
            return math.inf
        if a.numel() == 0:
            continue
        a, b = a[~nan], b[~nan]
        scale = a.abs().max().item() if a.numel() else 0.0
        diff = (a - b).abs().max().item() if a.numel() else 0.0
        if math.isnan(diff) or math.isinf(diff):
            return math.inf
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def check(reference: Any, fixed: Any, tolerance: float, what: str) -> float:
    """The relative error of ``fixed`` against ``reference``; raises
    :class:`FixRefused` naming both numbers when it exceeds ``tolerance``."""
    error = relative_error(reference, fixed)
    if not error <= tolerance:
        raise FixRefused(
            f"{what} refused: on the example inputs the fixed model's outputs differ from the original's "
            f"by {error:.3g} of the output's magnitude (max |fixed - ref| / max |ref|), above the tolerance "
            f"{tolerance:g}; nothing was changed",
            error, tolerance,
        )
    return error
