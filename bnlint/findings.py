"""Findings and runs: what the analyses report, as plain data (no torch).

Findings cross the process boundary as JSON. Their paths are the real paths
of the files; reporters decide how to show them (:func:`display_path`)."""

from __future__ import annotations

import enum
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any


class UsageError(Exception):
    """Bad input from the user (a missing path, an unknown selector, a model
    target that does not exist): one line for the user, exit 2."""


def display_path(path: str, start: str | None = None) -> str:
    """``path`` relative to ``start`` (default: the working directory, looked
    up now, never cached) when it lies below it; otherwise as it is."""
    try:
        rel = os.path.relpath(path, start)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def _natural(dotted: str) -> tuple:
    """``features.4`` sorts before ``features.11``."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in dotted.split("."))


class Severity(str, enum.Enum):
    """How sure and how bad: ``error`` crashes or is certainly wrong, ``warning``
    is very likely wrong, ``info`` is worth knowing."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls(text.lower())
        except ValueError:
            raise ValueError(
                f"unknown severity {text!r} (choose from info, warning, error)"
            ) from None


class FixSafety(str, enum.Enum):
    """ruff's notion of fix safety: a *safe* fix keeps the function the code
    computes (bnlint checks that numerically); an *unsafe* one changes it."""

    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Location:
    path: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Edit:
    """One text replacement of a source fix: the span from (``line``, ``col``)
    to (``end_line``, ``end_col``) -- lines and columns 1-based, the end
    exclusive -- becomes ``content``. SARIF ``fixes`` and editors use these."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    content: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Finding:
    """One reported problem.

    ``path``/``line``/``col`` is where the user should look: for model rules the
    line that constructed the offending layer (``nn.Conv2d(...)``), for source
    rules the offending call. ``call_site`` is the forward line that uses the
    layer, where known. ``model`` names the analyzed model, ``module`` the
    dotted module path inside it (``features.0``). ``built_at`` is where a
    library built the layer (``torchvision/models/resnet.py:62``) when the
    reported line is the user's line that called into it.
    """

    code: str
    name: str
    severity: Severity
    message: str
    path: str | None = None
    line: int | None = None
    col: int | None = None
    model: str | None = None
    module: str | None = None
    fix: str | None = None
    fix_safety: FixSafety | None = None
    hint: str | None = None
    call_site: Location | None = None
    built_at: Location | None = None
    source: str = "model"  # which analysis found it: "model" or "source"
    # The source fix, where one can be placed exactly (filled in by the fixer's
    # planning, bnlint.fix.source); empty when the finding has none.
    edits: tuple[Edit, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def location(self) -> Location | None:
        if self.path is None or self.line is None:
            return None
        return Location(self.path, self.line, self.col or 1)

    def with_(self, **changes: Any) -> "Finding":
        return replace(self, **changes)

    def sort_key(self) -> tuple:
        return (
            self.path or "",
            self.line or 0,
            self.col or 0,
            self.code,
            self.model or "",
            _natural(self.module or ""),
            self.message,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["fix_safety"] = self.fix_safety.value if self.fix_safety else None
        for key in ("call_site", "built_at"):
            loc = getattr(self, key)
            d[key] = {"path": loc.path, "line": loc.line} if loc else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        d = dict(d)
        d["severity"] = Severity(d["severity"])
        if d.get("fix_safety"):
            d["fix_safety"] = FixSafety(d["fix_safety"])
        for key in ("call_site", "built_at"):
            loc = d.get(key)
            if loc:
                d[key] = Location(loc["path"], loc["line"])
        d["edits"] = tuple(Edit(**e) for e in d.get("edits", ()))
        return cls(**d)


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    usage_errors: list[str] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    no_inputs: list[str] = field(default_factory=list)  # models analyzed without example inputs

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "findings": [f.to_dict() for f in self.findings],
            "models": self.models,
            "notes": self.notes,
            "usage_errors": self.usage_errors,
            "internal_errors": self.internal_errors,
            "no_inputs": self.no_inputs,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "FileResult":
        return cls(
            d["path"],
            [Finding.from_dict(f) for f in d["findings"]],
            d["models"],
            d["notes"],
            d["usage_errors"],
            d["internal_errors"],
            d.get("no_inputs", []),
        )


@dataclass
class Run:
    """Everything one check produced: the one result the API returns and
    every reporter renders."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    models: int = 0
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): read as source only
    static: bool = False  # every file read as source only, nothing imported
    internal_errors: list[str] = field(default_factory=list)  # bnlint bugs: exit 2
    suppressed: int = 0  # findings removed by suppression comments
    # About the user's configuration, not their models: an unknown code in a
    # suppression, an unused suppression (--warn-unused-ignores fails on those).
    warnings: list[str] = field(default_factory=list)
    unused_ignores: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.internal_errors)

    def failing(self, threshold: Severity) -> list[Finding]:
        """The findings at or above ``threshold``."""
        return [f for f in self.findings if f.severity.rank >= threshold.rank]
