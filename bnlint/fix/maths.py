"""Layer 1: the weight maths of folding, on plain tensors (no modules).

An eval-mode BatchNorm is a per-channel affine map ``y = scale * x + shift``
with ``scale = gamma / sqrt(running_var + eps)`` and ``shift = beta -
running_mean * scale`` (gamma = 1, beta = 0 without affine). Folding moves that
map into the neighbouring layer's weights:

* after a conv or linear (output channels on weight dim 0):
  ``W' = W * scale[o]``, ``b' = b * scale + shift``;
* after a transposed conv, whose weight is ``(in, out / groups, *kernel)``:
  output channel ``o`` of group ``g`` sits at ``[g * in/groups : ..., o % (out/groups)]``;
* before a linear: ``W' = W * scale[i]`` (input features), ``b' = b + W @ shift``;
* before a conv *without padding*: the same per input channel, and the
  constant ``shift`` map convolved gives ``b' = b + sum_{i,k} W[o, i, k] * shift[i]``.
  With padding the border windows see zeros instead of ``shift``, so the fold
  would be wrong there: callers must refuse it (see :mod:`bnlint.fix.modules`).

Removing a bias that a following BatchNorm cancels: the BN subtracts the mean
of its input, so ``BN(x + b)`` with running mean ``m`` equals ``BN(x)`` with
running mean ``m - b`` -- in eval, and in training too, where the batch mean
shifts by ``b`` and the running-mean update keeps the difference ``b``.

The per-channel maths (scale, shift, the new biases) is computed in float64
and cast back to each tensor's own dtype. Weights, which are large, are
scaled in their own dtype (float32, or float64) by the float64 factor
rounded to it once -- two roundings, a relative error of at most 2**-23
per float32 weight, far below what the fold's reordering of the forward's
arithmetic costs (see :mod:`bnlint.fix.verify`) and no float64 copy of
every weight; half-precision weights are scaled in float32 (see :func:`_times`).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

Tensor = torch.Tensor
F64 = torch.float64


def _times(weight: Tensor, factor: Tensor) -> Tensor:
    """``weight * factor`` in the weight's dtype, a new contiguous tensor.
    ``factor`` (float64) broadcasts against ``weight``; it is rounded once to
    the dtype the product is computed in: the weight's own for float32 and
    float64, float32 for lower precisions (one float32 copy of this one
    weight, rounded back at the end)."""
    compute = weight.dtype if weight.dtype in (torch.float32, torch.float64) else torch.float32
    out = torch.mul(weight.to(compute), factor.to(compute))
    return out.to(weight.dtype).contiguous()


def _f64(t: Optional[Tensor]) -> Optional[Tensor]:
    """A float64 copy of a (small) tensor, never the tensor itself."""
    return None if t is None else t.detach().to(F64, copy=True)


def bn_scale_shift(
    running_mean: Tensor,
    running_var: Tensor,
    eps: float,
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """The eval-mode BatchNorm as ``(scale, shift)`` per channel, in float64."""
    mean, var = _f64(running_mean), _f64(running_var)
    scale = torch.rsqrt(var + float(eps))
    if weight is not None:
        scale = scale * _f64(weight)
    shift = -mean * scale
    if bias is not None:
        shift = shift + _f64(bias)
    return scale, shift


def _per_out(scale: Tensor, weight_dim: int) -> Tensor:
    return scale.reshape([-1] + [1] * (weight_dim - 1))


def _bias_or_zeros(bias: Optional[Tensor], n: int, like: Tensor) -> Tensor:
    return _f64(bias) if bias is not None else torch.zeros(n, dtype=F64, device=like.device)


def _bias_dtype(bias: Optional[Tensor], weight: Tensor) -> torch.dtype:
    return bias.dtype if bias is not None else weight.dtype


def fold_after(weight: Tensor, bias: Optional[Tensor], scale: Tensor, shift: Tensor) -> Tuple[Tensor, Tensor]:
    """A conv (any rank, any groups) or a linear followed by the affine map:
    the output channels are weight dim 0."""
    w = _times(weight.detach(), _per_out(scale, weight.dim()))
    b = _bias_or_zeros(bias, weight.shape[0], weight).mul_(scale).add_(shift)
    return w, b.to(_bias_dtype(bias, weight))


def fold_after_transposed(
    weight: Tensor, bias: Optional[Tensor], scale: Tensor, shift: Tensor, groups: int
) -> Tuple[Tensor, Tensor]:
    """A transposed conv followed by the affine map. Its weight is
    ``(in, out / groups, *kernel)``: output channel ``g * out/groups + j`` is
    column ``j`` of the rows of group ``g``."""
    cin, cout_g = weight.shape[0], weight.shape[1]
    k = weight.dim() - 2
    # the scale each (input row, column) sees: its group's block of ``scale``
    per_row = scale.reshape(groups, 1, cout_g).expand(groups, cin // groups, cout_g).reshape(cin, cout_g)
    w = _times(weight.detach(), per_row.reshape([cin, cout_g] + [1] * k))
    b = _bias_or_zeros(bias, groups * cout_g, weight).mul_(scale).add_(shift)
    return w, b.to(_bias_dtype(bias, weight))


def fold_before(
    weight: Tensor, bias: Optional[Tensor], scale: Tensor, shift: Tensor, groups: int = 1
) -> Tuple[Tensor, Tensor]:
    """The affine map followed by a linear (``groups=1``) or by a conv with
    no padding (weight ``(out, in / groups, *kernel)``). Exact for a conv only
    when no window reaches past the input's border: the caller checks that."""
    cout, cin_g = weight.shape[0], weight.shape[1]
    k = weight.dim() - 2
    # the input-channel scale and shift seen by each output row: (out, in/groups)
    per_group = cout // groups
    s = scale.reshape(groups, cin_g).repeat_interleave(per_group, dim=0)
    t = shift.reshape(groups, cin_g).repeat_interleave(per_group, dim=0)
    w = weight.detach()
    kernel_sums = torch.sum(w.reshape(cout, cin_g, -1), dim=-1, dtype=F64)  # (out, in/groups)
    b = _bias_or_zeros(bias, cout, weight).add_((kernel_sums * t).sum(-1))
    return _times(w, s.reshape([cout, cin_g] + [1] * k)), b.to(_bias_dtype(bias, weight))


def bias_into_running_mean(bias: Tensor, running_mean: Tensor) -> Tensor:
    """The running mean of a BatchNorm whose producer's bias is removed:
    ``running_mean - bias`` (computed in float64, in the running mean's dtype)."""
    return (_f64(running_mean) - _f64(bias)).to(running_mean.dtype)
