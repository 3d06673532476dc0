"""What a model fix returns: the new model, what changed, what was left and why,
and the measured error of a safe fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch.nn as nn


@dataclass(frozen=True)
class Change:
    """One edit: ``kind`` (``fold-after``: a BN folded into the layer before it;
    ``fold-before``: into the layer after it; ``remove-bias``; ``freeze``;
    ``swap``), the modules it touched by dotted path in dataflow order, and a
    sentence for people."""

    kind: str
    modules: Tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class Left:
    """A module the fix did not change, and why."""

    module: str
    reason: str


@dataclass
class FixResult:
    """``model`` is a new model; the input model is untouched and shares every
    tensor the fix did not compute (nothing was copied: ``copy.deepcopy`` the
    result before training it if the original must stay as it is).
    ``max_rel_error`` is the measured ``max |fixed - ref| / max |ref|`` on the
    example inputs for a safe fix (None for an unsafe one, which changes the
    function on purpose), at most ``tolerance``."""

    model: nn.Module
    changed: List[Change] = field(default_factory=list)
    left: List[Left] = field(default_factory=list)
    max_rel_error: Optional[float] = None
    tolerance: Optional[float] = None

    @property
    def folded(self) -> List[Change]:
        """The changes (for :func:`~bnlint.fix.fold_batchnorm`: the folds)."""
        return self.changed

    def summary(self) -> str:
        """The changes and the modules left, one per line."""
        lines = [f"{c.kind}: {c.detail}" for c in self.changed]
        lines += [f"left {l.module}: {l.reason}" for l in self.left]
        if self.max_rel_error is not None:
            lines.append(f"max relative error {self.max_rel_error:.2e} (tolerance {self.tolerance:g})")
        return "\n".join(lines)
