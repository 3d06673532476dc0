"""bnlint: find (and fix) BatchNorm and Dropout pitfalls in PyTorch models and scripts.

Importing this package does not import torch. The Python API for live models
is :func:`bnlint.analyze.check_model`."""

from bnlint.findings import Finding, FixSafety, Location, Severity

__version__ = "0.1.0"

__all__ = ["Finding", "FixSafety", "Location", "Severity", "__version__"]
