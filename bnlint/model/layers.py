"""The layer taxonomy the rules share. Matches with ``isinstance`` so user
subclasses count (``class MyBN(nn.BatchNorm2d)`` is a BatchNorm,
``SyncBatchNorm`` too).

Importing this module costs no torch: the layer tuples (``BATCHNORM``,
``CONV``, ``FUNCTIONAL_DROPOUT`` ...) are built on first access, so rules
import it at the top of their files and pay for torch only when they check a
model."""

from __future__ import annotations

import functools
import operator
from typing import Any, Sequence


@functools.lru_cache(maxsize=None)
def _taxonomy() -> dict[str, Any]:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.modules.conv import _ConvNd
    from torch.nn.modules.dropout import _DropoutNd
    from torch.nn.modules.instancenorm import _InstanceNorm

    t: dict[str, Any] = {}
    t["BATCHNORM"] = (_BatchNorm,)
    t["INSTANCENORM"] = (_InstanceNorm,)
    # Norms that subtract a per-channel mean computed over the batch or
    # positions, so a per-channel bias before them cancels. Not GroupNorm / LayerNorm.
    t["MEAN_SUBTRACTING_NORM"] = (_BatchNorm, _InstanceNorm)
    t["CONV"] = (_ConvNd,)  # Conv1d/2d/3d, ConvTranspose1d/2d/3d, lazy variants
    # produce 4-D / 5-D feature maps
    t["CONV_FEATURE_MAP"] = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    t["LINEAR"] = (nn.Linear,)  # LazyLinear is a Linear
    t["BIASED_PRODUCER"] = t["CONV"] + t["LINEAR"]
    t["DROPOUT"] = (_DropoutNd,)  # Dropout, Dropout1d/2d/3d, AlphaDropout, FeatureAlphaDropout
    t["ELEMENTWISE_DROPOUT"] = (nn.Dropout,)
    t["ALPHA_DROPOUT"] = (nn.AlphaDropout, nn.FeatureAlphaDropout)
    t["SELU"] = (nn.SELU,)
    # Functional dropouts: target -> (name of the training argument, its
    # position, its default). ``F.*`` default to training=True: the classic
    # always-on bug.
    t["FUNCTIONAL_DROPOUT"] = {
        F.dropout: ("training", 2, True),
        F.dropout1d: ("training", 2, True),
        F.dropout2d: ("training", 2, True),
        F.dropout3d: ("training", 2, True),
        F.alpha_dropout: ("training", 2, False),
        F.feature_alpha_dropout: ("training", 2, False),
        torch.dropout: ("train", 2, None),
        torch.alpha_dropout: ("train", 2, None),
        torch.feature_dropout: ("train", 2, None),
        torch.feature_alpha_dropout: ("train", 2, None),
    }
    t["FUNCTIONAL_ALPHA_DROPOUT"] = {
        F.alpha_dropout, F.feature_alpha_dropout, torch.alpha_dropout, torch.feature_alpha_dropout,
    }
    t["FUNCTIONAL_SELU"] = {F.selu, torch.selu, torch.selu_}
    return t


def __getattr__(name: str) -> Any:  # PEP 562: the taxonomy, built on first use
    taxonomy = _taxonomy()
    if name in taxonomy:
        return taxonomy[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_SHAPE_METHODS = {"size", "dim", "ndimension", "numel", "nelement", "element_size", "type", "is_contiguous"}
_SHAPE_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad"}


def dropout_p(node, module=None) -> float | None:
    """The drop probability of a dropout module or functional call, if known."""
    if module is not None:
        return float(getattr(module, "p", 0.5))
    p = node.kwargs.get("p", node.args[1] if len(node.args) > 1 else 0.5)
    return float(p) if isinstance(p, (int, float)) else None


def functional_dropout_training(node) -> bool | None:
    """The resolved ``training`` flag of a functional dropout node (FX
    evaluates ``self.training`` at trace time), or None if not constant."""
    name, pos, default = _taxonomy()["FUNCTIONAL_DROPOUT"][node.target]
    if name in node.kwargs:
        value = node.kwargs[name]
    elif len(node.args) > pos:
        value = node.args[pos]
    else:
        value = default
    return value if isinstance(value, bool) else None


def is_shape_query(node) -> bool:
    """A use of a tensor that reads its metadata, not its values."""
    if node.op == "call_method" and node.target in _SHAPE_METHODS:
        return True
    if node.op == "call_function" and node.target in (getattr, operator.attrgetter):
        return len(node.args) > 1 and node.args[1] in _SHAPE_ATTRS
    if node.op == "call_function" and node.target is len:
        return True
    return False


def call_name(target) -> str:
    """How users write a functional call: ``F.dropout``, ``torch.dropout``."""
    name = getattr(target, "__name__", str(target))
    module = getattr(target, "__module__", "") or ""
    if module == "torch.nn.functional":
        return f"F.{name}"
    if module.startswith("torch"):
        return f"torch.{name}"
    return name


def values_per_channel(shape: Sequence[int]) -> int:
    """What a BatchNorm normalizes each channel over: N x spatial positions."""
    n = shape[0]
    for d in shape[2:]:
        n *= d
    return n


def groupnorm_groups(num_channels: int, spatial: int = 1, preferred: int = 32) -> int | None:
    """A GroupNorm group count for ``num_channels`` channels that leaves no
    group degenerate: each group must normalize more than one value per
    sample, ``(num_channels / groups) * spatial > 1``. ``gcd(32, C)`` (the
    Group Normalization paper's default, and Opacus') when that is safe, else
    the largest divisor of C at most ``preferred`` that keeps two channels in
    a group; None when no grouping works (one channel, one position)."""
    import math

    if num_channels < 1:
        return None
    g = math.gcd(preferred, num_channels)
    if (num_channels // g) * spatial > 1:
        return g
    for g in range(min(preferred, num_channels // 2), 0, -1):
        if num_channels % g == 0 and (num_channels // g) * spatial > 1:
            return g
    return None


def norm_swap_facts(bn, input_shape) -> dict:
    """What a source fix needs to swap this BatchNorm for a GroupNorm:
    its channel count and a non-degenerate group count for its input."""
    channels = int(bn.num_features)
    spatial = 1
    for d in (input_shape or ())[2:]:
        spatial *= d
    return {"num_features": channels, "groups": groupnorm_groups(channels, spatial)}
