"""From the raw findings of a run to the reported ones: keep the selected
codes (the analysis' own failures, BN001, always), drop duplicates and source
findings that repeat a model finding, honour suppression comments, sort by
location. Torch-free.

Suppression comments, as linters do it:

* ``# bnlint: ignore[BN101]`` (or ``[BN101, BN2]``: codes or prefixes; bare
  ``# bnlint: ignore`` means every code) and flake8's ``# noqa: BN101`` on
  any line of the reported statement -- a multi-line construction call
  counts from its first to its last line;
* ``# bnlint: ignore-file[BN2]`` anywhere in a file, for the whole file.

A bare ``# noqa`` is flake8's and is not read: name a BN code. Comments are
read from the files as they are when the run ends, once per file per run (no
cache outlives a run: a long-lived process that edits a file sees the new
comments)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Iterable

from bnlint.findings import Finding

# `# bnlint: ignore`, `# bnlint: ignore[BN101]`, `# bnlint: ignore[BN101, BN2]`
_LINE_RE = re.compile(r"#\s*bnlint:\s*ignore(?!-)(?:\[(?P<codes>[^\]]*)\])?", re.I)
# `# bnlint: ignore-file` or `# bnlint: ignore-file[BN101]` anywhere in the file
_FILE_RE = re.compile(r"#\s*bnlint:\s*ignore-file(?:\[(?P<codes>[^\]]*)\])?", re.I)
# flake8: `# noqa: BN101` / `# noqa:BN101,BN2 E501` (codes after the colon)
_NOQA_RE = re.compile(r"#\s*noqa\s*:\s*(?P<codes>[A-Z]+[0-9]*(?:[\s,]+[A-Z]+[0-9]*)*)", re.I)
_CODE = re.compile(r"^BN\d{0,3}$")

ALL = ""  # a prefix every code starts with
# Reported whatever is selected: a model or file bnlint could not analyze must
# never pass silently (only an explicit --ignore drops it).
ALWAYS_REPORTED = frozenset({"BN001"})


@dataclass
class Comment:
    """One suppression comment: its line, its codes ("" = all) and which of
    them suppressed something in this run."""

    line: int
    text: str
    codes: tuple[str, ...]
    whole_file: bool = False
    used: set[str] = field(default_factory=set)


def _codes(group: str | None) -> tuple[str, ...]:
    if group is None:
        return (ALL,)
    return tuple(c.strip().upper() for c in re.split(r"[\s,]+", group) if c.strip()) or (ALL,)


def _comments(text: str) -> Iterable[tuple[int, str]]:
    """(line, text) of every comment, from the tokenizer (a ``#`` in a string
    is not a comment); a file that does not tokenize falls back to lines."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and ("bnlint" in tok.string or "noqa" in tok.string):
                yield tok.start[0], tok.string
    except (tokenize.TokenError, SyntaxError, IndentationError):
        for i, line in enumerate(text.splitlines(), 1):
            if "#" in line and ("bnlint" in line or "noqa" in line):
                yield i, line[line.index("#"):]


class FileSuppressions:
    """The suppression comments of one file, and the statement spans they
    cover."""

    def __init__(self, text: str):
        self.comments: list[Comment] = []
        self.by_line: dict[int, list[Comment]] = {}
        for line, comment in _comments(text):
            for m in _FILE_RE.finditer(comment):
                self.comments.append(Comment(line, m.group(0), _codes(m.group("codes")), whole_file=True))
            for m in _LINE_RE.finditer(comment):
                self._add(Comment(line, m.group(0), _codes(m.group("codes"))))
            for m in _NOQA_RE.finditer(comment):
                codes = tuple(c for c in _codes(m.group("codes")) if c.startswith("BN"))
                if codes:  # `# noqa: E501` is flake8's business
                    self._add(Comment(line, m.group(0), codes))
        self._text = text
        self._spans: dict[tuple[int, int | None], tuple[int, int]] | None = None

    def _add(self, c: Comment) -> None:
        self.comments.append(c)
        self.by_line.setdefault(c.line, []).append(c)

    def span(self, line: int, col: int | None) -> tuple[int, int]:
        """The lines of the reported statement: the call that starts at
        (line, col) -- a construction call or a source rule's call -- else the
        innermost simple statement holding ``line``; else the line alone."""
        if self._spans is None:
            self._spans = {}
            try:
                tree = ast.parse(self._text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                tree = None
            self._calls: dict[tuple[int, int], tuple[int, int]] = {}
            self._stmts: list[tuple[int, int]] = []
            for node in ast.walk(tree) if tree is not None else ():
                if isinstance(node, ast.Call):
                    key = (node.lineno, node.col_offset + 1)
                    span = (node.lineno, node.end_lineno or node.lineno)
                    old = self._calls.get(key)
                    self._calls[key] = span if old is None or span[1] > old[1] else old
                elif isinstance(node, ast.stmt) and not hasattr(node, "body"):
                    self._stmts.append((node.lineno, node.end_lineno or node.lineno))
        key = (line, col)
        if key not in self._spans:
            span = self._calls.get((line, col)) if col is not None else None
            if span is None:
                holding = [s for s in self._stmts if s[0] <= line <= s[1]]
                span = min(holding, key=lambda s: s[1] - s[0]) if holding else (line, line)
            self._spans[key] = span
        return self._spans[key]

    def match(self, code: str, line: int | None, col: int | None) -> Comment | None:
        """The comment that suppresses ``code`` at (line, col), if any."""
        for c in self.comments:
            if c.whole_file and any(code.startswith(p) for p in c.codes):
                return c
        if not line or not self.by_line:
            return None
        first, last = self.span(line, col)
        for ln in range(first, last + 1):
            for c in self.by_line.get(ln, ()):
                if any(code.startswith(p) for p in c.codes):
                    return c
        return None


class SuppressionReader:
    """Reads each file's suppressions once, for one run, and remembers which
    comments were used."""

    def __init__(self) -> None:
        self.files: dict[str, FileSuppressions] = {}

    def __call__(self, path: str) -> FileSuppressions:
        if path not in self.files:
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    self.files[path] = FileSuppressions(fh.read())
            except OSError:
                self.files[path] = FileSuppressions("")
        return self.files[path]

    def suppressing(self, f: Finding) -> Comment | None:
        if f.path is None:
            return None
        s = self(f.path)
        hit = s.match(f.code, f.line, f.col)
        cs = f.call_site
        if hit is None and cs is not None and cs.path == f.path:
            hit = s.match(f.code, cs.line, None)
        if hit is not None:
            hit.used.add(f.code)
        return hit


@dataclass
class Outcome:
    findings: list[Finding]
    suppressed: list[Finding] = field(default_factory=list)
    reader: SuppressionReader | None = None

    def comments(self) -> Iterable[tuple[str, Comment]]:
        for path, fs in (self.reader.files.items() if self.reader else ()):
            for c in fs.comments:
                yield path, c


def finalize(
    findings: Iterable[Finding],
    selected: Iterable[str] | None = None,
    *,
    ignored: Iterable[str] = (),
    honour_suppressions: bool = True,
    extra_ignores=None,
) -> list[Finding]:
    """:func:`finalize_outcome`, the reported findings only."""
    return finalize_outcome(
        findings, selected, ignored=ignored, honour_suppressions=honour_suppressions,
        extra_ignores=extra_ignores,
    ).findings


def finalize_outcome(
    findings: Iterable[Finding],
    selected: Iterable[str] | None = None,
    *,
    ignored: Iterable[str] = (),
    honour_suppressions: bool = True,
    extra_ignores=None,
    reader: SuppressionReader | None = None,
) -> Outcome:
    """Keep the selected codes (and BN001 unless ``ignored`` names it), drop
    exact duplicates and source findings that repeat a model finding (same
    code, same file and line), drop what ``extra_ignores(finding)`` (the
    config's per-file and per-module ignores) names, apply suppression
    comments, and sort."""
    keep = None
    if selected is not None:
        ignored = [i.upper() for i in ignored if i.strip()]
        always = {c for c in ALWAYS_REPORTED if not any(c.startswith(i) for i in ignored)}
        keep = set(selected) | always
    unique: dict[tuple, Finding] = {}
    for f in findings:
        if keep is not None and f.code not in keep:
            continue
        if extra_ignores is not None and any(f.code.startswith(c) for c in extra_ignores(f)):
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
    outcome = Outcome(found)
    if honour_suppressions:
        reader = reader or SuppressionReader()
        outcome.reader = reader
        outcome.findings = []
        for f in found:
            (outcome.suppressed if reader.suppressing(f) else outcome.findings).append(f)
    outcome.findings.sort(key=Finding.sort_key)
    return outcome


def is_known_code(code: str, known: Iterable[str]) -> bool:
    """A suppression's code names a rule (or a prefix of one)."""
    return code == ALL or (_CODE.match(code) is not None and any(k.startswith(code) for k in known))
