"""remove_redundant_bias, freeze_batchnorm and swap_batchnorm, and the
bundled fixtures folded whole."""

import copy
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from bnlint.fix import (
    SWAP_TARGETS, FixRefused, FrozenBatchNorm, fold_batchnorm, freeze_batchnorm, remove_redundant_bias,
    swap_batchnorm,
)
from bnlint.fix import modules as M

from fix_models import (
    LooksFrozenButIsNot, ReusedConv, assert_unchanged, max_rel, realistic_stats, same_state,
)
from helpers import FIXTURES

sys.path.insert(0, str(FIXTURES))


def out(model, x):
    with torch.no_grad():
        return model(x)


# -- remove_redundant_bias -------------------------------------------------------------


def _biased_net():
    return realistic_stats(nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.ConvTranspose2d(8, 8, 2, stride=2, groups=2), nn.InstanceNorm2d(8, affine=True), nn.ReLU(),
        nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16 * 16, 6), nn.BatchNorm1d(6),
    ))


def test_remove_redundant_bias_is_exact_in_training_and_eval():
    model = _biased_net()
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, "bias", None) is not None and M.is_producer(m):
                m.bias.uniform_(-3, 3)
    x = torch.randn(4, 3, 8, 8)
    before = same_state(model)
    result = remove_redundant_bias(model, (x,))
    assert_unchanged(model, before)
    assert [c.modules for c in result.changed] == [("0", "1"), ("3", "4"), ("9", "10")]
    assert result.left == []  # conv 6 feeds a ReLU: its bias matters, it is no candidate
    fixed = result.model
    assert fixed.training  # modes kept: this fix is for training too
    assert fixed[0].bias is None and fixed[6].bias is not None
    # training mode, on copies (training updates the running statistics)
    a, b = copy.deepcopy(model), copy.deepcopy(fixed)
    for _ in range(3):
        assert max_rel(out(a, x), out(b, x)) < 1e-4
    assert torch.allclose(a[1].running_mean - model[0].bias, b[1].running_mean, atol=1e-4)
    assert result.max_rel_error < 1e-5
    again = remove_redundant_bias(fixed, (x,))
    assert again.changed == [] and again.left == []


def test_remove_redundant_bias_leaves_what_does_not_cancel_and_says_why():
    class LinearOn3d(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 5)
            self.bn = nn.BatchNorm1d(5)

        def forward(self, x):
            return self.bn(self.fc(x))

    result = remove_redundant_bias(realistic_stats(LinearOn3d()), ((3, 5, 5),))
    assert result.changed == [] and "normalizes dim 1" in result.left[0].reason
    result = remove_redundant_bias(realistic_stats(ReusedConv()), ((2, 3, 8, 8),))
    assert result.changed == [] and "called at 2 places" in result.left[0].reason


def test_remove_redundant_bias_is_refused_when_verification_fails():
    # frozen-BN buffers, but the forward ignores running_mean: the bias does not cancel there
    model = realistic_stats(nn.Sequential(nn.Conv2d(3, 4, 3), LooksFrozenButIsNot(4)))
    before = same_state(model)
    with pytest.raises(FixRefused, match="remove_redundant_bias refused"):
        remove_redundant_bias(model, ((2, 3, 8, 8),))
    assert_unchanged(model, before)


def test_remove_redundant_bias_and_fold_agree():
    model = realistic_stats(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())).eval()
    x = torch.randn(2, 3, 8, 8)
    folded = fold_batchnorm(remove_redundant_bias(model, (x,)).model, (x,))
    assert len(folded.folded) == 1 and max_rel(out(model, x), out(folded.model, x)) < 1e-5


# -- freeze_batchnorm ----------------------------------------------------------------


def _finetune():
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    model = realistic_stats(nn.Sequential(backbone, nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4),
                                          nn.BatchNorm2d(4, affine=False)))
    backbone.requires_grad_(False)
    return model


def test_freeze_batchnorm_replaces_frozen_ones_only():
    model = _finetune()
    x = torch.randn(4, 3, 10, 10)
    result = freeze_batchnorm(model, (x,))
    assert [c.modules for c in result.changed] == [("0.1",), ("0.4",)]
    left = {l.module: l.reason for l in result.left}
    assert "requires_grad=True" in left["2"] and "no parameters" in left["3"]
    fixed = result.model
    assert isinstance(fixed[0][1], FrozenBatchNorm) and isinstance(model[0][1], nn.BatchNorm2d)
    assert fixed.training and result.max_rel_error == 0.0
    mean = fixed[0][1].running_mean.clone()
    with torch.no_grad():
        fixed(x)  # training mode: a frozen BN keeps its statistics, BN401's point
    assert torch.equal(fixed[0][1].running_mean, mean)
    assert freeze_batchnorm(fixed, (x,)).changed == []


def test_freeze_refuses_meta_models():
    with torch.device("meta"):
        model = _finetune()
    with pytest.raises(ValueError, match="meta device"):
        freeze_batchnorm(model, ((2, 3, 10, 10),))


# -- swap_batchnorm --------------------------------------------------------------------


def test_opacus_regression_batchnorm1d_4_does_not_become_a_degenerate_groupnorm():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 2)
        model[1].bias.zero_()
    x = torch.randn(8, 3)
    opacus_style = nn.GroupNorm(4, 4)  # gcd(32, 4) groups: each normalizes a single value
    with torch.no_grad():
        assert opacus_style(model[0](x)).abs().amax() < 1e-4  # the bug: all zeros (up to rounding)
    result = swap_batchnorm(model, "groupnorm", example_inputs=(x,))
    gn = result.model[1]
    assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 2 and gn.num_channels == 4
    assert torch.equal(gn.weight, model[1].weight) and torch.equal(gn.bias, model[1].bias)  # affine carried over
    with torch.no_grad():
        assert gn(model[0](x)).abs().amax() > 0.1
    assert swap_batchnorm(model, "groupnorm").model[1].num_groups == 2  # without inputs: worst case


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 96), st.sampled_from([(), (1,), (3,), (1, 1), (4, 4)]))
def test_swapped_groupnorms_never_normalize_single_values(c, spatial):
    bn = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[len(spatial)](c)
    result = swap_batchnorm(nn.Sequential(bn), "groupnorm", ((2, c) + spatial,))
    if result.changed:
        gn = result.model[0]
        per_sample = (c // gn.num_groups) * (spatial[0] * spatial[-1] if spatial else 1)
        assert per_sample > 1 and c % gn.num_groups == 0 and gn.num_groups <= 32
    else:
        assert c == 1 and "single value" in result.left[0].reason


@pytest.mark.parametrize("to", SWAP_TARGETS)
def test_every_swap_target(to):
    model = realistic_stats(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                          nn.Flatten(), nn.Linear(8 * 36, 6), nn.BatchNorm1d(6))).eval()
    x = torch.randn(4, 3, 8, 8)
    result = swap_batchnorm(model, to, (x,))
    new = [result.model[1], result.model[5]]
    expect = {
        "groupnorm": (nn.GroupNorm, nn.GroupNorm), "layernorm": (nn.GroupNorm, nn.LayerNorm),
        "instancenorm": (nn.InstanceNorm2d, None), "syncbatchnorm": (nn.SyncBatchNorm, nn.SyncBatchNorm),
        "frozen": (FrozenBatchNorm, FrozenBatchNorm),
    }[to]
    for module, cls in zip(new, expect):
        if cls is None:
            assert isinstance(module, nn.BatchNorm1d)
            assert "(N, C) inputs" in result.left[0].reason
        else:
            assert isinstance(module, cls) and not module.training
    with torch.no_grad():
        y = result.model(x)
    assert y.shape == (4, 6) and torch.isfinite(y).all()
    if to in ("syncbatchnorm", "frozen"):  # same statistics: the eval function is unchanged
        assert max_rel(out(model, x), y) < 1e-5
    assert swap_batchnorm(result.model, to, (x,)).changed == []  # idempotent
    assert isinstance(model[1], nn.BatchNorm2d)  # the input is untouched


def test_swap_works_on_meta_models_and_rejects_unknown_targets():
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    result = swap_batchnorm(model, "groupnorm", ((2, 3, 8, 8),))
    assert isinstance(result.model[1], nn.GroupNorm) and result.model[1].weight.is_meta
    with pytest.raises(ValueError, match="unknown target"):
        swap_batchnorm(model, "batchrenorm")


# -- the bundled fixtures ---------------------------------------------------------------


def _fixture(module, factory):
    mod = __import__(module)
    return realistic_stats(getattr(mod, factory)() if callable(getattr(mod, factory)) else getattr(mod, factory)).eval()


@pytest.mark.parametrize("module,factory,shape,left", [
    ("resnet", "resnet18", (1, 3, 32, 32), 0),
    ("vgg_bn", "vgg11_bn", (1, 3, 32, 32), 0),
    ("mobilenet_v2", "MobileNetV2", (1, 3, 32, 32), 0),
    ("densenet", "DenseBlock", (1, 64, 8, 8), 3),  # BN-ReLU-Conv: each layer's norm1 stays
])
def test_fixtures_fold(module, factory, shape, left):
    model = _fixture(module, factory)
    x = torch.randn(shape)
    result = fold_batchnorm(model, (x,))
    assert len(result.left) == left
    assert all("follows cat()" in l.reason for l in result.left)
    assert sum(M.is_batchnorm_like(m) for m in result.model.modules()) == left
    assert result.max_rel_error < 1e-5


def test_importing_bnlint_and_its_api_imports_neither_torch_nor_the_fixer():
    code = "import sys, bnlint, bnlint.api; assert 'torch' not in sys.modules and 'bnlint.fix' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
