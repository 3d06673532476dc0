"""Example inputs and shape propagation without memory.

The forward is run on ``meta`` tensors (or fake tensors when the model had to
be built on the CPU) in eval mode, with a global forward-pre-hook recording
the input shape of every module call. Nothing is allocated or computed, so a
model far larger than the machine's memory is fine, and -- unlike FX shape
propagation -- it works for forwards that FX cannot trace, as long as they do
not branch on tensor *values*.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn as nn

from bnlint.inputs import DTYPE_ALIASES, InputSpec

DTYPES = {name: getattr(torch, attr) for name, attr in DTYPE_ALIASES.items()}


def spec_from_value(value: Any, origin: str) -> InputSpec:
    """An InputSpec from what a user declared: a tensor, a shape (tuple of
    ints), or a tuple/list of those; a zero-argument callable returning one."""
    if callable(value) and not isinstance(value, (torch.Tensor, nn.Module)):
        value = value()
    if isinstance(value, torch.Tensor) or (
        isinstance(value, (tuple, list, torch.Size)) and value and all(isinstance(v, int) for v in value)
    ):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(
            f"{origin} must be a tensor, a shape, or a tuple of them, not {type(value).__name__}"
        )
    shapes, dtypes = [], []
    for v in value:
        if isinstance(v, torch.Tensor):
            shapes.append(tuple(v.shape))
            dtypes.append(str(v.dtype).removeprefix("torch."))
        elif isinstance(v, (tuple, list, torch.Size)) and all(isinstance(d, int) for d in v):
            shapes.append(tuple(v))
            dtypes.append("float32")
        else:
            raise TypeError(f"{origin}: cannot take an input shape from a {type(v).__name__}")
    return InputSpec(tuple(shapes), tuple(dtypes), origin)


@dataclass
class ShapeInfo:
    """Input shapes seen by each module (by dotted path), one per call."""

    spec: InputSpec
    inputs: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    error: str | None = None  # why propagation failed, if it did

    def input_shape(self, qualname: str) -> tuple[int, ...] | None:
        seen = self.inputs.get(qualname)
        return seen[0] if seen else None


def _on_meta(model: nn.Module) -> bool:
    tensors = [*model.parameters(), *model.buffers()]
    return bool(tensors) and all(t.is_meta for t in tensors)


def propagate(model: nn.Module, spec: InputSpec) -> ShapeInfo:
    """Run ``model`` on shape-only inputs and record every module's input shape."""
    info = ShapeInfo(spec)
    names: dict[int, str] = {}
    for name, m in model.named_modules():
        names.setdefault(id(m), name)

    def record(module, args):
        if args and isinstance(args[0], torch.Tensor) and id(module) in names:
            info.inputs.setdefault(names[id(module)], []).append(tuple(args[0].shape))

    if _on_meta(model):
        mode: contextlib.AbstractContextManager = contextlib.nullcontext()
        device = "meta"
    else:
        from torch._subclasses.fake_tensor import FakeTensorMode

        mode, device = FakeTensorMode(allow_non_fake_inputs=True), "cpu"
    was_training = {id(m): m.training for m in model.modules()}
    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        model.eval()  # BN in eval: no batch-size check, no stat updates
        with mode, torch.no_grad():
            args = [
                torch.zeros(shape, dtype=DTYPES[dtype], device=device)
                for shape, dtype in zip(spec.shapes, spec.dtypes)
            ]
            model(*args)
    except Exception as exc:  # noqa: BLE001 -- a forward that needs real data
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        info.error = f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__
    finally:
        handle.remove()
        for m in model.modules():
            m.training = was_training[id(m)]
    return info
