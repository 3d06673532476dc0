"""fold_batchnorm on whole models: random small architectures, the cases
torch's ``fuse`` gets wrong, untraceable models, and the promises (the input
model untouched and never copied, verification, idempotence)."""

import copy

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from bnlint.fix import DEFAULT_TOLERANCE, FixRefused, fold_batchnorm
from bnlint.fix import modules as M

from fix_models import (
    LinearOnSequence, LooksFrozenButIsNot, MyBN, PartlyTraceable, ReusedConv, TVFrozenBatchNorm2d,
    Untraceable, UntraceableNotRun, UntraceableSideCall, assert_unchanged, max_rel, realistic_stats,
    same_state, torch_fuse,
)

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONVT = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def batchnorms(model):
    return [m for m in model.modules() if M.is_batchnorm_like(m)]


def out(model, x):
    with torch.no_grad():
        return model(x)


# -- random architectures -------------------------------------------------------


@st.composite
def architectures(draw):
    """A chain of blocks [BN] -> layer -> [BN] -> ReLU on (N, C, *spatial)
    (convs and transposed convs of one rank) or on (N, F) (Linears). Returns
    the model, its input shape and how many BNs must fold."""
    rank = draw(st.sampled_from([0, 1, 2, 3]))  # 0: Linears on (N, F)
    groups = 1 if rank == 0 else draw(st.sampled_from([1, 2]))
    c = cin = groups * draw(st.integers(1, 3))
    layers, foldable, size = [], 0, 6
    for _ in range(draw(st.integers(1, 3))):
        before, after = draw(st.booleans()), draw(st.booleans())
        cout = groups * draw(st.integers(1, 3))
        bias, affine = draw(st.booleans()), draw(st.booleans())
        if rank == 0:
            layer = nn.Linear(c, cout, bias=bias)
        elif draw(st.booleans()):
            stride = draw(st.integers(1, 2))
            layer = CONVT[rank](c, cout, 2, stride=stride, groups=groups, bias=bias)
            size = (size - 1) * stride + 2
        else:
            pad, dil = draw(st.integers(0, 1)), draw(st.integers(1, 2))
            if size + 2 * pad - 2 * dil < 1:
                pad, dil = 1, 1
            layer = CONV[rank](c, cout, 3, padding=pad, dilation=dil, groups=groups, bias=bias)
            size = size + 2 * pad - 2 * dil
        norm = BN[max(rank, 1)]
        if before:
            layers.append(norm(c, affine=affine))
            # nothing before it takes it (a ReLU or the input): it folds forward, where it can
            foldable += isinstance(layer, nn.Linear) or (not M.is_transposed(layer) and M.has_zero_padding(layer))
        layers.append(layer)
        if after:
            layers.append(norm(cout, affine=affine))
            foldable += 1
        layers.append(nn.ReLU())
        c = cout
    model = realistic_stats(nn.Sequential(*layers), draw(st.integers(0, 2**16))).eval()
    return model, (3, cin) + (6,) * rank, foldable


@settings(max_examples=30, deadline=None)
@given(architectures())
def test_random_architectures_fold_and_keep_their_outputs(arch):
    model, shape, foldable = arch
    x = torch.randn(shape)
    result = fold_batchnorm(model, (x,))
    assert max_rel(out(model, x), out(result.model, x)) < DEFAULT_TOLERANCE
    assert result.max_rel_error <= DEFAULT_TOLERANCE
    assert len(result.folded) == foldable
    assert len(batchnorms(result.model)) == len(result.left) == len(batchnorms(model)) - foldable
    again = fold_batchnorm(result.model, (x,))  # idempotent
    assert again.folded == [] and [l.module for l in again.left] == [l.module for l in result.left]
    assert torch.equal(out(result.model, x), out(again.model, x))


# -- where torch's fuse goes wrong ---------------------------------------------------


def test_a_conv_called_again_without_the_bn_is_not_folded():
    model = realistic_stats(ReusedConv()).eval()
    x = torch.randn(2, 3, 8, 8)
    assert max_rel(out(model, x), out(torch_fuse(model), x)) > 1e-2  # torch folds it: wrong outputs
    result = fold_batchnorm(model, (x,))
    assert result.folded == []
    assert [l.module for l in result.left] == ["bn"] and "called at 2 places" in result.left[0].reason
    assert max_rel(out(model, x), out(result.model, x)) < 1e-6


def test_linear_then_batchnorm1d_on_3d_input_is_not_folded():
    model = realistic_stats(LinearOnSequence(6)).eval()
    x = torch.randn(4, 6, 6)  # (N, C, L) with C == L, so torch's shape check passes
    assert max_rel(out(model, x), out(torch_fuse(model), x)) > 1e-2  # torch: wrong outputs
    result = fold_batchnorm(model, (x,))
    assert result.folded == []
    assert "normalizes dim 1" in result.left[0].reason
    flat = realistic_stats(LinearOnSequence(6)).eval()
    assert len(fold_batchnorm(flat, ((4, 6),)).folded) == 1  # on (N, C) it folds


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_transpose_and_batchnorm_fold(rank):
    model = realistic_stats(nn.Sequential(CONVT[rank](4, 6, 3, stride=2, groups=2), BN[rank](6), nn.ReLU())).eval()
    x = torch.randn((2, 4) + (5,) * rank)
    assert len(batchnorms(torch_fuse(model))) == 1  # torch leaves it
    result = fold_batchnorm(model, (x,))
    assert len(result.folded) == 1 and not batchnorms(result.model)
    assert max_rel(out(model, x), out(result.model, x)) < 1e-5


def test_a_batchnorm_subclass_folds():
    model = realistic_stats(nn.Sequential(nn.Conv2d(3, 4, 3), MyBN(4))).eval()
    with pytest.raises(Exception, match="control flow"):
        torch_fuse(model)  # torch traces into the subclass and fails
    result = fold_batchnorm(model, ((2, 3, 8, 8),))
    assert len(result.folded) == 1 and not batchnorms(result.model)


def test_the_model_is_neither_copied_nor_modified(monkeypatch):
    model = realistic_stats(nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Linear(4, 5),
    )).eval()
    before = same_state(model)
    fused = torch_fuse(model)
    assert all(p is not q for p, q in zip(fused.parameters(), model.parameters()))  # fuse copies everything

    def no_deepcopy(obj, memo=None):
        raise AssertionError(f"deepcopy of {type(obj).__name__}")

    monkeypatch.setattr(copy, "deepcopy", no_deepcopy)
    result = fold_batchnorm(model, ((2, 3, 8, 8),))
    monkeypatch.undo()
    assert_unchanged(model, before)
    mine = dict(result.model.named_parameters())
    for name in ("3.weight", "3.bias", "5.weight"):  # untouched: the same storage, not a copy
        assert mine[name].data_ptr() == model.get_parameter(name).data_ptr()
    assert mine["0.weight"].data_ptr() != model[0].weight.data_ptr()  # only the folded conv is new
    assert all(m is not o for m in result.model.modules() for o in model.modules())
    result.model.train()
    result.model.double()  # moving or casting the result leaves the original alone
    assert not any(m.training for m in model.modules())
    assert_unchanged(model, before)


def test_sync_batchnorm_affine_false_and_frozen_batchnorms_fold():
    model = realistic_stats(nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.SyncBatchNorm(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4, affine=False), nn.ReLU(),
        nn.Conv2d(4, 4, 3), TVFrozenBatchNorm2d(4),
    )).eval()
    result = fold_batchnorm(model, ((2, 3, 12, 12),))
    assert len(result.folded) == 3 and not batchnorms(result.model)


class FrozenInside(nn.Module):
    """A frozen BN that is no torch class, in a custom forward: traced as a leaf."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.frozen = TVFrozenBatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.frozen(self.conv(x)).mean((2, 3)))


def test_a_frozen_batchnorm_in_a_custom_forward_folds():
    model = realistic_stats(FrozenInside()).eval()
    x = torch.randn(2, 3, 8, 8)
    result = fold_batchnorm(model, (x,))
    assert [c.modules for c in result.folded] == [("conv", "frozen")]
    assert max_rel(out(model, x), out(result.model, x)) < 1e-5


def test_a_batchnorm_before_a_linear_folds_and_a_padded_conv_does_not_take_one():
    model = realistic_stats(nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), nn.Flatten(), nn.BatchNorm1d(64), nn.Linear(64, 3),
    )).eval()
    result = fold_batchnorm(model, ((2, 3, 6, 6),))
    assert sorted(c.kind for c in result.folded) == ["fold-before", "fold-before"]
    assert [l.module for l in result.left] == ["2"] and "pads with zeros" in result.left[0].reason


def test_folds_that_make_new_neighbours_fold_too():
    model = realistic_stats(nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.BatchNorm2d(4),  # the second BN follows the folded conv
        nn.ReLU(), nn.Flatten(), nn.BatchNorm1d(64), nn.BatchNorm1d(64), nn.Linear(64, 3),
    )).eval()
    x = torch.randn(2, 3, 6, 6)
    result = fold_batchnorm(model, (x,))
    assert len(result.folded) == 4 and not batchnorms(result.model)
    assert max_rel(out(model, x), out(result.model, x)) < 1e-5


def test_what_is_left_says_why():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.relu_bn = nn.BatchNorm2d(4)
            self.train_bn = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 4, 1)
            self.nostats = nn.BatchNorm2d(4, track_running_stats=False)
            self.conv3 = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            y = self.conv(x)
            z = self.bn(y) + y  # the conv's output feeds the add too
            z = torch.relu(self.relu_bn(torch.relu(z)))
            z = self.train_bn(self.conv2(z))
            return self.nostats(self.conv3(z))

    model = realistic_stats(Net()).eval()
    model.train_bn.train()
    result = fold_batchnorm(model, ((2, 3, 8, 8),))
    reasons = {l.module: l.reason for l in result.left}
    assert result.folded == []
    assert "also feeds add()" in reasons["bn"]
    assert "follows relu()" in reasons["relu_bn"] and "no Conv, ConvTranspose or Linear" in reasons["relu_bn"]
    assert "training mode" in reasons["train_bn"]
    assert "no running statistics" in reasons["nostats"]


def test_a_model_in_training_mode_folds_nothing():
    model = realistic_stats(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    result = fold_batchnorm(model, ((2, 3, 8, 8),))
    assert result.folded == [] and "training mode" in result.left[0].reason
    assert result.model.training and model.training


# -- untraceable parts -----------------------------------------------------------


def test_an_untraceable_model_folds_its_sequential_pairs():
    model = realistic_stats(Untraceable()).eval()
    x = torch.randn(2, 3, 8, 8)
    result = fold_batchnorm(model, (x,))
    assert [c.modules for c in result.folded] == [("features.0", "features.1"), ("features.3", "features.4")]
    assert isinstance(result.model, Untraceable)  # no graph to recompile: the class stays
    assert type(result.model.features[1]) is nn.Identity
    assert max_rel(out(model, x), out(result.model, x)) < 1e-5


def test_a_sequential_child_called_from_untraceable_code_stays():
    model = realistic_stats(UntraceableSideCall()).eval()
    result = fold_batchnorm(model, ((2, 3, 8, 8),))
    assert [c.modules for c in result.folded] == [("features.3", "features.4")]
    assert "ran 2 times" in result.left[0].reason and result.left[0].module == "features.1"


def test_pairs_the_example_inputs_never_reach_stay():
    model = realistic_stats(UntraceableNotRun()).eval()
    result = fold_batchnorm(model, ((2, 3, 8, 8),))
    left = {l.module: l.reason for l in result.left}
    assert "did not run on the example inputs" in left["rare.1"]
    assert len(result.folded) == 2


def test_a_traceable_model_around_an_untraceable_block_folds_both():
    model = realistic_stats(PartlyTraceable()).eval()
    x = torch.randn(2, 3, 8, 8)
    result = fold_batchnorm(model, (x,))
    assert {c.modules for c in result.folded} == {
        ("stem", "bn"), ("block.features.0", "block.features.1"), ("block.features.3", "block.features.4"),
    }
    assert not batchnorms(result.model)
    assert max_rel(out(model, x), out(result.model, x)) < 1e-5


# -- verification and inputs -------------------------------------------------------


def test_verification_refuses_a_wrong_fold_and_names_the_numbers():
    model = realistic_stats(nn.Sequential(nn.Conv2d(3, 4, 3), LooksFrozenButIsNot(4))).eval()
    before = same_state(model)
    with pytest.raises(FixRefused, match=r"tolerance 0\.0001") as info:
        fold_batchnorm(model, ((2, 3, 8, 8),))
    assert info.value.error > 1e-2 and info.value.tolerance == 1e-4
    assert f"{info.value.error:.3g}" in str(info.value)
    assert_unchanged(model, before)


def test_meta_models_are_refused():
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    with pytest.raises(ValueError, match="meta device"):
        fold_batchnorm(model, ((2, 3, 8, 8),))


def test_example_inputs_are_tensors_or_shapes():
    model = realistic_stats(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))).eval()
    for inputs in (torch.randn(3, 4), (torch.randn(3, 4),), (3, 4), [(3, 4)]):
        assert len(fold_batchnorm(model, inputs).folded) == 1
    with pytest.raises(ValueError, match="example_inputs"):
        fold_batchnorm(model, None)
    with pytest.raises(TypeError, match="tensors or shapes"):
        fold_batchnorm(model, ("x",))


def test_structured_outputs_are_compared_leaf_by_leaf():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.bn(self.conv(x))
            return {"map": y, "pooled": (y.mean((2, 3)), y.argmax(1))}

    model = realistic_stats(TwoHeads()).eval()
    result = fold_batchnorm(model, ((2, 3, 8, 8),))
    assert len(result.folded) == 1 and result.max_rel_error < 1e-5
