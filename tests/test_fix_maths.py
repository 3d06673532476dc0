"""Layers 1 and 2 of the fixer: the folding maths and one module pair.

Property tests draw convs and transposed convs of every rank (groups,
stride, dilation, padding, bias on or off), Linears, and BatchNorms with
affine on or off and realistic statistics, and check the new module against
the pair it replaces."""

import copy

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from bnlint.fix import FrozenBatchNorm
from bnlint.fix import maths
from bnlint.fix import modules as M

from fix_models import LooksFrozenButIsNot, MyBN, TVFrozenBatchNorm2d, max_rel, realistic_stats

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONVT = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def conv_layers(draw, transposed=None, padding=True):
    rank = draw(st.sampled_from([1, 2, 3]))
    t = draw(st.booleans()) if transposed is None else transposed
    groups = draw(st.sampled_from([1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kw = dict(
        kernel_size=draw(st.integers(1, 3)), stride=draw(st.integers(1, 2)), dilation=draw(st.integers(1, 2)),
        padding=draw(st.integers(0, 1)) if padding else 0, groups=groups, bias=draw(st.booleans()),
    )
    layer = (CONVT if t else CONV)[rank](cin, cout, **kw)
    return layer, rank


def _with_bn(layer_rank, channels, affine, seed):
    """(the conv, an eval BN of ``channels(conv)`` channels with realistic statistics, an input)."""
    torch.manual_seed(seed)
    conv, rank = layer_rank
    bn = realistic_stats(BN[rank](channels(conv), affine=affine), seed)
    return conv.eval(), bn.eval(), torch.randn((2, conv.in_channels) + (7,) * rank)


@SETTINGS
@given(conv_layers(), st.booleans(), st.integers(0, 2**16))
def test_fold_after_a_conv_or_transposed_conv_keeps_the_output(layer_rank, affine, seed):
    conv, bn, x = _with_bn(layer_rank, M.out_channels, affine, seed)
    folded = M.fold_after(conv, bn)
    with torch.no_grad():
        assert max_rel(bn(conv(x)), folded(x)) < 1e-5
    assert type(folded) is type(conv) and folded is not conv
    assert folded.bias is not None


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.booleans(), st.booleans(), st.integers(0, 2**16))
def test_fold_linear_and_batchnorm1d_both_ways(fin, fout, bias, affine, seed):
    torch.manual_seed(seed)
    fc = nn.Linear(fin, fout, bias=bias).eval()
    after = realistic_stats(nn.BatchNorm1d(fout, affine=affine), seed).eval()
    before = realistic_stats(nn.BatchNorm1d(fin, affine=affine), seed + 1).eval()
    x = torch.randn(5, fin)
    with torch.no_grad():
        assert max_rel(after(fc(x)), M.fold_after(fc, after)(x)) < 1e-5
        assert max_rel(fc(before(x)), M.fold_before(before, fc)(x)) < 1e-5


@SETTINGS
@given(conv_layers(transposed=False, padding=False), st.booleans(), st.integers(0, 2**16))
def test_fold_before_an_unpadded_conv_keeps_the_output(layer_rank, affine, seed):
    conv, bn, x = _with_bn(layer_rank, M.in_channels, affine, seed)
    with torch.no_grad():
        assert max_rel(conv(bn(x)), M.fold_before(bn, conv)(x)) < 1e-5


def test_fold_before_a_zero_padded_conv_is_refused_a_reflect_padded_one_folds():
    bn = realistic_stats(nn.BatchNorm2d(4)).eval()
    padded = nn.Conv2d(4, 6, 3, padding=1).eval()
    assert "pads with zeros" in M.why_not_fold_before(bn, padded)
    with pytest.raises(ValueError, match="pads with zeros"):
        M.fold_before(bn, padded)
    # the refusal is right: folding anyway breaks the border
    w, b = maths.fold_before(padded.weight, padded.bias, *M.stats(bn).scale_shift())
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        wrong = torch.nn.functional.conv2d(x, w, b, padding=1)
        assert max_rel(padded(bn(x)), wrong) > 1e-2
    reflect = nn.Conv2d(4, 6, 3, padding=1, padding_mode="reflect").eval()
    same = nn.Conv2d(4, 6, 1, padding="same").eval()
    with torch.no_grad():
        for conv in (reflect, same):
            assert max_rel(conv(bn(x)), M.fold_before(bn, conv)(x)) < 1e-5
    assert "transposed" in M.why_not_fold_before(bn, nn.ConvTranspose2d(4, 4, 2).eval())


def test_float64_models_fold_to_float64_rounding():
    conv = nn.ConvTranspose2d(4, 6, 3, groups=2).double().eval()
    bn = realistic_stats(nn.BatchNorm2d(6)).double().eval()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    folded = M.fold_after(conv, bn)
    assert folded.weight.dtype == torch.float64
    with torch.no_grad():
        assert max_rel(bn(conv(x)), folded(x)) < 1e-13


def test_fold_refuses_what_is_not_a_fixed_affine_map():
    conv = nn.Conv2d(3, 4, 3).eval()
    assert "training mode" in M.why_not_fold_after(conv, nn.BatchNorm2d(4))
    assert "no running statistics" in M.why_not_fold_after(conv, nn.BatchNorm2d(4, track_running_stats=False).eval())
    assert "4 outputs" in M.why_not_fold_after(conv, nn.BatchNorm2d(5).eval())

    class Odd(nn.BatchNorm2d):
        def forward(self, x):
            return super().forward(x) * 2

    assert "overrides forward" in M.why_not_fold_after(conv, Odd(4).eval())
    hooked = nn.Conv2d(3, 4, 3).eval()
    hooked.register_forward_hook(lambda m, i, o: o * 2)
    assert "hooks" in M.why_not_fold_after(hooked, nn.BatchNorm2d(4).eval())
    with pytest.raises(ValueError, match="training mode"):
        M.fold_after(conv, nn.BatchNorm2d(4))


def test_new_modules_never_touch_their_inputs():
    conv = nn.Conv2d(3, 4, 3, bias=False).eval()
    bn = realistic_stats(MyBN(4)).eval()
    before = [t.clone() for t in (conv.weight, bn.running_mean, bn.running_var, bn.weight, bn.bias)]
    folded = M.fold_after(conv, bn)
    after = [conv.weight, bn.running_mean, bn.running_var, bn.weight, bn.bias]
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert conv.bias is None and folded.bias is not None
    assert folded.weight is not conv.weight
    folded.train()
    assert not conv.training


@SETTINGS
@given(conv_layers(), st.integers(0, 2**16), st.booleans())
def test_drop_bias_is_exact_in_training_and_eval(layer_rank, seed, instance):
    torch.manual_seed(seed)
    conv, rank = layer_rank
    if conv.bias is None:
        conv = type(conv)(conv.in_channels, conv.out_channels, conv.kernel_size, groups=conv.groups)
    with torch.no_grad():
        conv.bias.uniform_(-5, 5)
    norm_cls = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}[rank] if instance else BN[rank]
    norm = realistic_stats(norm_cls(conv.out_channels, affine=True, track_running_stats=True), seed)
    conv, norm = conv.double(), norm.double()  # exact: the float64 results agree to float64 rounding
    x = torch.randn((3, conv.in_channels) + (9,) * rank, dtype=torch.float64)  # > 1 output position
    new_conv, new_norm = M.drop_bias(conv, norm)
    assert new_conv.bias is None and conv.bias is not None
    ref_conv, ref_norm = copy.deepcopy(conv), copy.deepcopy(norm)
    with torch.no_grad():
        for _ in range(2):  # training: batch statistics, and the running mean updates
            a, b = ref_norm(ref_conv(x)), new_norm(new_conv(x))
            assert max_rel(a, b) < 1e-10
        assert torch.allclose(ref_norm.running_mean - conv.bias, new_norm.running_mean, atol=1e-10)
        ref_norm.eval(), new_norm.eval()
        assert max_rel(ref_norm(ref_conv(x)), new_norm(new_conv(x))) < 1e-10


def test_drop_bias_refusals():
    fc = nn.Linear(4, 4)
    assert "InstanceNorm" in M.why_not_drop_bias(fc, nn.InstanceNorm1d(4))
    assert "does not subtract" in M.why_not_drop_bias(fc, nn.LayerNorm(4))
    assert "no bias" in M.why_not_drop_bias(nn.Linear(4, 4, bias=False), nn.BatchNorm1d(4))
    fc2, norm = M.drop_bias(fc, nn.BatchNorm1d(4, track_running_stats=False))
    assert fc2.bias is None and norm.running_mean is None


@pytest.mark.parametrize("rank", [2, 3, 4, 5])
def test_frozen_batchnorm_computes_eval_batchnorm_at_every_rank(rank):
    cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[rank]
    bn = realistic_stats(cls(5)).eval()
    frozen = FrozenBatchNorm.from_batchnorm(bn).train()
    x = torch.randn((3, 5) + (4,) * (rank - 2))
    with torch.no_grad():
        assert torch.equal(bn(x), frozen(x))  # the same kernel: bitwise
    assert not list(frozen.parameters()) and M.is_frozen_batchnorm(frozen)
    mean = bn.running_mean.clone()
    frozen(x)
    assert torch.equal(frozen.running_mean, mean)  # train() changes nothing


def test_frozen_batchnorms_are_recognized_by_their_buffers():
    assert M.is_frozen_batchnorm(TVFrozenBatchNorm2d(3))
    assert M.is_frozen_batchnorm(LooksFrozenButIsNot(3))  # verification, not the match, catches this one
    assert not M.is_frozen_batchnorm(nn.BatchNorm2d(3))
    assert not M.is_frozen_batchnorm(nn.Linear(3, 3))
    frozen = realistic_stats(TVFrozenBatchNorm2d(4)).eval()
    conv = nn.Conv2d(3, 4, 3).eval()
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        assert max_rel(frozen(conv(x)), M.fold_after(conv, frozen)(x)) < 1e-5
    assert FrozenBatchNorm.from_batchnorm(frozen).running_var is not None


def test_groupnorm_groups_are_never_degenerate():
    assert M.groupnorm_groups(4, 1) == 2  # (N, 4): Opacus's gcd(32, 4) = 4 would normalize single values
    assert M.groupnorm_groups(64, 49) == 32
    assert M.groupnorm_groups(32, 1) == 16
    assert M.groupnorm_groups(48, 1, max_groups=32) == 24
    assert M.groupnorm_groups(1, 1) is None
    assert M.groupnorm_groups(1, 9) == 1
    for c in range(1, 70):
        for per in (1, 2, 9):
            g = M.groupnorm_groups(c, per)
            if g is not None:
                assert c % g == 0 and (c // g) * per > 1 and g <= 32


def test_share_makes_new_objects_holding_the_same_tensors():
    inner = nn.Conv2d(3, 3, 1)
    model = nn.Sequential(inner, nn.BatchNorm2d(3), inner)  # one module under two names
    shell = M.share(model)
    assert shell is not model and shell[0] is not inner
    assert shell[0] is shell[2]  # sharing kept
    assert shell[0].weight is not inner.weight and shell[0].weight.data_ptr() == inner.weight.data_ptr()
    assert shell[0].weight is shell[2].weight
    shell.eval()
    shell[0]._parameters["bias"] = None
    shell.double()
    assert model.training and inner.bias is not None and inner.weight.dtype == torch.float32
