"""The child-process side of ``bnlint check``: import a user's file, build the
models in it, and analyze each one. Everything that executes user code lives
here; the parent (:mod:`bnlint.model.process`) runs it in a separate process with a time
limit and only ever sees plain JSON.

:func:`analyze_file` also runs in-process (the test suite uses it).

Model discovery, in order:

1. ``file.py::Name`` targets, if given: a class (built with no arguments), a
   zero-argument function returning a module, or a module-level instance;
2. otherwise every module-level ``nn.Module`` instance, every public
   ``nn.Module`` subclass defined in the file whose constructor needs no
   arguments, and the models returned by a module-level ``bnlint_models()``
   hook (``{name: model}`` or ``{name: (model, example_inputs)}``; a model
   may be a zero-argument callable instead, built on its own so that one
   failure is one BN001 for that model), for models that need arguments. A class found
   only as a building block of another discovered model (a ``ResBlock`` inside
   a ``ResNet``) is not reported on its own.

Example inputs (for the shape rules) come from ``--input-shape`` (the job's
``inputs``), else the hook's tuples, else a module-level ``example_inputs``: a
tensor, a shape, a tuple of them, or a zero-argument callable returning one.

Models are built on the ``meta`` device (no weight memory); a file or a model
whose construction needs real data (``.item()``, ``.tolist()``) is retried
with only its parameters and buffers on meta (``__init__`` arithmetic runs
on real tensors), and only then on the CPU, with a note.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import inspect
import itertools
import os
import sys
import traceback
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from bnlint.engine.registry import all_rules, get_rule
from bnlint.engine.rule import Rule
from bnlint.engine.runner import run_model_rules
from bnlint.findings import FileResult, Location, display_path
from bnlint.inputs import InputSpec
from bnlint.model.context import build_context, needs_of
from bnlint.model.guest import guest
from bnlint.model.server import serve
from bnlint.model.shapes import meta_kernels_called_directly, spec_from_value
from bnlint.model.sites import SiteRecorder, is_library_file

HOOK = "bnlint_models"
EXAMPLE_INPUTS = "example_inputs"
_counter = itertools.count()


@dataclass
class Candidate:
    """Something that is, or builds, a model.

    ``kind``: ``instance`` (already built), ``class`` (an auto-discovered
    zero-argument class), ``factory`` (a ``file.py::Name`` class or function),
    ``hook`` (``bnlint_models()``, which builds several)."""

    name: str
    kind: str
    build: Callable[[], Any] | None = None
    instance: Any = None
    anchor: Location | None = None
    inputs: Any = None  # example inputs declared with the model (hook tuples)


# -- locations in the user's file -------------------------------------------
def _top_level_lines(path: str) -> dict[str, int]:
    """Line of each top-level class, function and assigned name."""
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return {}
    lines: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            lines.setdefault(node.name, node.lineno)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    lines.setdefault(t.id, node.lineno)
    return lines


def _error_location(exc: BaseException, path: str) -> Location:
    """The innermost frame of the user's file (else any user file) in a
    traceback; the start of the file when there is none."""
    in_file = in_user = None
    real = os.path.realpath(path)
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return Location(exc.filename, exc.lineno, exc.offset or 1)
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        fname = frame.f_code.co_filename
        if os.path.realpath(fname) == real:
            in_file = Location(fname, lineno)
        elif not is_library_file(fname) and os.path.exists(fname):
            in_user = Location(fname, lineno)
    return in_file or in_user or Location(path, 1)


def describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- importing ----------------------------------------------------------------
def _module_name(path: str) -> tuple[str, str]:
    """(module name, sys.path entry). A file inside a package (directories
    with ``__init__.py``) is imported by its dotted name so relative imports
    work; a loose file gets a private name, never ``__main__``."""
    path = os.path.realpath(path)
    directory, filename = os.path.split(path)
    stem = os.path.splitext(filename)[0]
    parts = [] if stem == "__init__" else [stem]
    root = directory
    while os.path.isfile(os.path.join(root, "__init__.py")):
        parts.insert(0, os.path.basename(root))
        root = os.path.dirname(root)
    if len(parts) > 1 or (stem == "__init__" and parts):
        return ".".join(parts), root
    return f"_bnlint_target_{next(_counter)}_{stem}", directory


def import_file(path: str):
    name, entry = _module_name(path)
    if entry not in sys.path:
        sys.path.insert(0, entry)
    if not name.startswith("_bnlint_target_"):
        sys.modules.pop(name, None)  # re-import (e.g. the CPU retry)
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _is_definition(stmt: ast.stmt) -> bool:
    """Imports, classes, functions, and names bound to constants."""
    if isinstance(stmt, _DEFINITIONS):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        try:
            ast.literal_eval(stmt.value)
            return True
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
    if isinstance(stmt, ast.Try):  # try: import x / except ImportError: ...
        return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) for s in stmt.body)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):  # docstrings
        return True
    return False


def import_definitions(path: str):
    """Import only the file's definitions -- imports, classes, functions,
    constants -- and none of its other statements (a log file opened, a
    training loop started). Line numbers stay the file's."""
    name, entry = _module_name(path)
    if entry not in sys.path:
        sys.path.insert(0, entry)
    if "." in name:
        importlib.import_module(name.rpartition(".")[0])  # the package, for relative imports
    with open(path, "rb") as fh:
        tree = ast.parse(fh.read(), filename=path)
    tree.body = [s for s in tree.body if _is_definition(s)]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(compile(tree, path, "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def is_meta_limitation(exc: BaseException) -> bool:
    """The build failed because of the meta device (``.item()``, a data
    copy, an op without a meta kernel), not because of the user's code: the
    one case where building again on the CPU is worth it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc).lower()
        if "meta" in text and ("tensor" in text or "device" in text or "kernel" in text):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextlib.contextmanager
def user_code(path: str):
    """What running a user's file at import needs: their argv is not ours,
    stdin is closed, output goes to stderr, warnings are quiet."""
    saved_argv = sys.argv
    sys.argv = [path]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(sys.stderr):
                yield
    finally:
        sys.argv = saved_argv


@contextlib.contextmanager
def _on_device(meta: bool):
    import torch

    if not meta:
        yield
        return
    with torch.device("meta"), _no_init_on_meta():
        yield


@contextlib.contextmanager
def _empty_weights():
    """Build with parameters and buffers moved to the meta device as they are
    registered (the way ``accelerate.init_empty_weights`` does), while every
    other tensor ``__init__`` creates stays real: ``torch.arange(...).tolist()``
    and other ``__init__`` arithmetic keep working, and no weight is kept."""
    import torch.nn as nn

    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(module, name, param):
        register_parameter(module, name, param)
        param = module._parameters.get(name)
        if param is not None and not param.is_meta:
            try:
                module._parameters[name] = type(param)(param.to("meta"), requires_grad=param.requires_grad)
            except Exception:  # noqa: BLE001 -- a Parameter subclass with its own constructor
                module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    def buffer(module, name, tensor, persistent=True):
        register_buffer(module, name, tensor, persistent)
        tensor = module._buffers.get(name)
        if tensor is not None and not tensor.is_meta:
            module._buffers[name] = tensor.to("meta")

    nn.Module.register_parameter = parameter  # type: ignore[method-assign]
    nn.Module.register_buffer = buffer  # type: ignore[method-assign]
    try:
        with _no_init_on_meta():
            yield
    finally:
        nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]
        nn.Module.register_buffer = register_buffer  # type: ignore[method-assign]


# torch.nn.init's in-place initializers; those that read a weight's fans first
_INITS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
          "orthogonal_", "sparse_")
_FAN_INITS = ("xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")


@contextlib.contextmanager
def _no_init_on_meta():
    """``torch.nn.init`` leaves a meta tensor as it is, for the build: a
    meta tensor has no values to fill, and filling it runs torch's Python
    decompositions (a quarter of building a 4,000-block Conv-BN stack on
    meta: 0.89 -> 0.68 s). Exact: a real tensor is initialized as ever, and an initializer
    that computes a weight's fans still raises where it would (a 1-D weight
    in ``kaiming_uniform_``)."""
    import torch.nn.init as init

    saved = {name: getattr(init, name) for name in (*_INITS, *_FAN_INITS) if hasattr(init, name)}

    def skip(name, original):
        fans = name in _FAN_INITS

        @functools.wraps(original)
        def initializer(tensor, *args, **kwargs):
            if getattr(tensor, "is_meta", False):
                if fans:
                    init._calculate_fan_in_and_fan_out(tensor)
                return tensor
            return original(tensor, *args, **kwargs)

        return initializer

    for name, original in saved.items():
        setattr(init, name, skip(name, original))
    try:
        yield
    finally:
        for name, original in saved.items():
            setattr(init, name, original)


# -- discovery ----------------------------------------------------------------
def _required_params(obj: Callable) -> list[str]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ["?"]
    return [
        p.name
        for p in sig.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def discover(module, path: str, targets: list[str] | None) -> tuple[list[Candidate], list[str], list[str]]:
    """Candidates to build, usage errors for targets that do not exist, and
    the model classes left out because their constructor needs arguments."""
    import torch.nn as nn

    lines = _top_level_lines(path)

    def anchor(name: str) -> Location:
        return Location(path, lines.get(name, 1))

    found: list[Candidate] = []
    errors: list[str] = []
    if targets:
        for target in targets:
            obj = getattr(module, target, None)
            if obj is None:
                errors.append(f"{display_path(path)} has no model named {target!r}")
            elif isinstance(obj, nn.Module):
                found.append(Candidate(target, "instance", instance=obj, anchor=anchor(target)))
            elif callable(obj):
                found.append(Candidate(target, "factory", build=obj, anchor=anchor(target)))
            else:
                errors.append(
                    f"{display_path(path)}::{target} is a {type(obj).__name__}, "
                    "not a model, a model class or a function returning one"
                )
        return found, errors, []

    seen_instances: set[int] = set()
    for name, obj in vars(module).items():
        if isinstance(obj, nn.Module) and not name.startswith("_") and id(obj) not in seen_instances:
            seen_instances.add(id(obj))
            found.append(Candidate(name, "instance", instance=obj, anchor=anchor(name)))
    needing_args: list[str] = []
    for name, obj in vars(module).items():
        if (
            inspect.isclass(obj)
            and issubclass(obj, nn.Module)
            and obj.__module__ == module.__name__
            and not name.startswith("_")
            and not inspect.isabstract(obj)
        ):
            if _required_params(obj):
                needing_args.append(name)
            else:
                found.append(Candidate(name, "class", build=obj, anchor=anchor(name)))
    hook = getattr(module, HOOK, None)
    if callable(hook):
        found.append(Candidate(HOOK, "hook", build=hook, anchor=anchor(HOOK)))
    return found, errors, needing_args


def _drop_components(built: list[tuple[Candidate, Any]]) -> list[tuple[Candidate, Any]]:
    """Auto-discovered classes that are building blocks of another model (or
    that a module-level instance already covers) are not reported twice."""
    inner: set[type] = set()
    instance_types: set[type] = set()
    for cand, model in built:
        if cand.kind != "class":
            instance_types.add(type(model))
        inner.update(type(m) for m in list(model.modules())[1:])
    return [
        (cand, model)
        for cand, model in built
        if cand.kind != "class" or (cand.build not in inner and cand.build not in instance_types)
    ]


def expand_hook(value: Any, cand: Candidate) -> tuple[list[tuple[Candidate, Any]], list[str]]:
    """``bnlint_models()``'s dict -> (candidate, model) pairs, and problems."""
    import torch.nn as nn

    if not isinstance(value, dict):
        return [], [f"{HOOK}() must return a dict of name -> nn.Module, not {type(value).__name__}"]
    pairs, problems = [], []
    for key, entry in value.items():
        model, declared = entry, None
        if isinstance(entry, tuple) and entry:
            model, declared = entry[0], (entry[1] if len(entry) > 1 else None)
        if isinstance(model, nn.Module):
            pairs.append((Candidate(str(key), "instance", instance=model, anchor=cand.anchor, inputs=declared), model))
        elif callable(model):  # built lazily, each on its own: one failure is that model's BN001
            pairs.append((Candidate(str(key), "factory", build=model, anchor=cand.anchor, inputs=declared), None))
        else:
            problems.append(f"{HOOK}()[{key!r}] is a {type(model).__name__}, not an nn.Module")
    return pairs, problems


# -- the whole file -------------------------------------------------------------
def analyze_file(
    path: str,
    *,
    targets: list[str] | None = None,
    rules: Iterable[type[Rule]] | None = None,
    inputs: InputSpec | None = None,
    batch_size: int | None = None,
    progress: Callable[[str], None] = lambda stage: None,
) -> FileResult:
    """Import one file as a guest (:mod:`bnlint.model.guest`), build its
    models, analyze each. Every failure of the user's code is a BN001 finding."""
    rules = list(rules) if rules is not None else [r for r in all_rules() if not r.opt_in]
    return _FileAnalysis(path, targets, rules, inputs, batch_size, progress).run()


class _FileAnalysis:
    def __init__(self, path, targets, rules, inputs, batch_size, progress, freeze_built: bool = False) -> None:
        self.path, self.targets, self.rules = path, targets, rules
        self.inputs, self.batch_size, self.progress = inputs, batch_size, progress
        self.freeze_built = freeze_built  # see _GC_THRESHOLD
        self.shown = display_path(path)  # in messages; findings keep the real path
        self.result = FileResult(path)
        self.recorder = SiteRecorder()
        self.bn001 = get_rule("BN001")

    def not_analyzable(self, message: str, exc: BaseException | None, model: str | None = None,
                       at: Location | None = None) -> None:
        loc = _error_location(exc, self.path) if exc is not None else (at or Location(self.path, 1))
        self.result.findings.append(
            self.bn001.make(message, path=loc.path, line=loc.line, col=loc.col, model=model)
        )

    def run_user(self, fn: Callable[[], Any], what: str) -> tuple[Any, BaseException | None]:
        """Run ``fn`` on the meta device; only when that fails because of the
        meta device (not the user's code), once more on the CPU."""
        try:
            with user_code(self.path), self.recorder.recording(), _on_device(True):
                return fn(), None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 -- user code may raise anything
            if not is_meta_limitation(exc):
                return None, exc
            meta_exc = exc
        try:  # parameters and buffers on meta, the rest of __init__'s tensors real
            with user_code(self.path), self.recorder.recording(), _empty_weights():
                value = fn()
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            if not is_meta_limitation(exc):
                return None, exc
        else:
            self.result.notes.append(
                f"{what} on the CPU: it fails on the meta device ({describe_exception(meta_exc)}); "
                "its parameters and buffers were put on meta as they were registered (no weight memory)"
            )
            return value, None
        try:
            with user_code(self.path), self.recorder.recording(), _on_device(False):
                value = fn()
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            return None, exc
        self.result.notes.append(
            f"{what} on the CPU: it fails on the meta device ({describe_exception(meta_exc)})"
        )
        return value, None

    def run(self) -> FileResult:
        with guest() as refused:
            try:
                self._run(refused)
            finally:
                if refused:
                    more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
                    self.result.notes.append(
                        "; ".join(r.describe() for r in refused[:3]) + more
                        + " (checked code may not change files, start processes or open connections)"
                    )
        return self.result

    def _import(self, refused) -> Any:
        self.progress("importing")
        module, exc = self.run_user(lambda: import_file(self.path), f"{self.shown}: imported")
        if exc is not None and refused:
            # A statement of the file wanted something refused: its models may
            # still be analyzable from its definitions alone.
            module, exc = self.run_user(lambda: import_definitions(self.path), f"{self.shown}: imported")
            if exc is None:
                self.result.notes.append(
                    f"{self.shown}: analyzed from its definitions only (imports, classes, functions, "
                    "constants), not its other statements"
                )
        if exc is not None:
            self.not_analyzable(f"cannot import {self.shown}: {describe_exception(exc)}", exc)
            return None
        return module

    def _build(self, candidates) -> list[tuple[Candidate, Any]]:
        import torch.nn as nn

        built: list[tuple[Candidate, Any]] = []
        for cand in candidates:
            if cand.kind == "instance":
                built.append((cand, cand.instance))
                continue
            self.progress(f"building {cand.name}")
            obj, exc = self.run_user(cand.build, f"{self.shown}::{cand.name}: built")
            if exc is not None:
                self.not_analyzable(f"cannot build model {cand.name!r}: {describe_exception(exc)}", exc, cand.name)
                continue
            if cand.kind == "hook":
                pairs, problems = expand_hook(obj, cand)
                lazy = [c for c, model in pairs if model is None]
                built.extend((c, model) for c, model in pairs if model is not None)
                built.extend(self._build(lazy))
                for problem in problems:
                    self.not_analyzable(problem, None, at=cand.anchor)
                continue
            if not isinstance(obj, nn.Module):
                self.not_analyzable(f"{cand.name}() returned a {type(obj).__name__}, not an nn.Module",
                                    None, cand.name, at=cand.anchor)
                continue
            built.append((cand, obj))
        return built

    def _spec_for(self, cand: Candidate, file_inputs) -> InputSpec | None:
        if self.inputs is not None:
            return self.inputs.with_batch(self.batch_size)
        for value, origin in ((cand.inputs, f"{HOOK}()[{cand.name!r}]"), (file_inputs, EXAMPLE_INPUTS)):
            if value is None:
                continue
            spec, exc = self.run_user(lambda: spec_from_value(value, origin), f"{self.shown}: {origin} evaluated")
            if exc is None:
                return spec.with_batch(self.batch_size)
            self.result.notes.append(f"{self.shown}: {origin} ignored: {describe_exception(exc)}")
        return None

    def _run(self, refused) -> None:
        module = self._import(refused)
        if module is None:
            return
        result = self.result
        candidates, result.usage_errors, needing_args = discover(module, self.path, self.targets)
        built = self._build(candidates)
        if self.freeze_built:
            import gc

            gc.freeze()
        inside = {type(m) for _, model in built for m in model.modules()}
        for name in needing_args:  # building blocks of a checked model are checked with it
            if getattr(module, name) not in inside:
                result.notes.append(
                    f"{self.shown}::{name} not checked: its constructor needs arguments; build it in a "
                    f"`def {HOOK}(): return {{{name!r}: {name}(...)}}` function in the file"
                )
        analyzed = _drop_components(built)
        file_inputs = getattr(module, EXAMPLE_INPUTS, None)
        needs = needs_of(self.rules)
        for cand, model in analyzed:
            self.progress(f"analyzing {cand.name}")
            spec = self._spec_for(cand, file_inputs)
            if spec is None:
                result.no_inputs.append(f"{self.shown}::{cand.name}")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ctx = build_context(
                        model, cand.name, sites=self.recorder, anchor=cand.anchor, inputs=spec, needs=needs,
                    )
            except Exception as exc:  # noqa: BLE001 -- e.g. a user train() override that raises
                self.not_analyzable(f"cannot analyze model {cand.name!r}: {describe_exception(exc)}", exc, cand.name)
                continue
            if ctx.shapes is not None and ctx.shapes.error:
                result.notes.append(
                    f"{self.shown}::{cand.name}: shape rules skipped, the forward fails on inputs "
                    f"{spec.describe()} ({ctx.shapes.error})"
                )
            result.notes.extend(f"{self.shown}::{cand.name}: {note}" for note in ctx.notes)
            findings, errors = run_model_rules(ctx, self.rules)
            if _analyzed_nothing(ctx.graph):
                # Not one forward could be traced or run: the graph rules saw
                # nothing, which is BN001, not a partial analysis.
                findings = [f for f in findings if f.code != "BN002"]
                op = ctx.graph.opaque[0]
                why = op.reason + (f" at {display_path(op.where.path)}:{op.where.line}" if op.where else "")
                if op.run_failure:
                    why += f"; running it on meta tensors failed too ({op.run_failure})"
                self.not_analyzable(
                    f"the forward of model {cand.name!r} could not be traced at all ({why}); "
                    "only the module-level rules ran", None, cand.name, at=op.where or cand.anchor,
                )
            result.findings.extend(findings)
            result.internal_errors.extend(str(e) for e in errors)
            result.models.append(cand.name)
        result.findings = _with_site_counts(result.findings, [model for _, model in analyzed], self.recorder)


def _analyzed_nothing(graph) -> bool:
    """Some forward failed and no piece of the model got a graph with a
    module call in it."""
    if not graph.opaque:
        return False
    return not any(node.op == "call_module" for frag in graph.fragments for node in frag.graph.nodes)


def _with_site_counts(findings, models, recorder: SiteRecorder):
    """Record on each module finding how many modules of the file's analyzed
    models were constructed at its location (``extra["site_modules"]``): a
    source edit at that call is exact only when every one of them has the
    finding (a ``make_layers(cfg)`` loop builds many layers at one line)."""
    counts: dict[tuple, int] = {}
    seen: set[int] = set()
    for model in models:
        for m in model.modules():
            if id(m) in seen:
                continue
            seen.add(id(m))
            loc = recorder.site(m)
            if loc is not None:
                key = (loc.path, loc.line, loc.col)
                counts[key] = counts.get(key, 0) + 1
    out = []
    for f in findings:
        n = counts.get((f.path, f.line, f.col)) if f.module is not None else None
        out.append(f.with_(extra={**f.extra, "site_modules": n}) if n else f)
    return out


# -- the process ----------------------------------------------------------------
# Collections of the youngest generation every 100,000 allocations, not 700,
# and the models, once built, out of every later collection (gc.freeze): a
# model of thousands of modules allocates millions of objects while it is
# built and traced, and with the default the collector took a third of the
# time, more per module the bigger the model (benchmarks/scale.py; 4,000
# Conv-BN-ReLU blocks: 0.20 s collecting at 20,000 without the freeze, 0.07 s
# now). Set for the jobs of the analysis server (whose children exit after
# their file), never in a process of the user's (analyze_file in-process
# keeps theirs).
_GC_THRESHOLD = (100_000, 10, 10)


def _analyze_job(job: dict, progress: Callable[[str], None]) -> dict:
    import gc

    gc.set_threshold(*_GC_THRESHOLD)
    try:
        rules = [get_rule(code) for code in job["rules"]]
        analysis = _FileAnalysis(
            job["path"], job.get("targets"), [r for r in rules if r is not None],
            InputSpec.from_json(job["inputs"]) if job.get("inputs") else None,
            job.get("batch_size"), progress, freeze_built=True,
        )
        result = analysis.run()
        # what this child had to load that the server could load for the next ones: torch's
        # meta-kernel machinery, which the server (never having run a model on meta) has not
        loaded = any(name in sys.modules for name in _SHAPE_MACHINERY)
        return {**result.to_json(), "warm": ["shapes"] if loaded else []}
    except BaseException as exc:  # noqa: BLE001 -- report, never die silently
        return FileResult(job["path"], internal_errors=[
            "".join(traceback.format_exception(exc)).rstrip()
        ]).to_json()


def warm_up() -> None:
    """Everything a child would otherwise load or build on its first file,
    done once in the fork server: a whole analysis of bnlint's own probe
    model (:mod:`bnlint.model.warmup`), every rule, no example inputs."""
    from bnlint.model.warmup import analyze_probe

    analyze_probe(lambda path: analyze_file(path, rules=all_rules()))


# What torch loads on the first run of most ops on meta tensors: their Python
# kernels import sympy (type promotion, torch._check), and are wrapped to
# disable torch._dynamo, which the server has made import nothing
# (shapes.meta_kernels_called_directly); a fake-tensor run still imports it.
_SHAPE_MACHINERY = ("sympy", "torch._dynamo")


def warm_up_shapes() -> None:
    """The meta-kernel machinery a shape run loads (about a second and 70 MB
    on first use): loaded in the server when the run has example inputs or
    once a child has needed it, so that runs without never pay for it."""
    from bnlint.model.warmup import PROBE_INPUTS, analyze_probe

    analyze_probe(lambda path: analyze_file(path, rules=all_rules(), inputs=PROBE_INPUTS))


WARM_UPS = {"shapes": warm_up_shapes}


def main(fork: bool = hasattr(os, "fork")) -> None:
    """The fork server (:func:`bnlint.model.server.serve`), warmed up; what
    the parent names on the command line (``python -c ... shapes``) it loads
    while the first file is analyzed."""
    meta_kernels_called_directly()
    warm_up()
    serve(_analyze_job, WARM_UPS, fork=fork, warm_now=sys.argv[1:])


if __name__ == "__main__":
    main()
