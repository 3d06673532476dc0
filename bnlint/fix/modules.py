"""Layer 2: one module (or one module pair) in, a new module out.

Nothing here mutates its inputs. A new module is a *shell* of the old one
(:func:`share`): an object of the same class with its own parameter, buffer,
child and hook tables and its own Parameter objects, on the same tensor
storage -- so it costs no tensor memory, and setting its mode, moving it to
another device or replacing one of its tensors leaves the original alone
(in-place writes to a shared tensor, an optimizer step, reach both). Only
the tensors a fix computes are new.

Which layers count, matched with ``isinstance`` so that subclasses do:

* a BatchNorm is any ``_BatchNorm`` (BatchNorm1d/2d/3d, SyncBatchNorm, lazy
  ones, user subclasses);
* a frozen BatchNorm is any module that is no ``_BatchNorm`` but holds the
  buffers ``weight``, ``bias``, ``running_mean`` and ``running_var`` (one
  value per channel), a number ``eps``, and no parameters or children:
  torchvision's and detectron2's ``FrozenBatchNorm2d`` and this module's
  :class:`FrozenBatchNorm`, recognized without importing them;
* producers are ``_ConvNd`` (Conv1d/2d/3d and ConvTranspose1d/2d/3d: a
  ``_ConvTransposeNd``) and ``nn.Linear``.

A torch layer is folded only when its ``forward`` is torch's own (a subclass
that overrides ``forward`` could compute anything), it has no forward hooks
and no parametrization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd
from torch.nn.modules.instancenorm import _InstanceNorm

from bnlint.fix import maths

_FROZEN_BUFFERS = ("weight", "bias", "running_mean", "running_var")


# -- which modules are which ---------------------------------------------------


def is_batchnorm(m: nn.Module) -> bool:
    return isinstance(m, _BatchNorm)


def is_frozen_batchnorm(m: nn.Module) -> bool:
    """A frozen-BN module, recognized by its buffers (not by its class)."""
    buffers = m._buffers  # tables and __dict__ only: a missing Module attribute raises, which is slow
    if isinstance(m, _BatchNorm) or any(not isinstance(buffers.get(k), torch.Tensor) for k in _FROZEN_BUFFERS):
        return False
    if not isinstance(vars(m).get("eps"), (int, float)):
        return False
    sizes = {buffers[k].shape for k in _FROZEN_BUFFERS}
    return len(sizes) == 1 and len(next(iter(sizes))) == 1 and not m._parameters and not m._modules


def is_batchnorm_like(m: nn.Module) -> bool:
    return is_batchnorm(m) or is_frozen_batchnorm(m)


def is_mean_subtracting_norm(m: nn.Module) -> bool:
    """Norms that subtract a per-channel mean, so a per-channel bias before
    them cancels: BatchNorm, InstanceNorm, frozen BatchNorm."""
    return isinstance(m, (_BatchNorm, _InstanceNorm)) or is_frozen_batchnorm(m)


def is_producer(m: nn.Module) -> bool:
    return isinstance(m, (_ConvNd, nn.Linear))


def is_transposed(m: nn.Module) -> bool:
    return isinstance(m, _ConvTransposeNd)


def kind(m: nn.Module) -> str:
    """How reasons name a module: its class name."""
    return type(m).__name__


def torch_defined(m: nn.Module) -> Optional[str]:
    """None when ``m`` computes what its torch base class computes; else why not."""
    fwd = getattr(type(m), "forward", None)
    if not (getattr(fwd, "__module__", "") or "").startswith("torch.nn.modules."):
        return f"{kind(m)} overrides forward: what it computes is unknown"
    if m._forward_hooks or m._forward_pre_hooks:
        return f"{kind(m)} has forward hooks"
    if "parametrizations" in m._modules:
        return f"{kind(m)} has a parametrized weight"
    return None


def num_channels(m: nn.Module) -> int:
    """The channels a BatchNorm-like module normalizes."""
    return m.running_mean.shape[0] if getattr(m, "running_mean", None) is not None else m.num_features


def out_channels(m: nn.Module) -> int:
    return m.out_features if isinstance(m, nn.Linear) else m.out_channels


def in_channels(m: nn.Module) -> int:
    return m.in_features if isinstance(m, nn.Linear) else m.in_channels


def has_zero_padding(conv: _ConvNd) -> bool:
    """True when no window of ``conv`` reaches past the input's border into
    zeros: no padding, or a padding mode that repeats the input (reflect,
    replicate, circular), which keeps a per-channel constant constant."""
    if conv.padding_mode != "zeros":
        return True
    if isinstance(conv.padding, str):
        return conv.padding == "valid" or all(
            d * (k - 1) == 0 for d, k in zip(conv.dilation, conv.kernel_size)
        )
    return all(p == 0 for p in conv.padding)


# -- shells: new module objects that share tensors ---------------------------


def _alias(param: Optional[nn.Parameter], memo: dict) -> Optional[nn.Parameter]:
    """A new Parameter object on the same storage (one per original, so tied
    weights stay tied): moving or casting the new module (``.to()``,
    ``.half()``) swaps the new object's data and leaves the original alone."""
    if param is None or isinstance(param, nn.parameter.UninitializedParameter):
        return param
    if id(param) not in memo:
        memo[id(param)] = nn.Parameter(param.detach(), requires_grad=param.requires_grad)
    return memo[id(param)]


def share(module: nn.Module, memo: Optional[dict] = None) -> nn.Module:
    """A new module of the same class on the same tensor storage: its own
    tables (parameters, buffers, children, hooks), its own Parameter objects
    and its own children, each a shell too; a submodule or parameter reachable
    twice gets one shell. No tensor data is copied."""
    memo = {} if memo is None else memo
    if id(module) in memo:
        return memo[id(module)]
    new = object.__new__(module.__class__)  # not cls.__new__: GraphModule's makes a new class
    state = dict(module.__dict__)
    for key, value in state.items():
        if isinstance(value, (dict, set)):  # the tables (OrderedDicts), and any other container
            state[key] = value.copy()
    new.__dict__ = state
    memo[id(module)] = new
    new._parameters = {k: _alias(p, memo) for k, p in module._parameters.items()}
    new._modules = {
        name: None if child is None else share(child, memo) for name, child in module._modules.items()
    }
    return new


def derive(module: nn.Module, **tensors: Optional[torch.Tensor]) -> nn.Module:
    """A shell of a leaf module with some parameters or buffers replaced (a
    name already a parameter, or new, becomes a parameter; a buffer stays a
    buffer). New parameters train when the module's weight trains."""
    new = share(module)
    grad = getattr(getattr(module, "weight", None), "requires_grad", False)
    for name, value in tensors.items():
        if name in new._buffers:
            new._buffers[name] = value
        elif value is None:
            new._parameters[name] = None
        else:
            old = module._parameters.get(name)
            new._parameters[name] = nn.Parameter(value, old.requires_grad if old is not None else grad)
    return new


# -- the statistics of a BatchNorm-like module ---------------------------------


@dataclass(frozen=True)
class Stats:
    """An eval-mode BatchNorm as data."""

    running_mean: torch.Tensor
    running_var: torch.Tensor
    eps: float
    weight: Optional[torch.Tensor]
    bias: Optional[torch.Tensor]

    def scale_shift(self):
        return maths.bn_scale_shift(self.running_mean, self.running_var, self.eps, self.weight, self.bias)


def stats(bn: nn.Module) -> Stats:
    return Stats(bn.running_mean, bn.running_var, float(bn.eps), bn.weight, bn.bias)


def why_not_fixed(bn: nn.Module) -> Optional[str]:
    """Why ``bn`` in eval is no fixed per-channel affine map (None: it is)."""
    if is_frozen_batchnorm(bn):
        return None
    if bn.running_mean is None or bn.running_var is None:
        return f"{kind(bn)} has no running statistics (track_running_stats=False): eval uses batch statistics"
    return torch_defined(bn)


def why_not_statistics(bn: nn.Module) -> Optional[str]:
    """Why ``bn``, as it is now, is no fixed per-channel affine map (None: it is)."""
    if not is_frozen_batchnorm(bn) and bn.training:
        return f"{kind(bn)} is in training mode"
    return why_not_fixed(bn)


# -- folding one pair ----------------------------------------------------------


def _why_not_fold(layer: nn.Module, bn: nn.Module, channels: int, side: str) -> Optional[str]:
    if layer.training:
        return f"{kind(layer)} is in training mode"
    reason = why_not_statistics(bn) or torch_defined(layer)
    if reason:
        return reason
    if channels != num_channels(bn):
        return f"{kind(layer)} has {channels} {side}, {kind(bn)} {num_channels(bn)} channels"
    return None


def why_not_fold_after(producer: nn.Module, bn: nn.Module) -> Optional[str]:
    """Why ``bn(producer(x))`` cannot be folded into ``producer`` (None: it can),
    judged on the two modules alone."""
    if not is_producer(producer):
        return f"{kind(producer)} is no Conv, ConvTranspose or Linear"
    return _why_not_fold(producer, bn, out_channels(producer), "outputs")


def why_not_fold_before(bn: nn.Module, consumer: nn.Module) -> Optional[str]:
    """Why ``consumer(bn(x))`` cannot be folded into ``consumer`` (None: it can)."""
    if not isinstance(consumer, (nn.Linear, _ConvNd)):
        return f"{kind(consumer)} is no Conv or Linear"
    if is_transposed(consumer):
        return f"{kind(consumer)} is transposed: border outputs sum fewer inputs, so the BN's shift is not uniform"
    if isinstance(consumer, _ConvNd) and not has_zero_padding(consumer):
        return f"{kind(consumer)} pads with zeros: at the border the BN's shift would meet zeros"
    return _why_not_fold(consumer, bn, in_channels(consumer), "inputs")


def _folded(layer: nn.Module, bn: nn.Module, reason: Optional[str], fold, *extra) -> nn.Module:
    if reason:
        raise ValueError(f"cannot fold {kind(bn)} into {kind(layer)}: {reason}")
    scale, shift = stats(bn).scale_shift()
    with torch.no_grad():
        w, b = fold(layer.weight, layer.bias, scale, shift, *extra)
    return derive(layer, weight=w, bias=b)


def fold_after(producer: nn.Module, bn: nn.Module) -> nn.Module:
    """A new producer computing ``bn(producer(x))`` (eval mode)."""
    reason = why_not_fold_after(producer, bn)
    if is_transposed(producer):
        return _folded(producer, bn, reason, maths.fold_after_transposed, producer.groups)
    return _folded(producer, bn, reason, maths.fold_after)


def fold_before(bn: nn.Module, consumer: nn.Module) -> nn.Module:
    """A new consumer computing ``consumer(bn(x))`` (eval mode)."""
    return _folded(consumer, bn, why_not_fold_before(bn, consumer), maths.fold_before, getattr(consumer, "groups", 1))


# -- removing a bias a norm cancels --------------------------------------------


def why_not_drop_bias(producer: nn.Module, norm: nn.Module) -> Optional[str]:
    """Why the bias of ``producer`` does not simply cancel in ``norm(producer(x))``."""
    if not is_producer(producer):
        return f"{kind(producer)} is no Conv, ConvTranspose or Linear"
    if producer.bias is None:
        return f"{kind(producer)} has no bias"
    if not is_mean_subtracting_norm(norm):
        return f"{kind(norm)} does not subtract a per-channel mean"
    if isinstance(producer, nn.Linear) and isinstance(norm, _InstanceNorm):
        return "InstanceNorm normalizes along the Linear's features: the bias does not cancel"
    reason = torch_defined(producer) or (None if is_frozen_batchnorm(norm) else torch_defined(norm))
    if reason:
        return reason
    if out_channels(producer) != num_channels(norm):
        return f"{kind(producer)} has {out_channels(producer)} outputs, {kind(norm)} {num_channels(norm)} channels"
    return None


def drop_bias(producer: nn.Module, norm: nn.Module) -> tuple[nn.Module, nn.Module]:
    """``(producer without its bias, norm with the bias taken off its running
    mean)``: the pair computes the same, in training and in eval."""
    reason = why_not_drop_bias(producer, norm)
    if reason:
        raise ValueError(f"cannot remove the bias of {kind(producer)}: {reason}")
    new_norm = norm
    if getattr(norm, "running_mean", None) is not None:
        with torch.no_grad():
            mean = maths.bias_into_running_mean(producer.bias, norm.running_mean)
        new_norm = derive(norm, running_mean=mean)
    return derive(producer, bias=None), new_norm


# -- the frozen BatchNorm ------------------------------------------------------


class FrozenBatchNorm(nn.Module):
    """BatchNorm with fixed statistics and affine parameters, all of them
    buffers (nothing trains, nothing updates). It computes eval-mode
    BatchNorm (``F.batch_norm`` with ``training=False``) in any mode, on
    inputs of any rank with channels on dim 1, so it stands for
    BatchNorm1d, 2d and 3d alike."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    @classmethod
    def from_batchnorm(cls, bn: nn.Module) -> "FrozenBatchNorm":
        """A frozen BN computing what ``bn`` computes in eval: the same
        statistics and affine parameters (its tensors, shared; ones and zeros
        without affine)."""
        reason = why_not_fixed(bn)
        if reason:
            raise ValueError(f"cannot freeze {kind(bn)}: {reason}")
        new = cls(num_channels(bn), float(bn.eps))
        new.training = bn.training
        for name in _FROZEN_BUFFERS:
            value = getattr(bn, name, None)
            if value is not None:
                new._buffers[name] = value.detach()
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


# -- swap targets --------------------------------------------------------------


def groupnorm_groups(channels: int, per_channel: int, max_groups: int = 32) -> Optional[int]:
    """The most groups (a divisor of ``channels``, at most ``max_groups``) such
    that each group normalizes more than one value per sample; ``per_channel``
    is the number of values a channel holds per sample (the spatial size, 1
    for ``(N, C)`` inputs). None when no grouping does (one channel, one value)."""
    for g in range(min(channels, max_groups), 0, -1):
        if channels % g == 0 and (channels // g) * per_channel > 1:
            return g
    return None


def _affine(new: nn.Module, bn: nn.Module) -> nn.Module:
    if getattr(bn, "weight", None) is not None and getattr(new, "weight", None) is not None:
        new.weight = bn.weight if isinstance(bn.weight, nn.Parameter) else nn.Parameter(bn.weight.detach())
        new.bias = bn.bias if isinstance(bn.bias, nn.Parameter) else nn.Parameter(bn.bias.detach())
    new.training = bn.training
    return new


def _affine_flag(bn: nn.Module) -> bool:
    return getattr(bn, "weight", None) is not None


def to_groupnorm(bn: nn.Module, groups: int) -> nn.GroupNorm:
    """GroupNorm(groups, C) with the BN's eps and affine parameters."""
    return _affine(nn.GroupNorm(groups, num_channels(bn), float(bn.eps), affine=_affine_flag(bn)), bn)


def to_layernorm(bn: nn.Module, rank: int) -> nn.Module:
    """Normalization over each sample's channels (and positions): LayerNorm(C)
    for ``(N, C)`` inputs, GroupNorm(1, C) (LayerNorm over ``(C, *spatial)``
    with a per-channel affine) otherwise."""
    c = num_channels(bn)
    if rank == 2:
        return _affine(nn.LayerNorm(c, float(bn.eps), elementwise_affine=_affine_flag(bn)), bn)
    return to_groupnorm(bn, 1)


_INSTANCE = {3: nn.InstanceNorm1d, 4: nn.InstanceNorm2d, 5: nn.InstanceNorm3d}


def to_instancenorm(bn: nn.Module, rank: int) -> Optional[nn.Module]:
    """InstanceNorm of the input's rank (per sample and channel, over
    positions), or None for ``(N, C)`` inputs, which have no positions."""
    cls = _INSTANCE.get(rank)
    if cls is None:
        return None
    return _affine(cls(num_channels(bn), float(bn.eps), affine=_affine_flag(bn)), bn)


def to_syncbatchnorm(bn: nn.Module) -> nn.SyncBatchNorm:
    """SyncBatchNorm with the BN's parameters and statistics (shared)."""
    new = nn.SyncBatchNorm(
        num_channels(bn), float(bn.eps), bn.momentum, affine=_affine_flag(bn),
        track_running_stats=bn.running_mean is not None,
    )
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        if getattr(bn, name, None) is not None:
            new._buffers[name] = getattr(bn, name)
    return _affine(new, bn)
