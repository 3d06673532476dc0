"""Model fixes: fold BatchNorm for inference, remove biases a BatchNorm
cancels, freeze frozen BatchNorms, swap BatchNorm for another norm.

    from bnlint.fix import fold_batchnorm, swap_batchnorm, remove_redundant_bias, freeze_batchnorm
    result = fold_batchnorm(model.eval(), example_inputs=(x,))  # a verified new model
    result.model; result.folded; result.left; result.max_rel_error
    gn = swap_batchnorm(model, "groupnorm").model

The input model is never modified or copied: the result shares its tensors.
Three layers, after ``torch.nn.utils.fusion``: :mod:`~bnlint.fix.maths`
(tensors), :mod:`~bnlint.fix.modules` (one module pair), :mod:`~bnlint.fix.graph`
(the pass over the FX graph); :mod:`~bnlint.fix.verify` proves the safe
fixes. Importing this package imports torch (``bnlint`` and ``bnlint.api``
do not import it)."""

from bnlint.fix.fixes import SWAP_TARGETS, fold_batchnorm, freeze_batchnorm, remove_redundant_bias, swap_batchnorm
from bnlint.fix.modules import FrozenBatchNorm
from bnlint.fix.result import Change, FixResult, Left
from bnlint.fix.verify import DEFAULT_TOLERANCE, FixRefused

__all__ = [
    "Change", "DEFAULT_TOLERANCE", "FixRefused", "FixResult", "FrozenBatchNorm", "Left", "SWAP_TARGETS",
    "fold_batchnorm", "freeze_batchnorm", "remove_redundant_bias", "swap_batchnorm",
]
