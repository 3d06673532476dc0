"""The ``bnlint`` command line. Exit codes: 0 nothing at or above the failing
severity, 1 findings, 2 bnlint could not do its job (bad arguments, an
unreadable path, an internal error). Torch is imported only in the child
process that builds models, never here."""

from __future__ import annotations

import atexit
import os
import sys
import traceback
from contextlib import contextmanager
from enum import Enum
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.markup import escape

from bnlint import __version__
from bnlint.config import DEFAULT_TIMEOUT
from bnlint.findings import Severity, display_path
from bnlint.report import FORMATS, Options

app = typer.Typer(
    name="bnlint",
    help="Find and fix BatchNorm and Dropout pitfalls in PyTorch models and training scripts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


# The formats are the reporter registry's (bnlint.report), not a second list.
Format = Enum("Format", {name: name for name in FORMATS}, type=str)


class CatalogueFormat(str, Enum):
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
    paths: Optional[List[str]] = typer.Argument(
        None, help="Python files or directories (recursed; .gitignore'd files skipped); `file.py::Name` checks one model. Default: the current directory.",
        show_default=False,
    ),
    select: Optional[List[str]] = typer.Option(
        None, "--select", "-s", help="Only these rule codes or prefixes (comma-separated or repeated), e.g. BN1,BN203. ALL includes opt-in rules."
    ),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", "-i", help="Skip these rule codes or prefixes."),
    output_format: Format = typer.Option(Format.text, "--format", "-f", help="Output format."),
    output_file: Optional[str] = typer.Option(None, "--output-file", "-o", help="Write the report here instead of stdout."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Lowest severity that makes the exit code 1 [default: warning]."),
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
    timeout: Optional[float] = typer.Option(None, "--timeout", min=1.0, help=f"Seconds allowed per file to import, build and analyze its models [default: {DEFAULT_TIMEOUT:g}]."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Files analyzed at once, each in a process of its own [default: the CPU count]."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Path globs to skip when walking directories (comma-separated or repeated), added to the config's."),
    config_file: Optional[str] = typer.Option(None, "--config", metavar="PATH", help="Read settings from this pyproject.toml ([tool.bnlint]) or bnlint TOML file instead of the nearest pyproject.toml."),
    isolated: bool = typer.Option(False, "--isolated", help="Ignore every configuration file."),
    warn_unused_ignores: Optional[bool] = typer.Option(None, "--warn-unused-ignores", help="Report suppression comments that suppress nothing; they fail the run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Text format: no hints, notes or summary."),
    full: bool = typer.Option(False, "--full", help="Text format: the full report (grouped by file and model, with hints) also when the output is not a terminal or under pre-commit."),
    diff: bool = typer.Option(False, "--diff", help="Print the source fixes as a unified diff and change nothing (exit 1 when there is something to fix)."),
    fix: bool = typer.Option(False, "--fix", help="Apply the source fixes in place, then report the findings that are left."),
    unsafe_fixes: bool = typer.Option(False, "--unsafe-fixes", help="With --diff/--fix: also the fixes that change how the model trains (BatchNorm -> GroupNorm, Dropout -> Dropout2d, momentum 1 - m)."),
) -> None:
    """Check model files and scripts; report findings with file:line locations.
    With --diff or --fix, also fix what can be fixed in the source."""
    from bnlint import api
    from bnlint.config import inputs_from_strings, resolve, split_codes
    from bnlint.findings import UsageError

    paths = paths or ["."]
    try:
        config = resolve(
            [p.partition("::")[0] for p in paths],
            {
                "select": split_codes(select) if select else None,
                "ignore": split_codes(ignore) if ignore else None,
                "fail_on": Severity(fail_on.value) if fail_on else None,
                "static": static or None,
                "import_files": do_import,
                "inputs": inputs_from_strings(input_shape, dtype),
                "batch_size": batch_size,
                "timeout": timeout,
                "exclude": split_codes(exclude) if exclude else None,
                "warn_unused_ignores": warn_unused_ignores,
                "jobs": jobs,
            },
            config_file=config_file, isolated=isolated,
        )
        if diff and fix:
            raise UsageError("--diff shows the fixes and --fix applies them: choose one")
        if unsafe_fixes and not (diff or fix):
            raise UsageError("--unsafe-fixes needs --diff or --fix")
        out = _open_output(output_file)
    except UsageError as exc:
        raise fail(str(exc))
    try:
        with _progress(enabled=output_format is Format.text and not quiet) as on_file:
            if diff or fix:
                fixed = api.fix_paths(paths, config, unsafe=unsafe_fixes, write=fix, on_file=on_file)
                run = fixed.after or fixed.before
            else:
                fixed, run = None, api.check_paths(
                    paths, config, on_file=on_file, with_edits=output_format is not Format.text,
                )
    except UsageError as exc:
        if out is not sys.stdout:
            out.close()
        raise fail(str(exc))
    if diff:
        out.write(fixed.plan.diff())
        if out is not sys.stdout:
            out.close()
        _fix_summary(fixed, wrote=False)
        raise typer.Exit(EXIT_ERROR if run.internal_errors else (EXIT_FINDINGS if fixed.plan.files else EXIT_OK))
    if fix:
        _fix_summary(fixed, wrote=True)
    if not run.files:
        _err_console().print("bnlint: warning: no Python files found", markup=False)
    _report(run, output_format, out, Options(quiet=quiet, concise=False if full else None))
    for msg in [*run.warnings, *run.unused_ignores]:
        _err_console().print(f"[yellow]bnlint: warning:[/yellow] {escape(msg)}", soft_wrap=True)
    for msg in run.internal_errors:
        _err_console().print(f"[bold red]bnlint: internal error:[/bold red] {escape(msg)}", soft_wrap=True)
    raise typer.Exit(_exit_code(run, config, exit_zero))


def _fix_summary(fixed, wrote: bool) -> None:
    """On stderr: what was (or would be) fixed, what could not be, and why."""
    err = _err_console()
    plan = fixed.plan
    n_files = len({display_path(f.path) for f, _ in plan.applied if f.path})
    verb = "Fixed" if wrote else "Would fix"
    if wrote and not fixed.written:
        verb = "Fixed"
    count = len(plan.applied)
    if count:
        err.print(f"{verb} {count} finding{'s' if count != 1 else ''} in {n_files} file{'s' if n_files != 1 else ''}.", markup=False)
    else:
        err.print("Nothing to fix.", markup=False)
    for f, why in plan.skipped[:20]:
        where = f"{display_path(f.path)}:{f.line}" if f.path else "?"
        err.print(f"  not fixed: {where}: {f.code}: {why}", markup=False, soft_wrap=True)
    if len(plan.skipped) > 20:
        err.print(f"  ... and {len(plan.skipped) - 20} more not fixed", markup=False)
    if plan.withheld:
        err.print(f"{len(plan.withheld)} more with --unsafe-fixes (they change how the model trains).", markup=False)


def _exit_code(run, config, exit_zero: bool) -> int:
    if run.internal_errors:
        return EXIT_ERROR
    failing = run.failing(config.fail_on) or run.unused_ignores
    return EXIT_FINDINGS if failing and not exit_zero else EXIT_OK


def _open_output(output_file: Optional[str]):
    """The report's stream, opened before the analysis so that an unwritable
    path is a usage error, not a failure after a long run."""
    from bnlint.findings import UsageError

    if not output_file:
        return sys.stdout
    try:
        return open(output_file, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output-file {output_file}: {exc.strerror or exc}") from None


@contextmanager
def _progress(enabled: bool):
    """A one-line status on stderr, only on a terminal."""
    console = _err_console()
    if not (enabled and console.is_terminal):
        yield None
        return
    status = console.status("")
    status.start()
    try:
        yield lambda path, n, total: status.update(f"analyzing models {n}/{total}: {display_path(path)}")
    finally:
        status.stop()


def _report(run, fmt: "Format", out, options: "Options") -> None:
    from bnlint.report import render

    try:
        render(run, fmt.value, out, options)
    finally:
        if out is not sys.stdout:
            out.close()
    if fmt is not Format.text:  # machine formats keep stdout clean: notes go to stderr
        err = _err_console()
        for note in run.notes:
            err.print(f"note: {note}", soft_wrap=True, markup=False)


@app.command()
def fold(
    target: str = typer.Argument(..., help="file.py::Name (or file.py with one model): the model to fold.", show_default=False),
    output: str = typer.Option(..., "--output", "-o", help="Where to write the folded model, a torch.export program (.pt2)."),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="The trained weights: a state_dict, or a checkpoint holding one (loaded with torch.load(weights_only=True))."),
    input_shape: Optional[List[str]] = typer.Option(None, "--input-shape", metavar="N,C,H,W", help="Shape of a forward input, one option per input; default: example_inputs in the file."),
    dtype: Optional[List[str]] = typer.Option(None, "--dtype", help="Dtypes of the inputs, one per --input-shape."),
    force: bool = typer.Option(False, "--force", help="Overwrite the output file."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", min=0.0, help="Refuse when max |folded - original| / max |original| exceeds this [default: 1e-4]."),
    timeout: float = typer.Option(600.0, "--timeout", min=1.0, help="Seconds allowed to import, build, fold, export and verify."),
) -> None:
    """Fold BatchNorm into the neighbouring conv/linear layers of a trained
    model and write a verified inference artifact (torch.export .pt2).

    Load it with `torch.export.load(PATH).module()`."""
    from bnlint import api
    from bnlint.config import inputs_from_strings
    from bnlint.findings import UsageError

    try:
        outcome = api.fold_file(
            target, output, weights=weights, inputs=inputs_from_strings(input_shape, dtype),
            force=force, tolerance=tolerance, timeout=timeout,
        )
    except UsageError as exc:
        raise fail(str(exc))
    _print_fold(outcome)


def _print_fold(o) -> None:
    from rich.table import Table

    out = Console(highlight=False)
    out.print(f"[bold]{escape(o.model)}[/bold]: folded {len(o.folded)} BatchNorm(s), left {len(o.left)}; "
              f"wrote {escape(display_path(o.output))}", soft_wrap=True)
    for c in o.folded:
        out.print(f"  folded: {escape(c['detail'])}", soft_wrap=True, markup=True)
    for l in o.left:
        out.print(f"  [yellow]left[/yellow] {escape(l['module'])}: {escape(l['reason'])}", soft_wrap=True)
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("", "before", "after", "ratio"):
        table.add_column(col, justify="right" if col else "left")
    table.add_row("BatchNorm layers", str(o.bn_before), str(o.bn_after), "")
    table.add_row("parameters (+ BN statistics)", f"{o.params_before:,}", f"{o.params_after:,}",
                  f"{o.params_after / o.params_before:.3f}" if o.params_before else "")
    shape = " ".join("x".join(map(str, s)) for s in o.inputs)
    table.add_row(f"CPU latency, eager, inputs {shape}", f"{o.latency_before_ms:.2f} ms", f"{o.latency_after_ms:.2f} ms",
                  f"{o.latency_after_ms / o.latency_before_ms:.2f}" if o.latency_before_ms else "")
    table.add_row("CPU latency, the .pt2 artifact", "", f"{o.latency_artifact_ms:.2f} ms",
                  f"{o.latency_artifact_ms / o.latency_before_ms:.2f}" if o.latency_before_ms else "")
    out.print()
    out.print(table)
    out.print(f"\nmax relative error {o.max_rel_error:.2e} (tolerance {o.tolerance:g}); fold and verification "
              f"{o.fold_s:.2f} s. Load it with torch.export.load({display_path(o.output)!r}).module()", soft_wrap=True)
    for note in o.notes:
        out.print(f"[dim]note: {escape(note)}[/dim]", soft_wrap=True)


@app.command("rule")
def rule_cmd(code: str = typer.Argument(..., help="A rule code (BN101) or name (conv-bias-before-batchnorm).")) -> None:
    """Print one rule's documentation and examples."""
    from bnlint.engine.registry import get_rule

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
    output_format: CatalogueFormat = typer.Option(CatalogueFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """List every rule: code, name, severity, fix safety, what it finds."""
    import json

    from rich.table import Table

    from bnlint.engine.registry import all_rules

    if output_format is CatalogueFormat.json:
        data = [
            {
                "code": r.code, "name": r.name, "severity": r.severity.value,
                "needs": list(r.needs), "summary": r.summary,
                "fix": r.fix, "fix_safety": r.fix_safety.value if r.fix_safety else None,
                "opt_in": r.opt_in,
                "model_analysis": r.analyzes_models(), "static": r.analyzes_source(),
            }
            for r in all_rules()
        ]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    out = Console(highlight=False)
    if out.width < 110:  # too narrow for a table: a rule per two lines
        for r in all_rules():
            fix = f", fix: {r.fix_safety.value}" if r.fix_safety else ""
            out.print(f"[bold]{r.code}[/bold] {r.name} ({r.severity.value}{fix}; {_runs_in(r)})", markup=True)
            out.print(f"    {r.summary}", markup=False, soft_wrap=True)
        out.print("\nmodel: needs the model analysis (torch); static: also runs under --static", markup=False)
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("code", "name", "severity", "fix", "runs in"):
        table.add_column(col, no_wrap=True)
    table.add_column("what it finds", overflow="fold")
    for r in all_rules():
        table.add_row(
            r.code, r.name, r.severity.value, r.fix_safety.value if r.fix_safety else "", _runs_in(r), r.summary,
        )
    out.print(table)
    out.print("\nruns in -- model: needs the model analysis (torch); static: also runs under --static", markup=False)


def _runs_in(rule) -> str:
    """Which analyses a rule runs in: the model analysis, --static, or both."""
    kinds = [k for k, yes in (("model", rule.analyzes_models()), ("static", rule.analyzes_source())) if yes]
    return " + ".join(kinds) or "always"  # BN001: the analysis' own failures


def main() -> None:
    """Console entry point: any uncaught exception becomes one line and exit 2
    (set BNLINT_DEBUG=1 for the traceback), never something that looks like 1."""
    try:
        app()
    except SystemExit as done:
        _leave(done.code)
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


def _leave(code: Any) -> None:
    """Exit without tearing the interpreter down. A run holds the parsed
    trees and analyses of every file it read; freeing them object by object
    at shutdown was a fifth of a 963-file ``--static`` run (1.9 of 8.8 s).
    What is registered to run at exit (temporary directories' cleanup,
    logging) runs first, and the output is flushed; the console entry point
    only (the Python API and the pytest plugin never exit)."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a closed pipe (`bnlint ... | head`): nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
