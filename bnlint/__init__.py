"""bnlint: find (and fix) BatchNorm and Dropout pitfalls in PyTorch models and scripts.

Importing this package does not import torch.

    import bnlint
    findings = bnlint.check(model, example_inputs=(8, 3, 224, 224))

The whole API is :mod:`bnlint.api` (files, scripts, live models, fixes);
:func:`bnlint.testing.assert_clean` is the assertion for test suites, and a
pytest plugin (``bnlint.pytest_plugin``) comes with the package."""

from __future__ import annotations

from typing import Any, Iterable

from bnlint.findings import Finding, FixSafety, Location, Severity

__version__ = "0.1.0"


def check(
    model: Any,
    example_inputs: Any = None,
    *,
    select: Iterable[str] | str | None = None,
    ignore: Iterable[str] | str | None = None,
    fail_on: Severity | str = Severity.INFO,
    name: str | None = None,
) -> list[Finding]:
    """The model rules on a live ``nn.Module``: the findings at or above
    ``fail_on`` (default: all), located at the lines that constructed each
    layer. ``example_inputs`` -- a tensor, a shape, or a tuple of them --
    enables the batch-size rules. See :func:`bnlint.api.check_model`."""
    from bnlint.api import check_model

    threshold = fail_on if isinstance(fail_on, Severity) else Severity.parse(fail_on)
    found = check_model(model, example_inputs, name=name, select=select, ignore=ignore)
    return [f for f in found if f.severity.rank >= threshold.rank]


__all__ = ["Finding", "FixSafety", "Location", "Severity", "__version__", "check"]
