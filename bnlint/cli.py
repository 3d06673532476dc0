"""The ``bnlint`` command line. Exit codes: 0 nothing at or above the failing
severity, 1 findings, 2 bnlint could not do its job (bad arguments, an
unreadable path, an internal error). Torch is imported only in the child
process that builds models, never here."""

from __future__ import annotations

import os
import sys
import traceback
from enum import Enum
from typing import List, Optional

import typer
from rich.console import Console

from bnlint import __version__
from bnlint.findings import Severity

app = typer.Typer(
    name="bnlint",
    help="Find and fix BatchNorm and Dropout pitfalls in PyTorch models and training scripts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class Format(str, Enum):
    text = "text"
    json = "json"


class FailOn(str, Enum):
    info = "info"
    warning = "warning"
    error = "error"


def _err_console() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str) -> "typer.Exit":
    """One clear line on stderr, exit 2."""
    _err_console().print(f"[bold red]bnlint: error:[/bold red] {message}", soft_wrap=True, markup=True)
    return typer.Exit(EXIT_ERROR)


def _split(values: Optional[List[str]]) -> list[str]:
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def _version(value: bool) -> None:
    if value:
        print(f"bnlint {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """bnlint audits PyTorch models (built and traced with torch.fx) and
    training/inference scripts (read as source) for BatchNorm and Dropout
    mistakes. Run `bnlint rules` for the catalogue, `bnlint rule BN101` for one
    rule's documentation."""


@app.command()
def check(
    paths: List[str] = typer.Argument(
        ..., help="Python files or directories (recursed); `file.py::Name` checks one model.",
        show_default=False,
    ),
    select: Optional[List[str]] = typer.Option(
        None, "--select", "-s", help="Only these rule codes or prefixes (comma-separated or repeated), e.g. BN1,BN203. ALL includes opt-in rules."
    ),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", "-i", help="Skip these rule codes or prefixes."),
    output_format: Format = typer.Option(Format.text, "--format", "-f", help="Output format."),
    output_file: Optional[str] = typer.Option(None, "--output-file", "-o", help="Write the report here instead of stdout."),
    fail_on: FailOn = typer.Option(FailOn.warning, "--fail-on", help="Lowest severity that makes the exit code 1."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when problems are found (errors of bnlint itself still exit 2)."),
    do_import: Optional[bool] = typer.Option(
        None, "--import/--no-import",
        help="Force importing every file to build models / import none. Default: import files that define or build models and do not look like scripts.",
    ),
    static: bool = typer.Option(
        False, "--static",
        help="Read every file as source only: import nothing (torch is never loaded), run only the source rules. Pre-commit speed.",
    ),
    input_shape: Optional[List[str]] = typer.Option(
        None, "--input-shape", metavar="N,C,H,W",
        help="Shape of a forward input, one option per input (e.g. 8,3,224,224); the first dimension is the training batch size. Enables the shape rules (BN3xx).",
    ),
    dtype: Optional[List[str]] = typer.Option(
        None, "--dtype", help="Dtypes of the inputs, one per --input-shape (e.g. float32,int64). Default float32.",
    ),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", min=1, help="Training batch size, overriding the first dimension of the example inputs.",
    ),
    timeout: float = typer.Option(60.0, "--timeout", min=1.0, help="Seconds allowed per file to import, build and analyze its models."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Text format: no hints, notes or summary."),
) -> None:
    """Check model files and scripts; report findings with file:line locations."""
    from bnlint import load
    from bnlint.engine import finalize
    from bnlint.inputs import InputSpec, parse_dtypes, parse_shape
    from bnlint.registry import RegistryError, get_rule, select_rules
    from bnlint.report import Run
    from bnlint.paths import display_path
    from bnlint.source import analyze_source

    try:
        if static and do_import:
            raise ValueError("--static imports nothing: it cannot be combined with --import")
        rules = select_rules(_split(select), _split(ignore))
        targets = load.expand_paths(paths)
        if static and any(t.names for t in targets):
            raise ValueError("file.py::Name checks a model, which needs an import: drop --static")
        inputs = None
        if input_shape:
            shapes = tuple(parse_shape(s) for s in input_shape)
            inputs = InputSpec(shapes, parse_dtypes(dtype or [], len(shapes)), "--input-shape")
        elif dtype:
            raise ValueError("--dtype needs --input-shape")
    except (ValueError, load.UsageError, RegistryError) as exc:
        raise fail(str(exc))

    if not targets:
        _err_console().print("bnlint: warning: no Python files found", markup=False)
    run = Run(findings=[], files=len(targets), static=static)
    bn001 = get_rule("BN001")
    jobs = []
    usage_errors: list[str] = []
    internal_errors: list[str] = []
    wants_models = not static and any(r.analyzes_models() for r in rules)
    source_rules = [r for r in rules if r.analyzes_source()]
    for target in targets:
        try:
            with open(target.path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise fail(f"{target.path}: {exc.strerror or exc}")
        verdict = load.classify(target.path, raw)
        if verdict.syntax_error is not None:
            err = verdict.syntax_error
            run.findings.append(
                bn001.make(
                    f"cannot parse {display_path(target.path)}: {err.msg or 'syntax error'}",
                    path=display_path(target.path), line=err.lineno or 1, col=err.offset or 1,
                )
            )
            continue
        if source_rules:
            # Every file is read as source (scripts and model files alike);
            # nothing is imported for this, in this process.
            try:
                run.findings.extend(
                    analyze_source(target.path, raw.decode("utf-8", "replace"), verdict.tree, source_rules)
                )
            except RecursionError:
                run.notes.append(f"{display_path(target.path)}: not read as source, it nests too deeply for the analysis")
            except Exception as exc:  # noqa: BLE001 -- a bnlint bug: say so, go on with the other files
                if os.environ.get("BNLINT_DEBUG"):
                    traceback.print_exc()
                internal_errors.append(f"source analysis of {target.path} failed: {type(exc).__name__}: {exc}")
        if not wants_models:
            continue
        if target.names or do_import or (do_import is None and verdict.importable):
            jobs.append(target)
        else:
            run.skipped.append((target.path, verdict.reason))

    no_inputs: list[str] = []
    codes = [r.code for r in rules]
    console = Console(stderr=True, highlight=False)
    status = console.status("") if console.is_terminal and output_format is Format.text and not quiet else None
    try:
        if status:
            status.start()
        for result in load.analyze_models(
            jobs, codes, inputs=inputs, batch_size=batch_size, timeout=timeout,
            on_file=lambda p: status.update(f"analyzing {p}") if status else None,
        ):
            run.findings.extend(result.findings)
            run.models += len(result.models)
            run.notes.extend(result.notes)
            usage_errors.extend(result.usage_errors)
            internal_errors.extend(result.internal_errors)
            no_inputs.extend(result.no_inputs)
    except load.UsageError as exc:
        raise fail(str(exc))
    finally:
        if status:
            status.stop()

    shape_rules = [r.code for r in rules if "shapes" in r.needs and r.analyzes_models()]
    if no_inputs and shape_rules and any(c.startswith("BN3") for c in shape_rules):
        which = ", ".join(no_inputs[:3]) + (f" and {len(no_inputs) - 3} more" if len(no_inputs) > 3 else "")
        run.notes.append(
            f"batch-size rules ({', '.join(c for c in shape_rules if c.startswith('BN3'))}) skipped for "
            f"{which}: no example inputs (pass --input-shape, or define example_inputs in the file)"
        )
    if usage_errors:  # e.g. file.py::Missing: the run asked for was not the one made
        raise fail("; ".join(usage_errors))
    run.findings = finalize(run.findings, codes + ["BN001"] if "BN001" in codes else codes)
    run.failed = len(internal_errors)
    _emit(run, output_format, output_file, quiet)

    for msg in internal_errors:
        _err_console().print(f"[bold red]bnlint: internal error:[/bold red] {msg}", soft_wrap=True)
    if internal_errors:
        raise typer.Exit(EXIT_ERROR)
    threshold = Severity(fail_on.value).rank
    failing = any(f.severity.rank >= threshold for f in run.findings)
    raise typer.Exit(EXIT_FINDINGS if failing and not exit_zero else EXIT_OK)


def _emit(run, fmt: Format, output_file: Optional[str], quiet: bool) -> None:
    from bnlint.report import render
    from bnlint.report.text import print_text

    if fmt is Format.text:
        if output_file:
            with open(output_file, "w", encoding="utf-8") as fh:
                print_text(run, Console(file=fh, no_color=True, highlight=False, width=10_000), quiet=quiet)
            return
        print_text(run, Console(highlight=False), quiet=quiet)
        return
    text = render(run, fmt.value)
    if output_file:
        with open(output_file, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    err = Console(stderr=True, highlight=False)
    for note in run.notes:
        err.print(f"note: {note}", soft_wrap=True, markup=False)


@app.command("rule")
def rule_cmd(code: str = typer.Argument(..., help="A rule code (BN101) or name (conv-bias-before-batchnorm).")) -> None:
    """Print one rule's documentation and examples."""
    from bnlint.registry import get_rule

    cls = get_rule(code)
    if cls is None:
        raise fail(f"unknown rule {code!r} (see `bnlint rules`)")
    out = Console(highlight=False)
    fix = f", fix: {cls.fix_safety.value}" if cls.fix_safety else ""
    out.print(f"[bold]{cls.code}[/bold] {cls.name} ({cls.severity.value}{fix})", markup=True)
    out.print(cls.summary, markup=False)
    out.print()
    out.print(cls.docs(), markup=False)
    for title, examples in (("Flagged", cls.invalid), ("Not flagged", cls.valid)):
        for i, ex in enumerate(examples, 1):
            out.print()
            out.print(f"[bold]{title} example {i}[/bold] ({ex.kind}):", markup=True)
            out.print("    " + ex.text.rstrip().replace("\n", "\n    "), markup=False)


@app.command("rules")
def rules_cmd(
    output_format: Format = typer.Option(Format.text, "--format", "-f", help="Output format."),
) -> None:
    """List every rule: code, name, severity, fix safety, what it finds."""
    import json

    from rich.table import Table

    from bnlint.registry import all_rules

    if output_format is Format.json:
        data = [
            {
                "code": r.code, "name": r.name, "severity": r.severity.value,
                "needs": list(r.needs), "summary": r.summary,
                "fix": r.fix, "fix_safety": r.fix_safety.value if r.fix_safety else None,
                "opt_in": r.opt_in,
            }
            for r in all_rules()
        ]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    out = Console(highlight=False)
    if out.width < 110:  # too narrow for a table: a rule per two lines
        for r in all_rules():
            fix = f", fix: {r.fix_safety.value}" if r.fix_safety else ""
            out.print(f"[bold]{r.code}[/bold] {r.name} ({r.severity.value}{fix})", markup=True)
            out.print(f"    {r.summary}", markup=False, soft_wrap=True)
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("code", "name", "severity", "fix"):
        table.add_column(col, no_wrap=True)
    table.add_column("what it finds", overflow="fold")
    for r in all_rules():
        table.add_row(r.code, r.name, r.severity.value, r.fix_safety.value if r.fix_safety else "", r.summary)
    out.print(table)


def main() -> None:
    """Console entry point: any uncaught exception becomes one line and exit 2
    (set BNLINT_DEBUG=1 for the traceback), never something that looks like 1."""
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _err_console().print("bnlint: interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("BNLINT_DEBUG"):
            traceback.print_exc()
        _err_console().print(
            f"[bold red]bnlint: internal error:[/bold red] {type(exc).__name__}: {exc} "
            "(set BNLINT_DEBUG=1 for the traceback)", soft_wrap=True,
        )
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
