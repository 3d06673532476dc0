"""From the raw findings of a run to the reported ones: keep the selected
codes (the analysis' own failures, BN001, always), drop duplicates and source
findings that repeat a model finding, honour inline suppression comments,
sort by location. Torch-free.

Suppression comments are read from the files as they are when the run ends,
once per file per run (no cache outlives a run: a long-lived process that
edits a file sees the new comments)."""

from __future__ import annotations

import re
from typing import Iterable

from bnlint.findings import Finding

# `# bnlint: ignore`, `# bnlint: ignore[BN101]`, `# bnlint: ignore[BN101, BN2]`
_LINE_RE = re.compile(r"#\s*bnlint:\s*ignore(?!-)(?:\[(?P<codes>[^\]]*)\])?", re.I)
# `# bnlint: ignore-file` or `# bnlint: ignore-file[BN101]` anywhere in the file
_FILE_RE = re.compile(r"#\s*bnlint:\s*ignore-file(?:\[(?P<codes>[^\]]*)\])?", re.I)

ALL = frozenset({""})  # a prefix every code starts with
# Reported whatever is selected: a model or file bnlint could not analyze must
# never pass silently (only an explicit --ignore drops it).
ALWAYS_REPORTED = frozenset({"BN001"})


def _codes(group: str | None) -> frozenset[str]:
    if group is None:
        return ALL
    return frozenset(c.strip().upper() for c in group.split(",") if c.strip()) or ALL


class Suppressions:
    """Inline suppression comments of one file."""

    def __init__(self, text: str):
        self.by_line: dict[int, frozenset[str]] = {}
        self.file: frozenset[str] = frozenset()
        for i, line in enumerate(text.splitlines(), start=1):
            if "bnlint" not in line:
                continue
            for m in _FILE_RE.finditer(line):
                self.file |= _codes(m.group("codes"))
            for m in _LINE_RE.finditer(line):
                self.by_line[i] = self.by_line.get(i, frozenset()) | _codes(m.group("codes"))

    def suppresses(self, code: str, line: int | None) -> bool:
        prefixes = self.file | (self.by_line.get(line, frozenset()) if line else frozenset())
        return any(code.startswith(p) for p in prefixes)


class SuppressionReader:
    """Reads each file's suppressions once, for one run."""

    def __init__(self) -> None:
        self._files: dict[str, Suppressions] = {}

    def __call__(self, path: str) -> Suppressions:
        if path not in self._files:
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    self._files[path] = Suppressions(fh.read())
            except OSError:
                self._files[path] = Suppressions("")
        return self._files[path]

    def is_suppressed(self, f: Finding) -> bool:
        if f.path is None:
            return False
        s = self(f.path)
        if s.suppresses(f.code, f.line):
            return True
        cs = f.call_site
        return cs is not None and cs.path == f.path and s.suppresses(f.code, cs.line)


def finalize(
    findings: Iterable[Finding],
    selected: Iterable[str] | None = None,
    *,
    ignored: Iterable[str] = (),
    honour_suppressions: bool = True,
) -> list[Finding]:
    """Keep the selected codes (and BN001 unless ``ignored`` names it), drop
    exact duplicates and source findings that repeat a model finding (same
    code, same file and line), apply inline suppressions, and sort."""
    keep = None
    if selected is not None:
        ignored = [i.upper() for i in ignored if i.strip()]
        always = {c for c in ALWAYS_REPORTED if not any(c.startswith(i) for i in ignored)}
        keep = set(selected) | always
    unique: dict[tuple, Finding] = {}
    for f in findings:
        if keep is not None and f.code not in keep:
            continue
        key = (f.code, f.path, f.line, f.col, f.model, f.module, f.message)
        unique.setdefault(key, f)
    found = list(unique.values())

    model_sites = {(f.code, f.path, f.line) for f in found if f.source == "model"}
    model_sites |= {
        (f.code, f.call_site.path, f.call_site.line)
        for f in found
        if f.source == "model" and f.call_site
    }
    found = [
        f
        for f in found
        if not (f.source == "source" and (f.code, f.path, f.line) in model_sites)
    ]
    if honour_suppressions:
        reader = SuppressionReader()
        found = [f for f in found if not reader.is_suppressed(f)]
    return sorted(found, key=Finding.sort_key)
