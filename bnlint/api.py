"""The one run path. The CLI, the Python API and the pytest plugin all call
these functions; none of them exits the process or prints.

    check_paths(paths, config)        files and directories -> Run
    check_model(model, example_inputs) a live nn.Module, in this process -> [Finding]
    check_source(path_or_text)        one script read as source -> [Finding]

A run: find the files (:mod:`bnlint.discover`); read each as source and run
the source rules on it (:mod:`bnlint.source`, torch-free, in this process);
import the files the policy allows in a child process and run the model rules
there (:mod:`bnlint.model`); then select, de-duplicate, suppress and sort
(:mod:`bnlint.engine.suppress`). Importing this module imports no torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from bnlint.config import Config, split_codes
from bnlint.discover.paths import expand_paths
from bnlint.discover.policy import classify
from bnlint.engine.registry import get_rule
from bnlint.engine.runner import run_model_rules, run_source_rules
from bnlint.engine.suppress import SuppressionReader, finalize, finalize_outcome, is_known_code
from bnlint.findings import Finding, Location, Run, UsageError, display_path


class InternalError(RuntimeError):
    """A rule or an analysis crashed: a bnlint bug (the message names it)."""


def _real(path: str | None) -> str | None:
    """The real path of a file; a name that is no file (``<string>``, the
    ``filename`` of a snippet) stays as it is."""
    if path is None or not os.path.exists(path):
        return path
    return os.path.realpath(path)


def _normalized(f: Finding) -> Finding:
    """Findings carry the real path of their file, whoever produced them (the
    child's frames, the source reader): one file has one key for
    de-duplication and suppression, and reporters choose how to show it."""
    cs = f.call_site
    return f.with_(
        path=_real(f.path),
        call_site=Location(_real(cs.path) or cs.path, cs.line, cs.col) if cs else None,
    )


def _selected_codes(rules) -> list[str]:
    return [r.code for r in rules]


def _source_findings(path: str, raw: bytes | str, rules, run: Run) -> "tuple[bool, Any]":
    """Parse one file and run the source rules on it; a syntax error is a
    BN001 finding. Returns (parsed, verdict-or-None)."""
    from bnlint.source import SourceContext

    verdict = classify(path, raw) if isinstance(raw, bytes) else classify(path, raw.encode("utf-8"))
    if verdict.syntax_error is not None:
        err = verdict.syntax_error
        run.findings.append(
            get_rule("BN001").make(
                f"cannot parse {display_path(path)}: {err.msg or 'syntax error'}",
                path=path, line=err.lineno or 1, col=err.offset or 1, source="source",
            )
        )
        return False, verdict
    source_rules = [r for r in rules if r.analyzes_source()]
    if source_rules:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        ctx = SourceContext(path, text, verdict.tree)
        try:
            found, errors = run_source_rules(ctx, source_rules, display_path(path))
        except RecursionError:
            run.notes.append(f"{display_path(path)}: not read as source, it nests too deeply for the analysis")
        else:
            run.findings.extend(found)
            run.internal_errors.extend(str(e) for e in errors)
    return True, verdict


def check_paths(
    paths: Sequence[str],
    config: Config | None = None,
    *,
    on_file: Callable[[str, int, int], None] | None = None,
    with_edits: bool = False,
) -> Run:
    """Check files and directories (``file.py::Name`` checks one model).
    With ``with_edits``, each finding whose source fix can be placed exactly
    carries that fix's edits (nothing is written).

    ``on_file(path, n, total)`` is called as the n-th of ``total`` files
    starts its model analysis (for progress displays).

    Raises :class:`UsageError` for bad input (a missing path, an unknown
    selector, a ``::Name`` that does not exist). Internal errors (a crashed
    rule) are in ``Run.internal_errors``; every other outcome is a finding."""
    from bnlint.model.process import ModelAnalysis, default_jobs

    config = config or Config()
    rules = config.rules()
    path_notes: list[str] = []
    targets = expand_paths(
        paths or ["."], excluded=config.is_excluded, respect_gitignore=config.respect_gitignore,
        notes=path_notes,
    )
    if config.static and any(t.names for t in targets):
        raise UsageError("file.py::Name checks a model, which needs an import: drop --static")
    run = Run(files=len(targets), static=config.static, notes=path_notes)
    if config.static and (config.select or config.extend_select):
        model_only = [r.code for r in rules if r.analyzes_models() and not r.analyzes_source()]
        if model_only and len(model_only) == len(rules):
            raise UsageError(
                f"{', '.join(model_only)} {'needs' if len(model_only) == 1 else 'need'} the model analysis, "
                "which --static skips: drop --static"
            )
        if model_only:
            run.notes.append(
                f"--static: {', '.join(model_only)} skipped "
                f"({'it needs' if len(model_only) == 1 else 'they need'} the model analysis)"
            )
    wants_models = not config.static and any(r.analyzes_models() for r in rules)
    prepared = found_fixable = None
    try:
        shapes = config.inputs is not None and any("shapes" in r.needs for r in rules)
        with ModelAnalysis(config.jobs or default_jobs(), warm=("shapes",) if shapes else ()) as models:
            if wants_models and any(t.names for t in targets):
                models.start(1)  # a file.py::Name is imported whatever its source says: torch's import starts now
            jobs, with_comments = _read_sources(targets, rules, config, run, wants_models, models)
            if with_edits:
                # Parse the files to edit while the model analysis runs. libcst is
                # imported only now, once the server (if any) is importing torch.
                prepared, found_fixable = _prepare_edits()
                found_fixable(run.findings)
            no_inputs = _analyze_models(jobs, rules, config, run, models, on_file, on_result=found_fixable)
    except BaseException:
        if prepared is not None:
            prepared.finish()  # no thread left waiting in the caller's process
        raise

    batch_rules = [r.code for r in rules if "shapes" in r.needs and r.analyzes_models() and r.code.startswith("BN3")]
    if no_inputs and batch_rules:
        which = ", ".join(no_inputs[:3]) + (f" and {len(no_inputs) - 3} more" if len(no_inputs) > 3 else "")
        run.notes.append(
            f"batch-size rules ({', '.join(batch_rules)}) skipped for {which}: no example inputs "
            "(pass --input-shape, or define example_inputs in the file)"
        )
    outcome = finalize_outcome(
        (_normalized(f) for f in run.findings), _selected_codes(rules), ignored=config.ignore,
        extra_ignores=lambda f: config.ignored_for(f.path, f.module),
        reader=_reader(with_comments),
    )
    run.findings, run.suppressed = outcome.findings, len(outcome.suppressed)
    _judge_comments(run, outcome, rules, {_real(t.path) for t in jobs}, config)
    if with_edits:
        from bnlint.fix.source import plan_fixes

        run.findings = attach_edits(run.findings, plan_fixes(run.findings, unsafe=True, prepared=prepared))
    return run


def _prepare_edits():
    """A :class:`~bnlint.fix.source.Prepared` that parses, in a thread, each
    file a finding may be fixed in, and the callback that hands it findings."""
    from bnlint.fix.source import Prepared, fixable

    prepared = Prepared()

    def ahead(findings: list[Finding]) -> None:
        for f in findings:
            if fixable(f):
                prepared.add(f.path)

    return prepared, ahead


def _read_sources(targets, rules, config: Config, run: Run, wants_models: bool, models):
    """Every file read as source, the source rules run on it; the files to
    import for the model analysis, and the texts that hold suppressions."""
    from bnlint.source.interproc import project

    jobs = []
    with_comments: dict[str, str] = {}  # files that may hold suppression comments
    with project(t.path for t in targets):
        for target in targets:
            _read_source(target, rules, config, run, wants_models, models, jobs, with_comments)
    return jobs, with_comments


def _read_source(target, rules, config: Config, run: Run, wants_models: bool, models, jobs, with_comments) -> None:
    """One file of :func:`_read_sources`."""
    try:
        with open(target.path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise UsageError(f"{target.path}: {exc.strerror or exc}") from None
    real = _real(target.path)
    if b"bnlint" in raw or b"noqa" in raw:
        with_comments[real] = raw.decode("utf-8", "replace")
    parsed, verdict = _source_findings(real, raw, rules, run)
    if not parsed or not wants_models:
        return
    if target.names or config.import_files or (config.import_files is None and verdict.importable):
        jobs.append(target)
        models.start(1)  # torch's import in the server overlaps the reading of the other files
    else:
        run.skipped.append((real, verdict.reason))


def _analyze_models(jobs, rules, config: Config, run: Run, models, on_file, on_result=None) -> list[str]:
    """The model analysis of ``jobs``, into ``run``; the models analyzed
    without example inputs. ``on_result(findings)`` sees each file's
    findings as they arrive."""
    usage_errors: list[str] = []
    no_inputs: list[str] = []
    counter = iter(range(1, len(jobs) + 1))
    for result in models.run(
        jobs, _selected_codes(rules), inputs=config.inputs, batch_size=config.batch_size, timeout=config.timeout,
        on_file=(lambda path: on_file(path, next(counter), len(jobs))) if on_file else (lambda path: None),
    ):
        run.findings.extend(result.findings)
        if on_result is not None:
            on_result(result.findings)
        run.models += len(result.models)
        run.notes.extend(result.notes)
        usage_errors.extend(result.usage_errors)
        run.internal_errors.extend(result.internal_errors)
        no_inputs.extend(result.no_inputs)
    if usage_errors:  # e.g. file.py::Missing: the run asked for was not the one made
        raise UsageError("; ".join(usage_errors))
    return no_inputs


def attach_edits(findings: list[Finding], plan) -> list[Finding]:
    """Each finding the plan fixes carries the edits of its file that touch
    its statement's lines (whole-line replacements, from the planned text)."""
    import difflib

    from bnlint.findings import Edit

    from bnlint.engine.suppress import FileSuppressions

    fixed = {id(f) for f, _ in plan.applied}
    edits_by_file: dict[str, list[Edit]] = {}
    spans: dict[str, FileSuppressions] = {}
    for path, fp in plan.files.items():
        spans[path] = FileSuppressions(fp.before.decode("utf-8", "replace"))
        before = fp.before.decode("utf-8", "replace").splitlines(keepends=True)
        after = fp.after.decode("utf-8", "replace").splitlines(keepends=True)
        ops = difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
        edits: list[Edit] = []
        for tag, i1, i2, j1, j2 in ops:
            if tag == "equal":
                continue
            if tag == "replace" and i2 - i1 == j2 - j1:  # line for line: one edit per line
                edits.extend(Edit(path, i + 1, 1, i + 2, 1, after[j1 + (i - i1)]) for i in range(i1, i2))
            else:
                edits.append(Edit(path, i1 + 1, 1, i2 + 1, 1, "".join(after[j1:j2])))
        edits_by_file[path] = edits
    out = []
    for f in findings:
        edits = edits_by_file.get(f.path or "", []) if id(f) in fixed else []
        if edits:
            first, last = spans[f.path].span(f.line, f.col)  # the reported call's lines
            edits = [e for e in edits if e.line <= last and max(e.end_line - 1, e.line) >= first]
        out.append(f.with_(edits=tuple(edits)) if edits else f)
    return out


def _reader(texts: dict[str, str]) -> SuppressionReader:
    from bnlint.engine.suppress import FileSuppressions

    reader = SuppressionReader()
    reader.files.update({path: FileSuppressions(text) for path, text in texts.items()})
    return reader


def _judge_comments(run: Run, outcome, rules, imported: set[str], config: Config) -> None:
    """Unknown codes in suppression comments are warnings; with
    ``warn_unused_ignores``, so is a comment that suppressed nothing among the
    codes that ran on its file."""
    from bnlint.engine.registry import all_rules

    known = [r.code for r in all_rules()]
    for path, c in outcome.comments():
        where = f"{display_path(path)}:{c.line}"
        unknown = [x for x in c.codes if not is_known_code(x, known)]
        if unknown:
            run.warnings.append(f"{where}: unknown rule code {', '.join(unknown)} in `{c.text}`")
        if not config.warn_unused_ignores:
            continue
        ran = [r.code for r in rules if r.analyzes_source() or (r.analyzes_models() and path in imported)]
        unused = [
            x for x in c.codes
            if x not in unknown and any(code.startswith(x) for code in ran)
            and not any(u.startswith(x) for u in c.used)
        ]
        if unused:
            run.unused_ignores.append(
                f"{where}: unused suppression `{c.text}`" + (f" ({', '.join(unused)})" if len(unused) < len(c.codes) else "")
            )


def check_source(
    path_or_text: str | os.PathLike,
    *,
    filename: str | None = None,
    select: Iterable[str] | str | None = None,
    ignore: Iterable[str] | str | None = None,
) -> list[Finding]:
    """The source rules on one script, read as text: nothing imported, no torch.

    ``path_or_text`` is a path (a ``PathLike``, or a one-line string naming an
    existing file) or the source text itself (then ``filename``, default
    ``<string>``, is the path findings carry). Inline suppressions in a file
    are honoured. A directory, or a one-line ``*.py`` string naming no file,
    is a :class:`UsageError` (not code to read): for a tree, where helpers of
    one file are called from another, use :func:`check_paths` with a
    ``Config(static=True)``. Raises :class:`InternalError` when a rule crashes."""
    config = Config(select=split_codes(select), ignore=split_codes(ignore), static=True)
    rules = config.rules()
    one_line = not isinstance(path_or_text, os.PathLike) and "\n" not in path_or_text
    if one_line and (os.path.isdir(path_or_text) or (
        str(path_or_text).endswith(".py") and not os.path.isfile(path_or_text)
    )):
        what = "is a directory" if os.path.isdir(path_or_text) else "no such file"
        raise UsageError(f"{path_or_text}: {what} (check_source reads one script; check_paths reads a tree)")
    is_path = isinstance(path_or_text, os.PathLike) or (one_line and os.path.isfile(path_or_text))
    if is_path:
        path = os.fspath(path_or_text)
        try:
            with open(path, "rb") as fh:
                raw: bytes | str = fh.read()
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror or exc}") from None
        path = _real(path)
    else:
        raw, path = str(path_or_text), filename or "<string>"
    run = Run(files=1, static=True)
    _source_findings(path, raw, rules, run)
    if run.internal_errors:
        raise InternalError("; ".join(run.internal_errors))
    return finalize(
        (_normalized(f) for f in run.findings), _selected_codes(rules), ignored=config.ignore,
        honour_suppressions=is_path,
    )


def check_model(
    model: Any,
    example_inputs: Any = None,
    *,
    name: str | None = None,
    select: Iterable[str] | str | None = None,
    ignore: Iterable[str] | str | None = None,
    batch_size: int | None = None,
) -> list[Finding]:
    """The model rules on a live ``nn.Module``, in this process.

    ``example_inputs`` -- a tensor, a shape, or a tuple of them (the first
    dimension is the training batch size) -- enables the shape rules (BN3xx).
    The model is put back in the mode it was in and is otherwise untouched.
    Findings point at the line that constructed each layer, read from the
    source of the user's classes (:class:`bnlint.model.sites.SourceSites`);
    where no user line holds it, they carry the module path alone. Raises
    :class:`InternalError` when a rule crashes."""
    from bnlint.model.context import build_context, needs_of
    from bnlint.model.shapes import spec_from_value

    config = Config(select=split_codes(select), ignore=split_codes(ignore), batch_size=batch_size)
    rules = config.rules()
    inputs = None
    if example_inputs is not None:
        try:
            inputs = spec_from_value(example_inputs, "example_inputs").with_batch(batch_size)
        except TypeError as exc:
            raise UsageError(str(exc)) from None
    from bnlint.model.sites import SourceSites

    ctx = build_context(
        model, name or type(model).__name__, inputs=inputs, needs=needs_of(rules), sites=SourceSites(model),
    )
    findings, errors = run_model_rules(ctx, rules)
    if errors:
        raise InternalError("; ".join(str(e) for e in errors))
    return finalize(
        (_normalized(f) for f in findings), _selected_codes(rules), ignored=config.ignore,
        honour_suppressions=False,
    )


@dataclass
class FixOutcome:
    """What ``bnlint check --diff/--fix`` did: the plan (applied, skipped with
    reasons, withheld unsafe fixes), the files written, and -- after writing
    -- the run that re-checked them (the findings left)."""

    before: Run
    plan: Any  # bnlint.fix.source.SourceFixPlan
    written: list[str] = field(default_factory=list)
    after: Run | None = None


def fix_paths(
    paths: Sequence[str],
    config: Config | None = None,
    *,
    unsafe: bool = False,
    write: bool = False,
    on_file: Callable[[str, int, int], None] | None = None,
) -> FixOutcome:
    """Check, plan the source fixes of the findings (safe ones; unsafe ones
    too with ``unsafe``), and with ``write`` apply them in place and check
    again. Nothing is written without ``write``."""
    from bnlint.fix.source import plan_fixes

    before = check_paths(paths, config, on_file=on_file)
    plan = plan_fixes(before.findings, unsafe=unsafe)
    outcome = FixOutcome(before, plan)
    if write and plan.files:
        outcome.written = plan.write()
        outcome.after = check_paths(paths, config, on_file=on_file)
    return outcome


@dataclass
class FoldOutcome:
    """What ``bnlint fold`` did (see :func:`fold_file`); plain data."""

    model: str
    output: str
    folded: list[dict]  # {"kind", "modules", "detail"}
    left: list[dict]  # {"module", "reason"}
    bn_before: int
    bn_after: int
    params_before: int
    params_after: int
    max_rel_error: float
    tolerance: float
    fold_s: float
    latency_before_ms: float
    latency_after_ms: float
    latency_artifact_ms: float
    inputs: list[list[int]]
    notes: list[str] = field(default_factory=list)


def fold_file(
    target: str,
    output: str,
    *,
    weights: str | None = None,
    inputs: Any = None,
    force: bool = False,
    tolerance: float | None = None,
    timeout: float = 600.0,
) -> FoldOutcome:
    """Fold the BatchNorms of one trained model (``file.py`` or
    ``file.py::Name``) and write a verified ``torch.export`` program to
    ``output`` (load it with ``torch.export.load(output).module()``). The
    user's file is imported in a child process, as a guest; the weights come
    from ``weights`` (a state_dict or a checkpoint holding one, loaded with
    ``torch.load(weights_only=True)``) or from a ``bnlint_models()`` hook that
    builds the model with them. Raises :class:`UsageError` for anything the
    user must change (no weights, keys that do not fit, no example inputs, an
    existing output without ``force``, a fold that fails verification)."""
    from bnlint.model.process import Worker, WorkerDied, require_torch

    path, _, name = target.partition("::")
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file")
    if os.path.exists(output) and not force:
        raise UsageError(f"{output} exists: pass --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"-o {output}: cannot write to {folder}")
    if weights is not None and not os.path.isfile(weights):
        raise UsageError(f"--weights {weights}: no such file")
    require_torch()
    if tolerance is None:
        from bnlint.config import DEFAULT_TOLERANCE as tolerance
    job = {
        "path": os.path.abspath(path), "target": name or None,
        "weights": os.path.abspath(weights) if weights else None,
        "inputs": inputs.to_json() if inputs is not None else None,
        "output": os.path.abspath(output), "tolerance": tolerance, "timeout": timeout,
    }
    worker = Worker("bnlint.fix.artifact")
    try:
        msg = worker.run(job, timeout + 30)
    except TimeoutError as exc:
        raise UsageError(f"bnlint fold timed out after {timeout:g} s while {exc}") from None
    except WorkerDied as exc:
        raise UsageError(str(exc)) from None
    finally:
        worker.close()
    msg.pop("event", None)
    if "error" in msg:
        raise UsageError(msg["error"])
    if "timed_out" in msg:
        raise UsageError(f"bnlint fold timed out after {timeout:g} s while {msg['timed_out']}")
    if "died" in msg:
        raise UsageError(msg["died"])
    if "internal_errors" in msg:
        raise InternalError("; ".join(msg["internal_errors"]))
    return FoldOutcome(**msg)


__all__ = [
    "Config", "FixOutcome", "FoldOutcome", "fold_file", "InternalError", "Run", "UsageError",
    "check_model", "check_paths", "check_source", "fix_paths",
]
