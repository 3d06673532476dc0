"""The four model fixes. Each takes a model and returns a
:class:`~bnlint.fix.result.FixResult` with a new model; the input model is
never modified and never copied.

Safe fixes (``fold_batchnorm``, ``remove_redundant_bias``,
``freeze_batchnorm``) keep the function and prove it: the fixed model runs on
the example inputs next to the original, both in eval, and the fix raises
:class:`~bnlint.fix.verify.FixRefused` when the outputs differ by more than
``tolerance`` (relative to the output's magnitude). ``swap_batchnorm`` is
unsafe: it changes the function on purpose (the model must be trained again).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch.nn as nn

from bnlint.fix import modules as M
from bnlint.fix.graph import BiasPlanner, FoldPlanner, Pass
from bnlint.fix.result import Change, FixResult, Left
from bnlint.fix.verify import DEFAULT_TOLERANCE, check, example_tensors, refuse_meta, run


def _verified(work: Pass, changes, left, tolerance: float, what: str) -> FixResult:
    fixed = work.build()
    error = check(work.observed.output, run(fixed, work.inputs), tolerance, what)
    return FixResult(fixed, changes, left, error, tolerance)


def _graph_fix(model: nn.Module, example_inputs: Any, tolerance: float, planner) -> FixResult:
    refuse_meta(model, planner.name)
    work = Pass(model, example_tensors(model, example_inputs))
    changes, left = work.fix(planner)
    return _verified(work, changes, left, tolerance, planner.name)


def fold_batchnorm(model: nn.Module, example_inputs: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> FixResult:
    """Fold every eval-mode BatchNorm (subclasses, SyncBatchNorm,
    ``affine=False``, frozen-BN modules) into the Conv1d/2d/3d,
    ConvTranspose1d/2d/3d or Linear right before it, or else into the Linear
    or padding-free conv right after it, for inference.

    ``example_inputs``: the forward's inputs (tensors, or shapes for seeded
    random ones). A pair folds only when both modules are in eval, the BN has
    running statistics, the first module's output feeds nothing else, neither
    is called anywhere else, and for a Linear the BN's input is ``(N, C)``
    (its channel dim is the Linear's feature dim). ``result.folded`` lists the
    folds, ``result.left`` every BN left with its reason. Raises ValueError
    for a model on the meta device and FixRefused when verification fails."""
    return _graph_fix(model, example_inputs, tolerance, FoldPlanner())


def remove_redundant_bias(
    model: nn.Module, example_inputs: Any, *, tolerance: float = DEFAULT_TOLERANCE
) -> FixResult:
    """BN101's fix on a live model: drop the bias of each Conv/ConvTranspose/
    Linear whose output feeds only a BatchNorm or InstanceNorm (or frozen BN)
    and subtract it from that norm's running mean -- the same function in
    training and in eval, in any mode (verified in eval)."""
    return _graph_fix(model, example_inputs, tolerance, BiasPlanner())


def _why_not_freeze(bn: nn.Module) -> Optional[str]:
    params = list(bn.parameters(recurse=False))
    if not params:
        return f"{M.kind(bn)} has no parameters (affine=False): nothing of it is frozen"
    if any(p.requires_grad for p in params):
        return f"{M.kind(bn)}'s parameters train (requires_grad=True)"
    return M.why_not_fixed(bn)


def freeze_batchnorm(model: nn.Module, example_inputs: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> FixResult:
    """BN401's fix: every BatchNorm whose parameters are all frozen
    (``requires_grad=False``) becomes a :class:`~bnlint.fix.modules.FrozenBatchNorm`
    with the same statistics, which computes what the BN computes in eval, in
    any mode -- so ``model.train()`` no longer updates its statistics."""
    refuse_meta(model, "freeze_batchnorm")
    work = Pass(model, example_tensors(model, example_inputs), trace=False)
    changes, left = [], []
    for path, bn in model.named_modules():
        if not M.is_batchnorm(bn):
            continue
        reason = _why_not_freeze(bn)
        if reason:
            left.append(Left(path, reason))
            continue
        work.replace(path, M.FrozenBatchNorm.from_batchnorm(work.module(path)))
        changes.append(Change("freeze", (path,), f"{M.kind(bn)} '{path}' -> FrozenBatchNorm"))
    return _verified(work, changes, left, tolerance, "freeze_batchnorm")


SWAP_TARGETS = ("groupnorm", "layernorm", "instancenorm", "syncbatchnorm", "frozen")

_CLASS_RANK = {nn.BatchNorm2d: 4, nn.BatchNorm3d: 5}


def _rank_and_size(work: Pass, path: str, bn: nn.Module) -> tuple[Optional[int], int]:
    """The rank of the BN's input and the values per channel per sample;
    without an observed shape, the rank its class implies (None for
    BatchNorm1d: (N, C) or (N, C, L)) and one value (the worst case)."""
    shape = work.observed.shapes.get(path)
    if shape is not None:
        return len(shape), math.prod(shape[2:])
    rank = next((r for cls, r in _CLASS_RANK.items() if isinstance(bn, cls)), None)
    return rank, 1


def _swap_one(work: Pass, path: str, bn: nn.Module, to: str, max_groups: int) -> "nn.Module | str":
    rank, per_channel = _rank_and_size(work, path, bn)
    c = M.num_channels(bn)
    known = path in work.observed.shapes
    values = f"{per_channel} value{'s' if per_channel != 1 else ''} per channel per sample" + (
        "" if known else " (assumed without example inputs)"
    )
    if to == "groupnorm":
        groups = M.groupnorm_groups(c, per_channel, max_groups)
        if groups is None:
            return f"{M.kind(bn)}({c}) with {values}: every GroupNorm of it normalizes a single value"
        return M.to_groupnorm(bn, groups)
    if to == "layernorm":
        if c * per_channel < 2:
            return f"{M.kind(bn)}({c}) with {values}: a LayerNorm of it normalizes a single value"
        return M.to_layernorm(bn, rank)
    if to == "instancenorm":
        if rank is None:
            return f"{M.kind(bn)}: pass example_inputs to tell (N, C) from (N, C, L) inputs"
        if rank == 2:
            return f"{M.kind(bn)} sees (N, C) inputs: InstanceNorm has no positions to normalize over"
        if per_channel < 2:
            return f"{M.kind(bn)}({c}) with {values}: an InstanceNorm of it normalizes a single value"
        return M.to_instancenorm(bn, rank)
    if to == "syncbatchnorm":
        return M.to_syncbatchnorm(bn)
    return M.why_not_fixed(bn) or M.FrozenBatchNorm.from_batchnorm(bn)


def swap_batchnorm(
    model: nn.Module, to: str = "groupnorm", example_inputs: Any = None, *, max_groups: int = 32
) -> FixResult:
    """Replace every BatchNorm with another norm -- unsafe: the model computes
    something else and must be trained (or fine-tuned) again.

    ``to``: ``"groupnorm"`` (default) -- GroupNorm with the most groups, at
    most ``max_groups``, dividing the channels, such that each group
    normalizes more than one value per sample, judged on the layer's input
    shape from ``example_inputs`` (without them a channel is assumed to hold
    one value per sample, the worst case); ``"layernorm"`` -- LayerNorm(C)
    on (N, C) inputs, GroupNorm(1, C) otherwise; ``"instancenorm"``;
    ``"syncbatchnorm"`` (same statistics); ``"frozen"`` (a FrozenBatchNorm,
    same statistics). Affine parameters are carried over. A BN no target
    form suits is left, with its reason."""
    if to not in SWAP_TARGETS:
        raise ValueError(f"swap_batchnorm: unknown target {to!r} (choose from {', '.join(SWAP_TARGETS)})")
    inputs = None if example_inputs is None else example_tensors(model, example_inputs)
    work = Pass(model, inputs, trace=False)
    changes, left = [], []
    for path, bn in model.named_modules():
        if not M.is_batchnorm(bn) or (to == "syncbatchnorm" and isinstance(bn, nn.SyncBatchNorm)):
            continue
        new = _swap_one(work, path, work.module(path), to, max_groups)
        if isinstance(new, str):
            left.append(Left(path, new))
            continue
        work.replace(path, new)
        changes.append(Change("swap", (path,), f"{M.kind(bn)} '{path}' -> {new!r}"))
    return FixResult(work.build(), changes, left, None, None)
