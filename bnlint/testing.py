"""Assertions for a user's own test suite.

    from bnlint.testing import assert_clean

    def test_model_has_no_batchnorm_pitfalls():
        assert_clean(MyNet(), example_inputs=(8, 3, 32, 32))

Importing this module imports no torch."""

from __future__ import annotations

from typing import Any, Iterable

from bnlint.findings import Finding, Severity, display_path


def format_table(findings: list[Finding]) -> str:
    """The findings as an aligned plain-text table: where, code, severity,
    module, message."""
    rows = [
        (
            f"{display_path(f.path)}:{f.line}" if f.path and f.line else "-",
            f.code, f.severity.value, f.module if f.module not in (None, "") else "-", f.message,
        )
        for f in findings
    ]
    header = ("where", "code", "severity", "module", "message")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(r):
        return "  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4]

    return "\n".join([line(header), line(tuple("-" * w for w in widths) + ("-" * 7,)), *map(line, rows)])


def assert_clean(
    model: Any,
    example_inputs: Any = None,
    *,
    select: Iterable[str] | str | None = None,
    ignore: Iterable[str] | str | None = None,
    fail_on: Severity | str = Severity.WARNING,
    name: str | None = None,
) -> None:
    """Fail (AssertionError) when bnlint finds anything at or above
    ``fail_on`` (default ``warning``) in ``model``; the message is a table of
    the findings."""
    from bnlint import check

    found = check(model, example_inputs, select=select, ignore=ignore, fail_on=fail_on, name=name)
    if found:
        label = name or type(model).__name__
        plural = "s" if len(found) != 1 else ""
        raise AssertionError(
            f"bnlint found {len(found)} problem{plural} in {label}:\n{format_table(found)}"
        )


__all__ = ["assert_clean", "format_table"]
