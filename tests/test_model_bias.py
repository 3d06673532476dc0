"""BN101 against the numerical check that settles it: a bias is redundant
exactly when changing it leaves the train-mode output unchanged (float64).
Every biased conv/linear of these models is checked both ways, on the graph
of the symbolic tracer and on the graph recorded from a run."""

import pytest
import torch
import torch.nn as nn

from bnlint.inputs import InputSpec
from bnlint.model.context import build_context
from bnlint.model.runtrace import run_trace
from bnlint.model.graph import ModelGraph

from bnlint.engine.registry import get_rule


class AddThenBN(nn.Module):  # inception-resnet: bn(shortcut(x) + residual(x))
    def __init__(self):
        super().__init__()
        self.shortcut = nn.Conv2d(8, 8, 1)
        self.residual = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.shortcut(x) + self.residual(x))


class RepVitSum(nn.Module):  # timm repvit: bn(conv(x) + conv1(x) + x)
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.conv1 = nn.Conv2d(8, 8, 1, groups=8)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x) + self.conv1(x) + x)


class CatThenBN(nn.Module):  # NASNet: bn(cat([p1(x), p2(x)], 1))
    def __init__(self):
        super().__init__()
        self.p1 = nn.Conv2d(8, 4, 1)
        self.p2 = nn.Conv2d(8, 4, 1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(torch.cat([self.p1(x), self.p2(x)], 1))


class SepConv(nn.Module):  # depthwise (bias) -> pointwise -> BN
    def __init__(self):
        super().__init__()
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pointwise = nn.Conv2d(8, 8, 1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.pointwise(self.depthwise(x)))


class PreActStage(nn.Module):  # every consumer of the residual stream is a BN
    def __init__(self):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn_final = nn.BatchNorm2d(8)

    def forward(self, x):
        x = x + self.conv2(torch.relu(self.bn2(self.conv1(torch.relu(self.bn1(x))))))
        return torch.relu(self.bn_final(x))


class Negatives(nn.Module):  # none of these biases cancels
    def __init__(self):
        super().__init__()
        self.padded = nn.Conv2d(8, 8, 1)          # then a zero-padded 3x3 conv
        self.spatial = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act = nn.Conv2d(8, 8, 1)             # then a ReLU
        self.bn2 = nn.BatchNorm2d(8)
        self.twice = nn.Conv2d(8, 8, 1)           # also returned
        self.bn3 = nn.BatchNorm2d(8)
        self.gn_in = nn.Conv2d(8, 8, 1)           # GroupNorm mixes channels
        self.gn = nn.GroupNorm(2, 8)
        self.wide = nn.Conv2d(8, 8, 1)            # cat along the width
        self.bn4 = nn.BatchNorm2d(8)

    def forward(self, x):
        a = self.bn1(self.spatial(self.padded(x)))
        b = self.bn2(torch.relu(self.act(x)))
        t = self.twice(x)
        c = self.bn3(t) + t
        d = self.gn(self.gn_in(x))
        e = self.bn4(torch.cat([self.wide(x), x], 3))
        return a, b, c, d, e


class Head(nn.Module):  # unpadded 3x3 conv, pooling, flatten, Linear -> BN1d
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3)
        self.valid = nn.Conv2d(8, 16, 3, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 16)
        self.bn = nn.BatchNorm1d(16)

    def forward(self, x):
        y = self.pool(self.valid(self.conv(x))).flatten(1)
        return self.bn(self.fc(y) * 0.5)


MODELS = [AddThenBN, RepVitSum, CatThenBN, SepConv, PreActStage, Negatives, Head]
SHAPE = (4, 8, 8, 8)


def redundant_biases(model: nn.Module) -> set[str]:
    """The numerical check: change the bias, does the train-mode output move?"""
    model = model.double().train()
    torch.manual_seed(0)
    x = torch.randn(*SHAPE, dtype=torch.float64)
    with torch.no_grad():
        base = model(x)
        found = set()
        for name, layer in model.named_modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)) and layer.bias is not None:
                saved = layer.bias.clone()
                layer.bias += torch.randn_like(layer.bias) * 3
                out = model(x)
                layer.bias.copy_(saved)
                outs = out if isinstance(out, tuple) else (out,)
                bases = base if isinstance(base, tuple) else (base,)
                if all(torch.allclose(o, b, atol=1e-9) for o, b in zip(outs, bases)):
                    found.add(name)
    return found


def reported(model: nn.Module, *, run: bool) -> set[str]:
    ctx = build_context(model, needs=("graph",))
    if run:
        model.eval()
        traced, _ = run_trace(model, InputSpec((SHAPE,), ("float32",), "test"))
        model.train()
        ctx.graph = ModelGraph(model, traced)
    rule = get_rule("BN101")()
    return {f.module for f in rule.check_model(ctx)}


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("run", [False, True], ids=["fx", "run"])
def test_bn101_matches_the_numerical_check(cls, run):
    truth = redundant_biases(cls())
    assert reported(cls(), run=run) == truth
    if cls is not Negatives:
        assert truth, "each positive model has a redundant bias"
