"""``--format json``: one object with a schema version, the findings (stable
keys), the notes, warnings and skipped files, and the summary. Paths are
relative to the working directory where they lie below it.

Schema version 1::

    {"schema_version": 1, "tool": {"name": "bnlint", "version": "..."},
     "findings": [{"code", "name", "severity", "message", "path", "line",
                   "col", "model", "module", "fix", "fix_safety", "hint",
                   "call_site", "built_at", "source", "edits", "extra"}, ...],
     "notes": [...], "warnings": [...], "internal_errors": [...],
     "skipped": [{"path", "reason"}, ...],
     "summary": {"files", "models", "static", "findings", "by_severity",
                 "fixable", "suppressed", "internal_errors"}}
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TextIO

from bnlint import __version__
from bnlint.findings import Finding, Run, Severity, display_path

SCHEMA_VERSION = 1


def finding_dict(f: Finding) -> dict:
    d = f.to_dict()
    if d["path"]:
        d["path"] = display_path(d["path"])
    for key in ("call_site", "built_at"):
        if d[key]:
            d[key]["path"] = display_path(d[key]["path"])
    for e in d["edits"]:
        e["path"] = display_path(e["path"])
    return d


def summary(run: Run) -> dict:
    counts = Counter(f.severity.value for f in run.findings)
    return {
        "files": run.files,
        "models": run.models,
        "static": run.static,
        "findings": len(run.findings),
        "by_severity": {s.value: counts.get(s.value, 0) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)},
        "fixable": sum(1 for f in run.findings if f.fix),
        "suppressed": run.suppressed,
        "internal_errors": len(run.internal_errors),
    }


def report(run: Run, out: TextIO, options) -> None:
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "bnlint", "version": __version__},
        "findings": [finding_dict(f) for f in run.findings],
        "notes": run.notes,
        "warnings": [*run.warnings, *run.unused_ignores],
        "internal_errors": run.internal_errors,
        "skipped": [{"path": display_path(p), "reason": why} for p, why in run.skipped],
        "summary": summary(run),
    }
    out.write(json.dumps(doc, indent=2) + "\n")
