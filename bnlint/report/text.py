"""Human output (rich). On a terminal, the full report: findings grouped by
file and model, each as ``path:line:col: CODE [severity] message``
(clickable in terminals and editors) with a line of hints, then notes and a
summary. Concise -- one line per finding, then notes and the summary -- when
the output is not a terminal or runs under pre-commit (``PRE_COMMIT=1``),
unless ``--full`` asks otherwise. Colour only on a terminal, never with
``NO_COLOR``; no line is ever wrapped in a pipe or a file."""

from __future__ import annotations

import os
import sys
from collections import Counter
from itertools import groupby
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from bnlint.findings import Finding, Run, Severity, display_path

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def report(run: Run, out: TextIO, options) -> None:
    terminal = (out is sys.stdout or out is sys.__stdout__) and out.isatty()
    if terminal:
        console = Console(file=out, highlight=False)  # the terminal's width and colours; NO_COLOR honoured
    else:
        console = Console(file=out, no_color=True, highlight=False, width=options.width or 10_000)
    concise = options.concise
    if concise is None:
        concise = not terminal or os.environ.get("PRE_COMMIT") == "1"
    if concise:
        print_concise(run, console, quiet=options.quiet)
    else:
        print_text(run, console, quiet=options.quiet)


def _location(f: Finding) -> str:
    shown = display_path(f.path) if f.path else ""
    return f"{shown}:{f.line}:{f.col or 1}" if f.path and f.line else shown


def print_concise(run: Run, console: Console, *, quiet: bool = False) -> None:
    """One line per finding, sorted by location (as flake8 prints them)."""
    for f in run.findings:
        sev = f.severity
        console.print(
            f"[dim]{escape(_location(f))}:[/dim] [{_STYLE[sev]}]{f.code}[/] "
            f"[{_STYLE[sev]}]\\[{sev.value}][/] {escape(f.message)}",
            soft_wrap=True,
        )
    if not quiet:
        if run.findings:
            console.print()
        _tail(run, console)


def print_text(run: Run, console: Console, *, quiet: bool = False) -> None:
    """Findings grouped by file and model; unless ``quiet``, with hints,
    notes and a summary line."""
    show_hints = not quiet

    def group_key(f: Finding):
        return (display_path(f.path) if f.path else "", f.model or "")

    for (path, model), items in groupby(sorted(run.findings, key=lambda f: (group_key(f), f.sort_key())), key=group_key):
        title = f"[bold]{escape(path or '<unknown>')}[/bold]"
        if model:
            title += f"  [dim]model[/dim] [bold]{escape(model)}[/bold]"
        console.print(title)
        for f in items:
            sev = f.severity
            console.print(
                f"  [dim]{escape(_location(f))}:[/dim] [{_STYLE[sev]}]{f.code}[/] "
                f"[{_STYLE[sev]}]\\[{sev.value}][/] {escape(f.message)}",
                soft_wrap=True,
            )
            if show_hints:
                extra = []
                if f.hint:
                    extra.append(f.hint)
                if f.fix:
                    extra.append(f"fix ({f.fix_safety.value if f.fix_safety else 'manual'}): {f.fix}")
                if f.call_site:
                    extra.append(f"called at {display_path(f.call_site.path)}:{f.call_site.line}")
                if f.built_at:
                    extra.append(f"built at {display_path(f.built_at.path)}:{f.built_at.line}")
                if extra:
                    console.print(f"      [dim]{escape(' · '.join(extra))}[/dim]", soft_wrap=True)
        console.print()

    if not quiet:
        _tail(run, console)


def _tail(run: Run, console: Console) -> None:
    """Notes, skipped files and the summary line."""
    for note in run.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]", soft_wrap=True)
    if run.skipped:
        console.print(
            f"[dim]note: {_plural(len(run.skipped), 'file')} read as source only, not imported (they "
            "look like scripts or define no models; --import forces it):[/dim]"
        )
        for path, why in run.skipped[:10]:
            console.print(f"[dim]  {escape(display_path(path))}: {escape(why)}[/dim]", soft_wrap=True)
        if len(run.skipped) > 10:
            console.print(f"[dim]  ... and {len(run.skipped) - 10} more[/dim]")

    counts = Counter(f.severity for f in run.findings)
    if run.static:
        scope = f"{_plural(run.files, 'file')} read as source"
    else:
        scope = f"{_plural(run.models, 'model')} in {_plural(run.files, 'file')}"
    if run.failed:
        scope += f"; {run.failed} {'analysis' if run.failed == 1 else 'analyses'} failed, see the errors below"
    if run.suppressed:
        scope += f"; {run.suppressed} suppressed"
    if not run.findings:
        found = "[green]No problems found[/green]" if not run.failed else "No problems found"
        console.print(f"{found} ({scope}).", soft_wrap=True)
        return
    parts = [_plural(counts[s], s.value) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO) if counts[s]]
    fixable = sum(1 for f in run.findings if f.fix)
    tail = f"; {fixable} with a fix" if fixable else ""
    console.print(
        f"Found {_plural(len(run.findings), 'problem')} ({', '.join(parts)}) in {scope}{tail}.",
        soft_wrap=True,
    )
