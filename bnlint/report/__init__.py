"""Renderers: findings in, text out. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass, field

from bnlint.findings import Finding

FORMATS = ("text", "json")


@dataclass
class Run:
    """Everything one `bnlint check` produced, for the renderers."""

    findings: list[Finding]
    files: int = 0
    models: int = 0
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): read as source only
    static: bool = False  # --static: every file read as source only, nothing imported
    failed: int = 0  # analyses that crashed (bnlint bugs, reported as internal errors)


def render(run: Run, fmt: str) -> str:
    if fmt == "json":
        from bnlint.report.json import render_json

        return render_json(run)
    raise ValueError(f"unknown format {fmt!r}")
