"""``--format sarif``: SARIF 2.1.0 for code scanning (GitHub, GitLab, IDE
viewers), valid against the OASIS schema.

One run. ``tool.driver.rules`` describes every registered rule, whether or
not it ran, so that ``ruleIndex`` is stable. Result URIs are relative to the
repo root (``uriBaseId: SRCROOT``, whose absolute ``file:`` URI is in
``originalUriBaseIds``); a file outside the repo keeps an absolute URI. A
finding with edits carries them as a ``fixes`` entry. Notes, configuration
warnings and internal errors are notifications of ``invocations[0]``.

Columns are what the analyses report: 1-based, counted in characters for
ASCII lines (``columnKind: unicodeCodePoints``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

from bnlint import __version__
from bnlint.engine.registry import all_rules
from bnlint.engine.rule import Rule
from bnlint.findings import Finding, Run, Severity
from bnlint.report._common import below, ordered, repo_root
from bnlint.report.json import summary

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
BASE = "SRCROOT"


def report(run: Run, out: TextIO, options) -> None:
    root = repo_root()
    rules = all_rules()
    index = {r.code: i for i, r in enumerate(rules)}
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "bnlint", "version": __version__, "rules": [_rule(r) for r in rules]}},
            "invocations": [_invocation(run, root)],
            "originalUriBaseIds": {BASE: {"uri": _dir_uri(root)}},
            "columnKind": "unicodeCodePoints",
            "results": [_result(f, index, root) for f in ordered(run)],
            "properties": {"summary": summary(run)},
        }],
    }
    out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


# -- rules --------------------------------------------------------------------


def _rule(r: type[Rule]) -> dict:
    doc = r.docs()
    return {
        "id": r.code,
        "name": r.name,
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": _first_paragraph(doc, "What it does") or r.summary},
        "help": {"text": doc or r.summary, "markdown": _markdown(doc) or r.summary},
        "defaultConfiguration": {"level": LEVEL[r.severity]},
        "properties": {
            "fix_safety": r.fix_safety.value if r.fix_safety else None,
            "needs": list(r.needs),
            "analyses": [a for a, on in (("model", r.analyzes_models()), ("source", r.analyzes_source())) if on],
            "opt_in": r.opt_in,
        },
    }


def _inline(text: str) -> str:
    """reST ``literal`` -> Markdown `literal`."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _first_paragraph(doc: str, section: str) -> str | None:
    """The first paragraph of a docstring section (a header line at column 0,
    its body indented), joined into one line."""
    lines = doc.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.strip() == section and not l[:1].isspace())
    except StopIteration:
        return None
    para = []
    for line in lines[start + 1:]:
        if line.strip() and not line[:1].isspace():  # the next section
            break
        if not line.strip():
            if para:
                break
            continue
        para.append(line.strip())
    return _inline(" ".join(para)) or None


def _markdown(doc: str) -> str:
    """The rule docstring as Markdown: section headers become headings, body
    text is dedented, ``::`` literal blocks become fenced Python."""
    lines, out, i = doc.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        text, indent = line.strip(), len(line) - len(line.lstrip())
        i += 1
        if text and indent == 0:
            out += ["", f"### {text}", ""] if out else [f"### {text}", ""]
        elif text.endswith("::"):
            if text[:-2].strip():
                out.append(_inline(text[:-2].rstrip() + ":"))
            block = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            code = "\n".join(block).strip("\n")
            width = min((len(l) - len(l.lstrip()) for l in code.splitlines() if l.strip()), default=0)
            out += ["", "```python", *(l[width:] for l in code.splitlines()), "```", ""]
        else:
            out.append(_inline(line[4:] if line.startswith("    ") else text))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


# -- results ------------------------------------------------------------------


def _dir_uri(root: Path) -> str:
    uri = root.as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _artifact(path: str, root: Path) -> dict:
    rel = below(path, root)
    if rel is None:
        return {"uri": Path(path).resolve().as_uri()}
    return {"uri": quote(rel), "uriBaseId": BASE}


def _physical(path: str, root: Path, line: int | None, col: int | None = None) -> dict:
    physical: dict = {"artifactLocation": _artifact(path, root)}
    if line:
        physical["region"] = {"startLine": line, **({"startColumn": col} if col else {})}
    return physical


def _logical(f: Finding) -> list[dict]:
    if f.module:
        name = f"{f.model}.{f.module}" if f.model else f.module
        return [{"name": f.module, "fullyQualifiedName": name, "kind": "member"}]
    if f.model:
        return [{"name": f.model, "fullyQualifiedName": f.model, "kind": "object"}]
    return []


def _result(f: Finding, index: dict[str, int], root: Path) -> dict:
    result: dict = {"ruleId": f.code}
    if f.code in index:
        result["ruleIndex"] = index[f.code]
    result["level"] = LEVEL[f.severity]
    result["message"] = {"text": f.message}
    if f.path:
        location: dict = {"physicalLocation": _physical(f.path, root, f.line, f.col or 1)}
        if _logical(f):
            location["logicalLocations"] = _logical(f)
        result["locations"] = [location]
    related = []
    if f.call_site:
        related.append({
            "physicalLocation": _physical(f.call_site.path, root, f.call_site.line),  # a line, no column
            "message": {"text": f"{f.module} is called here" if f.module else "called here"},
        })
    if f.built_at:
        related.append({
            "physicalLocation": _physical(f.built_at.path, root, f.built_at.line),
            "message": {"text": f"'{f.module}' is built here, in the library" if f.module else "built here, in the library"},
        })
    if related:
        result["relatedLocations"] = [{"id": i, **r} for i, r in enumerate(related)]
    if f.edits:
        result["fixes"] = [_fix(f, root)]
    props = {k: v for k, v in (("model", f.model), ("module", f.module), ("hint", f.hint)) if v}
    result["properties"] = {**props, "analysis": f.source}
    return result


def _fix(f: Finding, root: Path) -> dict:
    safety = f.fix_safety.value if f.fix_safety else "manual"
    changes: dict[str, list[dict]] = {}
    for e in f.edits:
        changes.setdefault(e.path, []).append({
            "deletedRegion": {"startLine": e.line, "startColumn": e.col, "endLine": e.end_line, "endColumn": e.end_col},
            "insertedContent": {"text": e.content},
        })
    return {
        "description": {"text": f"{safety.capitalize()} fix: {f.fix or 'see the rule'}"},
        "artifactChanges": [
            {"artifactLocation": _artifact(path, root), "replacements": reps} for path, reps in changes.items()
        ],
        "properties": {"fix_safety": safety},
    }


# -- the invocation -----------------------------------------------------------


def _invocation(run: Run, root: Path) -> dict:
    notes = [{"level": "note", "message": {"text": n}} for n in run.notes]
    notes += [
        {
            "level": "note",
            "message": {"text": f"read as source only, not imported: {why}"},
            "locations": [{"physicalLocation": {"artifactLocation": _artifact(path, root)}}],
        }
        for path, why in run.skipped
    ]
    notes += [{"level": "warning", "message": {"text": w}} for w in (*run.warnings, *run.unused_ignores)]
    notes += [{"level": "error", "message": {"text": f"internal error: {e}"}} for e in run.internal_errors]
    invocation: dict = {"executionSuccessful": not run.internal_errors}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return invocation
