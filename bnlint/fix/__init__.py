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
fixes; :mod:`~bnlint.fix.source` edits source files with libcst. Importing
this package imports no torch: the names below load their modules (and torch)
on first use, so ``bnlint.fix.source`` stays torch-free."""

import importlib
from typing import Any

_EXPORTS = {
    "SWAP_TARGETS": "fixes", "fold_batchnorm": "fixes", "freeze_batchnorm": "fixes",
    "remove_redundant_bias": "fixes", "swap_batchnorm": "fixes",
    "FrozenBatchNorm": "modules",
    "Change": "result", "FixResult": "result", "Left": "result",
    "DEFAULT_TOLERANCE": "verify", "FixRefused": "verify",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # PEP 562
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"bnlint.fix.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
