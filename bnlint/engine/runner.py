"""Run rules on an analysis' context, one rule at a time: a rule that crashes
is reported as an internal error naming it, and the other rules' findings
stand. Torch-free (rules import what they need)."""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Iterable

from bnlint.engine.rule import Rule
from bnlint.findings import Finding


@dataclass(frozen=True)
class RuleError:
    """A rule crashed on one model or file: a bnlint bug."""

    code: str
    where: str  # "model 'Net'" or "path/to/file.py"
    error: str  # "KeyError: 'x'"

    def __str__(self) -> str:
        return f"rule {self.code} crashed on {self.where}: {self.error}"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _run(rules: Iterable[type[Rule]], method: str, ctx: Any, where: str) -> tuple[list[Finding], list[RuleError]]:
    findings: list[Finding] = []
    errors: list[RuleError] = []
    for cls in rules:
        try:
            findings.extend(getattr(cls(), method)(ctx))
        except RecursionError:
            raise  # the file is too deep for the analysis: the caller says so once
        except Exception as exc:  # noqa: BLE001 -- one broken rule must not hide the others
            if os.environ.get("BNLINT_DEBUG"):
                traceback.print_exc()
            errors.append(RuleError(cls.code, where, _describe(exc)))
    return findings, errors


def run_model_rules(ctx: Any, rules: Iterable[type[Rule]]) -> tuple[list[Finding], list[RuleError]]:
    """The model rules among ``rules`` on a :class:`~bnlint.model.context.ModelContext`."""
    return _run([r for r in rules if r.analyzes_models()], "check_model", ctx, f"model {ctx.name!r}")


# Call chains in a script are followed recursively, a few frames a call:
# leave room for a long chain of helpers (a RecursionError is still reported,
# as "nests too deeply").
_SOURCE_RECURSION_LIMIT = 20_000


def run_source_rules(ctx: Any, rules: Iterable[type[Rule]], where: str) -> tuple[list[Finding], list[RuleError]]:
    """The source rules among ``rules`` on a :class:`~bnlint.source.SourceContext`."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _SOURCE_RECURSION_LIMIT))
    try:
        return _run([r for r in rules if r.analyzes_source()], "check_source", ctx, where)
    finally:
        sys.setrecursionlimit(limit)
