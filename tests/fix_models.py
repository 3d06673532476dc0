"""Small models and helpers the fix tests share: realistic running statistics,
a torchvision-style frozen BN (written here, matched by bnlint through its
buffers), and the architectures on which torch's fuse goes wrong."""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn


def realistic_stats(model: nn.Module, seed: int = 0) -> nn.Module:
    """Running statistics and affine parameters like a trained model's: means
    far from 0, variances from 0.05 to 20, gammas of both signs (in place)."""
    g = torch.Generator().manual_seed(seed)

    def u(n, lo, hi):
        return torch.rand(n, generator=g) * (hi - lo) + lo

    with torch.no_grad():
        for m in model.modules():
            if not isinstance(getattr(m, "running_var", None), torch.Tensor):
                continue  # no BN, or a BN without running statistics
            c = m.running_mean.numel()
            m.running_mean.copy_(u(c, -4, 4) + 2)
            m.running_var.copy_(torch.exp(u(c, -3, 3)))
            if getattr(m, "weight", None) is not None:
                m.weight.copy_(u(c, 0.3, 2.5) * torch.where(u(c, 0, 1) < 0.1, -1.0, 1.0))
                m.bias.copy_(u(c, -2, 2))
    return model


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |a| (absolute when a is all zeros)."""
    a, b = a.double(), b.double()
    scale = a.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)


def same_state(model: nn.Module) -> dict:
    """A snapshot that says whether a model was changed: each module's
    object, mode and tables, and each tensor's object and values."""
    return {
        "modules": [(name, id(m), m.training, list(m._modules), list(m._parameters), list(m._buffers))
                    for name, m in model.named_modules()],
        "tensors": {k: (id(v), v.detach().clone()) for k, v in model.state_dict(keep_vars=True).items()},
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = same_state(model)
    assert after["modules"] == before["modules"]
    assert after["tensors"].keys() == before["tensors"].keys()
    for k, (ident, value) in before["tensors"].items():
        assert after["tensors"][k][0] == ident, k
        assert torch.equal(after["tensors"][k][1], value), k


class TVFrozenBatchNorm2d(nn.Module):
    """The shape of torchvision.ops.FrozenBatchNorm2d: four buffers, an eps,
    a forward of its own (4-D inputs)."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)


class LooksFrozenButIsNot(TVFrozenBatchNorm2d):
    """The buffers of a frozen BN, but it computes something else: folding it
    would be wrong, and verification must catch that."""

    def forward(self, x):
        return x * self.weight.reshape(1, -1, 1, 1) + self.running_var.reshape(1, -1, 1, 1)


class MyBN(nn.BatchNorm2d):
    """A BatchNorm subclass (torch's fuse fails to trace it)."""

    def __init__(self, c):
        super().__init__(c)
        self.note = "mine"


class ReusedConv(nn.Module):
    """The conv runs twice: once into the BN, once on a path without it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x)) + self.conv(x)


class LinearOnSequence(nn.Module):
    """Linear on the last dim of (N, C, L), then BatchNorm1d over dim 1 (C == L)."""

    def __init__(self, c=6):
        super().__init__()
        self.fc = nn.Linear(c, c)
        self.bn = nn.BatchNorm1d(c)

    def forward(self, x):
        return self.bn(self.fc(x))


class Untraceable(nn.Module):
    """A forward FX cannot trace (it branches on values): its Sequential's
    pairs fold through the module tree."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        y = self.features(x)
        if y.sum() > -1e30:  # always true, but FX cannot know
            y = y.mean((2, 3))
        return self.head(y)


class UntraceableSideCall(Untraceable):
    """Also calls ``features[0]`` directly: the pair (0, 1) must stay."""

    def forward(self, x):
        y = self.features(x)
        if y.sum() > -1e30:
            y = y.mean((2, 3)) + self.features[0](x).mean((2, 3))
        return self.head(y)


class UntraceableNotRun(Untraceable):
    """A Sequential the example inputs never reach."""

    def __init__(self):
        super().__init__()
        self.rare = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))

    def forward(self, x):
        if x.sum() > 1e30:
            return self.head(self.rare(x).mean((2, 3)))
        return super().forward(x)


class PartlyTraceable(nn.Module):
    """A traceable root around an untraceable block (an opaque leaf)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.block = Untraceable()

    def forward(self, x):
        return self.block(torch.relu(self.bn(self.stem(x)))[:, :3])


def torch_fuse(model: nn.Module) -> nn.Module:
    """torch's fx fuse (it deep-copies the model itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its import of torch.jit helpers
        from torch.fx.experimental.optimization import fuse

    return fuse(model)
