"""Source fixes: findings -> exact edits of the user's files, with libcst.

    plan = plan_fixes(findings, unsafe=False)   # reads files, writes nothing
    plan.diff()      # a unified diff (a/ b/ paths relative to the cwd); "" when nothing to fix
    plan.write()     # apply in place; returns the files written
    plan.applied     # [(finding, what was done)]
    plan.skipped     # [(finding, why no edit was made)]
    plan.withheld    # [finding]: unsafe fixes, planned only with unsafe=True

The edits (libcst keeps comments and formatting; each is idempotent):

=======  ======  ==============================================================
code     safety  edit at the finding's call
=======  ======  ==============================================================
BN101    safe    ``bias=False`` on the Conv*/ConvTranspose*/Linear construction
BN203    safe    ``training=self.training`` on ``F.dropout*(...)`` in a method
BN202    unsafe  ``nn.Dropout`` -> ``nn.Dropout2d``/``3d`` (``extra["rank"]``)
BN103    unsafe  ``momentum=m`` -> ``momentum=1 - m`` (a literal)
BN301/2  unsafe  ``nn.BatchNorm*d(C, ...)`` -> ``nn.GroupNorm(g, C, ...)``
=======  ======  ==============================================================

Never the wrong line. A finding says where its call starts (line, and a
1-based column counted in UTF-8 bytes, as CPython and ``ast`` count them); the
edit is made only on a call of the expected kind that starts exactly there,
resolved through the file's imports (``nn.Conv2d`` is ``torch.nn.Conv2d``).
Anything else is skipped with a reason.

One call, many modules. A model finding is about one module, but the edit is
to the call that built it, and that call may build several (a
``make_layers(cfg)`` loop, a block class instantiated ten times). The edit is
exact only when every module the call built has the finding: findings are
grouped by (code, path, line, col) and the group's distinct (model, module)
pairs must number ``extra["site_modules"]``, the analysis' count of modules
built at that call. Without that count, or with more modules than findings,
the fix is skipped and says why. BN203 is exempt: its edit is to a line of
``forward``, which every module running it shares, and its finding comes
from reading that line.

GroupNorm groups (BN301/BN302): ``extra["groups"]`` when the analysis gives
it; otherwise, with the channel count C (a literal at the call, or
``extra["num_features"]``), ``g = gcd(32, C)`` -- the rule of Wu & He and
Opacus -- halved when it would leave one channel per group (C a power of two
up to 32: ``GroupNorm(C, C)`` on an ``(N, C)`` input normalizes single values
and outputs zeros), so every group always holds at least two channels. C = 1
has no such g and is skipped.

Imports libcst and the stdlib only (no torch).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tempfile
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable

import libcst as cst

from bnlint.findings import Finding, FixSafety, display_path
from bnlint.fix import _cst
from bnlint.fix._index import (
    BIAS_POSITION,
    BN_PARAMS,
    GN_SWAPPABLE,
    Index,
    Prepared,
    SITE_EXEMPT,
    Skip,
    decoded,
)
from bnlint.model import layers

# -- what each code's call must be --------------------------------------------

_GN_KEEPS = {"eps", "affine", "device", "dtype"}  # BN keywords GroupNorm has too
_GN_DROPS = {"momentum", "track_running_stats", "process_group"}  # BN-only
_SAFETY = {
    "BN101": FixSafety.SAFE,
    "BN203": FixSafety.SAFE,
    "BN202": FixSafety.UNSAFE,
    "BN103": FixSafety.UNSAFE,
    "BN301": FixSafety.UNSAFE,
    "BN302": FixSafety.UNSAFE,
}


def groupnorm_groups(channels: int) -> int | None:
    """The group count for ``GroupNorm(g, C)`` replacing a BatchNorm of C
    channels when the input's spatial size is unknown: every group keeps at
    least two channels (see :func:`bnlint.model.layers.groupnorm_groups`)."""
    return layers.groupnorm_groups(channels, spatial=1)


def flip_momentum(text: str) -> str | None:
    """``"0.9"`` -> ``"0.1"``: 1 - m computed in decimal, so the result is as
    exact as the literal (no ``0.09999999999999998``); None when the text is
    no number."""
    try:
        m = Decimal(text.replace("_", ""))
    except InvalidOperation:
        return None
    out = format((Decimal(1) - m).normalize(), "f")
    return out if "." in out else out + ".0"


# -- the plan --------------------------------------------------------------------


@dataclasses.dataclass
class _FilePlan:
    path: str
    before: bytes
    after: bytes
    findings: list[Finding]


@dataclasses.dataclass
class SourceFixPlan:
    """What :func:`plan_fixes` would change, before anything is written."""

    applied: list[tuple[Finding, str]] = dataclasses.field(default_factory=list)
    skipped: list[tuple[Finding, str]] = dataclasses.field(default_factory=list)
    withheld: list[Finding] = dataclasses.field(default_factory=list)  # unsafe, not asked for
    files: dict[str, _FilePlan] = dataclasses.field(default_factory=dict)

    def diff(self, start: str | None = None) -> str:
        """A unified diff of every change, paths relative to ``start`` (default
        the working directory) under ``a/`` and ``b/``; "" when nothing changes."""
        out: list[str] = []
        for path in sorted(self.files):
            fp = self.files[path]
            rel = display_path(path, start).replace(os.sep, "/").lstrip("/")
            before = decoded(fp.before).splitlines(keepends=True)
            after = decoded(fp.after).splitlines(keepends=True)
            for line in difflib.unified_diff(before, after, f"a/{rel}", f"b/{rel}"):
                out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)

    def write(self) -> list[str]:
        """Apply the plan in place and return the files written. A file that
        changed after planning is left alone: its findings move to ``skipped``."""
        written = []
        for path in sorted(self.files):
            fp = self.files[path]
            try:
                with open(path, "rb") as fh:
                    now = fh.read()
            except OSError as exc:
                self._unplan(fp, f"not written: {exc.strerror or exc}")
                continue
            if now != fp.before:
                self._unplan(fp, "not written: the file changed after the fixes were planned")
                continue
            try:
                _write_atomic(path, fp.after)
            except OSError as exc:
                self._unplan(fp, f"not written: {exc.strerror or exc}")
                continue
            written.append(path)
        for path in written:
            del self.files[path]
        return written

    def _unplan(self, fp: _FilePlan, why: str) -> None:
        ids = {id(f) for f in fp.findings}
        self.skipped.extend((f, why) for f, _ in self.applied if id(f) in ids)
        self.applied = [(f, what) for f, what in self.applied if id(f) not in ids]
        del self.files[fp.path]


def _write_atomic(path: str, data: bytes) -> None:
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bnlint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        mode = os.stat(path).st_mode
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- planning --------------------------------------------------------------------


def fixable(f: Finding) -> bool:
    """Whether :func:`plan_fixes` may plan a source edit for ``f``."""
    return f.code in _SAFETY and f.fix is not None and bool(f.path)


def plan_fixes(findings: Iterable[Finding], unsafe: bool = False, prepared: Prepared | None = None) -> SourceFixPlan:
    """Plan the source edits for ``findings``; nothing is written.

    Findings without a fix, or of a code with no source edit, are ignored;
    unsafe fixes without ``unsafe=True`` go to ``withheld``. Every other
    finding ends in ``applied`` or ``skipped`` (with the reason)."""
    plan = SourceFixPlan()
    groups: dict[tuple, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.code not in _SAFETY or f.fix is None:
            continue
        if (_SAFETY[f.code] is FixSafety.UNSAFE or f.fix_safety is FixSafety.UNSAFE) and not unsafe:
            plan.withheld.append(f)
            continue
        if not f.path or not f.line:
            plan.skipped.append((f, "the finding has no source location"))
            continue
        groups[(f.code, os.path.realpath(f.path), f.line, f.col or 1)].append(f)

    by_file: dict[str, list[tuple[tuple, list[Finding]]]] = defaultdict(list)
    for key, group in groups.items():
        why = None if key[0] in SITE_EXEMPT else _site_problem(key[0], group)
        if why is not None:
            plan.skipped.extend((f, why) for f in group)
        else:
            by_file[key[1]].append((key, group))
    if prepared is not None:
        prepared.finish()
    for path in sorted(by_file):
        _plan_file(path, by_file[path], plan, prepared)
    return plan


def _site_problem(code: str, group: list[Finding]) -> str | None:
    """Why one edit at this call would not be exact for every module it built."""
    counts = {f.extra.get("site_modules") for f in group}
    modules = {(f.model, f.module) for f in group}
    if None in counts:
        return (
            "the analysis did not say how many modules this call builds (no site_modules): "
            "if it runs in a loop or a helper that also builds layers without the problem, "
            "one edit here would change those too; fix it by hand"
        )
    if len(counts) > 1 or not all(isinstance(c, int) for c in counts):
        return f"the findings disagree on how many modules this call builds ({sorted(map(str, counts))})"
    (count,) = counts
    if count > len(modules):
        return (
            f"this call builds {count} modules and only {len(modules)} of them have {code}: it runs "
            "in a loop or a helper (make_layers(cfg)) that also builds layers without the problem, "
            "so no edit of this one line is right for all of them; fix it by hand"
        )
    if count < len(modules):
        return f"{len(modules)} findings for a call that builds {count} modules: stale findings?"
    return None


def _plan_file(path: str, groups: list[tuple[tuple, list[Finding]]], plan: SourceFixPlan,
               prepared: Prepared | None = None) -> None:
    def skip_all(why: str) -> None:
        for _, group in groups:
            plan.skipped.extend((f, why) for f in group)

    try:
        with open(path, "rb") as fh:
            before = fh.read()
    except OSError as exc:
        skip_all(f"cannot read {display_path(path)}: {exc.strerror or exc}")
        return
    index = prepared.take(path, before) if prepared is not None else None
    if index is None:
        try:
            module = cst.parse_module(before)
        except (cst.ParserSyntaxError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            skip_all(f"{display_path(path)} does not parse ({first}): changed since the analysis?")
            return
        try:
            index = Index(module, before)
        except RecursionError:
            skip_all(f"{display_path(path)} nests too deeply to edit")
            return

    edits = _Edits()
    placed: list[tuple[list[Finding], str, Any]] = []
    for (code, _, line, col), group in sorted(groups, key=lambda g: g[0]):
        try:
            call = index.locate(code, group, line, col)
            what = _PLANNERS[code](index, call, group, edits)
        except Skip as why:
            plan.skipped.extend((f, str(why)) for f in group)
            continue
        except Exception as exc:  # a fixer bug costs this fix, not the run
            why = f"internal error in the {code} fixer: {type(exc).__name__}: {exc}"
            plan.skipped.extend((f, why) for f in group)
            continue
        placed.append((group, what, call))

    # A call that becomes a GroupNorm has no momentum to flip.
    superseded = [p for p in placed if p[0][0].code == "BN103" and edits.swapped(p[2])]
    for group, _, call in superseded:
        edits.drop(call, "momentum")
        plan.skipped.extend(
            (f, "superseded: the same call becomes a GroupNorm (BN301/BN302), which has no momentum")
            for f in group
        )
    placed = [p for p in placed if not any(p is q for q in superseded)]
    if not placed:
        return
    try:
        after_module = index.wrapper.module.visit(_Apply(edits))
    except Exception as exc:  # a bug here must not cost the user a traceback
        why = f"internal error while editing {display_path(path)}: {type(exc).__name__}: {exc}"
        plan.skipped.extend((f, why) for group, _, _ in placed for f in group)
        return
    after = after_module.bytes
    fixed: list[Finding] = []
    for group, what, _ in placed:
        plan.applied.extend((f, what) for f in group)
        fixed.extend(group)
    if after != before:
        plan.files[path] = _FilePlan(path, before, after, fixed)


# -- edits -----------------------------------------------------------------------


@dataclasses.dataclass
class _Edits:
    """The planned edits of one file: per call (by identity in the original
    tree), named edit functions applied in order; names to add to imports."""

    calls: dict[int, dict[str, Callable[[cst.Call], cst.Call]]] = dataclasses.field(default_factory=dict)
    imports: dict[int, list[str]] = dataclasses.field(default_factory=dict)

    def add(self, call: cst.Call, name: str, edit: Callable[[cst.Call], cst.Call]) -> None:
        self.calls.setdefault(id(call), {}).setdefault(name, edit)

    def drop(self, call: cst.Call, name: str) -> None:
        self.calls.get(id(call), {}).pop(name, None)

    def swapped(self, call: cst.Call) -> bool:
        return "groupnorm" in self.calls.get(id(call), {})

    def add_import(self, node: cst.ImportFrom, name: str) -> None:
        names = self.imports.setdefault(id(node), [])
        if name not in names:
            names.append(name)


class _Apply(cst.CSTTransformer):
    def __init__(self, edits: _Edits) -> None:
        super().__init__()
        self.edits = edits

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        # Keyword edits first, then the ones that rename or rebuild the call.
        planned = self.edits.calls.get(id(original), {})
        for name in sorted(planned, key=lambda n: n in ("rename", "groupnorm")):
            updated = planned[name](updated)
        return updated

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        for name in self.edits.imports.get(id(original), []):
            updated = _cst.add_import_name(updated, name)
        return updated


def _plain_args(index: Index, call: cst.Call, what: str) -> None:
    if any(a.star for a in call.args):
        raise Skip(f"{index.code(call.func)}(...) passes *args or **kwargs: {what} may be in them")


def _literal(node: cst.BaseExpression) -> Any:
    """The value of a literal True/False/None/int/float; ``...`` otherwise."""
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.Integer):
        return int(node.value.replace("_", ""), 0)
    if isinstance(node, cst.Float):
        return float(node.value.replace("_", ""))
    return ...


def _find_arg(call: cst.Call, name: str, position: int | None) -> tuple[int, cst.Arg] | None:
    for i, a in enumerate(call.args):
        if a.keyword is not None and a.keyword.value == name:
            return i, a
    positional = [(i, a) for i, a in enumerate(call.args) if a.keyword is None and not a.star]
    if position is not None and position < len(positional):
        return positional[position]
    return None


def _set_value(i: int, value: cst.BaseExpression) -> Callable[[cst.Call], cst.Call]:
    def edit(call: cst.Call) -> cst.Call:
        args = list(call.args)
        args[i] = args[i].with_changes(value=value)
        return call.with_changes(args=args)

    return edit


def _where(index: Index, call: cst.Call) -> str:
    line, column = index.starts[call]
    return f"{line}:{column + 1}"


def _plan_bias(index: Index, call: cst.Call, group: list[Finding], edits: _Edits) -> str:
    cls = index.torch_class(call, BIAS_POSITION, subclasses=True)
    _plain_args(index, call, "bias")
    name = index.code(call.func)
    found = _find_arg(call, "bias", BIAS_POSITION[cls])
    if found is None:
        edits.add(call, "bias", lambda c: _cst.append_arg(c, _cst.keyword_arg("bias", cst.Name("False"))))
        return f"added bias=False to {name}(...) at {_where(index, call)}"
    i, arg = found
    value = _literal(arg.value)
    if value is False:
        raise Skip(f"nothing to change: {name}(...) already has bias=False")
    if value is not True:
        raise Skip(f"{name}(...) passes bias={index.code(arg.value)}, not a literal: set it to False where a BatchNorm follows")
    edits.add(call, "bias", _set_value(i, cst.Name("False")))
    return f"set bias=False in {name}(...) at {_where(index, call)}"


def _plan_training(index: Index, call: cst.Call, group: list[Finding], edits: _Edits) -> str:
    name = index.code(call.func)
    _plain_args(index, call, "training")
    if _find_arg(call, "training", 2) is not None:
        raise Skip(f"nothing to change: {name}(...) already passes training")
    _check_method_self(index, call)
    value = cst.Attribute(value=cst.Name("self"), attr=cst.Name("training"))
    edits.add(call, "training", lambda c: _cst.append_arg(c, _cst.keyword_arg("training", value)))
    return f"added training=self.training to {name}(...) at {_where(index, call)}"


def _params(node: cst.FunctionDef | cst.Lambda) -> list[str]:
    p = node.params
    names = [x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)]
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    return names


def _check_method_self(index: Index, call: cst.Call) -> None:
    """``self`` at ``call`` is the instance: the call is in a method whose
    first parameter is ``self`` (or in a function nested in one that does not
    rebind ``self``)."""
    node: cst.CSTNode = call
    while True:
        node = index.parents.get(node)
        if node is None or isinstance(node, (cst.Module, cst.ClassDef)):
            raise Skip("the call is not inside a method with self: no self.training to pass")
        if isinstance(node, cst.Lambda) and "self" in _params(node):
            raise Skip("self is a lambda parameter here, not the module")
        if not isinstance(node, cst.FunctionDef):
            continue
        if "self" not in _params(node):
            continue  # a nested function: self comes from the enclosing method
        positional = [*node.params.posonly_params, *node.params.params]
        block = index.parents.get(node)
        owner = index.parents.get(block) if block is not None else None
        decorators = {index.code(d.decorator) for d in node.decorators}
        if (
            not isinstance(owner, cst.ClassDef)
            or not positional
            or positional[0].name.value != "self"
            or decorators & {"staticmethod", "classmethod"}
        ):
            raise Skip("self here is not the first parameter of a method: no self.training to pass")
        return


def _plan_dropout_nd(index: Index, call: cst.Call, group: list[Finding], edits: _Edits) -> str:
    ranks = {f.extra.get("rank") for f in group}
    if ranks - {4, 5} or len(ranks) != 1:
        raise Skip(
            "the feature-map rank is not known (no rank from the analysis): cannot choose between "
            "nn.Dropout2d and nn.Dropout3d" if None in ranks else f"the findings disagree on the feature-map rank ({ranks})"
        )
    target = f"Dropout{ranks.pop() - 2}d"
    _plan_rename(index, call, "torch.nn.Dropout", target, edits)
    return f"replaced {index.code(call.func)} with {target} at {_where(index, call)}"


def _plan_rename(index: Index, call: cst.Call, qualified: str, target: str, edits: _Edits) -> None:
    """Plan ``nn.X(...)`` -> ``nn.Target(...)`` the way the user spelled the
    prefix; a bare imported name is renamed and ``Target`` imported next to it."""
    func = call.func
    if isinstance(func, cst.Attribute):
        if qualified not in index.qnames.get(call, set()):  # torch.nn.modules.dropout.Dropout
            raise Skip(f"{index.code(func)} is spelled through torch.nn.modules: write torch.nn.{target} by hand")
        edits.add(call, "rename", lambda c: c.with_changes(func=c.func.with_changes(attr=cst.Name(target))))
        return
    if not isinstance(func, cst.Name):
        raise Skip(f"{index.code(func)}(...) is not a plain name or attribute")
    scope = index.scopes.get(func)
    if scope is None:
        raise Skip(f"cannot tell where {func.value} comes from")
    bound = {q.name for q in scope.get_qualified_names_for(target)}
    if bound == {f"torch.nn.{target}"}:
        edits.add(call, "rename", lambda c: c.with_changes(func=cst.Name(target)))
        return
    if bound:
        raise Skip(f"{target} already names something else here ({', '.join(sorted(bound))})")
    importer = None
    for assignment in scope[func.value]:
        node = getattr(assignment, "node", None)
        if isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
            mod = index.code(node.module) if node.module is not None else ""
            unaliased = any(a.asname is None and index.code(a.name) == func.value for a in node.names)
            if mod == "torch.nn" and not node.relative and unaliased:
                importer = node
    if importer is None:
        raise Skip(f"{func.value} is not imported as `from torch.nn import {func.value}`: cannot add {target} next to it")
    edits.add_import(importer, target)
    edits.add(call, "rename", lambda c: c.with_changes(func=cst.Name(target)))


def _plan_momentum(index: Index, call: cst.Call, group: list[Finding], edits: _Edits) -> str:
    cls = index.torch_class(call, BN_PARAMS, subclasses=True)
    _plain_args(index, call, "momentum")
    name = index.code(call.func)
    found = _find_arg(call, "momentum", BN_PARAMS[cls].index("momentum"))
    if found is None:
        raise Skip(f"{name}(...) passes no momentum: it is set elsewhere (a default, an attribute)")
    i, arg = found
    value = _literal(arg.value)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise Skip(f"{name}(...) passes momentum={index.code(arg.value)}, not a number literal")
    known = {f.extra.get("momentum") for f in group} - {None}
    if known and any(abs(float(k) - value) > 1e-9 for k in known):
        raise Skip(f"the source says momentum={index.code(arg.value)} but the model had {sorted(known)}: changed since the analysis?")
    if value <= 0.5:
        raise Skip(f"nothing to change: momentum={index.code(arg.value)} is not above 0.5")
    if value >= 1:
        raise Skip(f"momentum={index.code(arg.value)}: 1 - m = 0 would freeze the running statistics; choose a value by hand")
    flipped = flip_momentum(arg.value.value)  # type: ignore[union-attr]
    if flipped is None:
        raise Skip(f"cannot read momentum={index.code(arg.value)}")
    edits.add(call, "momentum", _set_value(i, cst.Float(flipped)))
    return f"set momentum={flipped} (was {index.code(arg.value)}) in {name}(...) at {_where(index, call)}"


def _plan_groupnorm(index: Index, call: cst.Call, group: list[Finding], edits: _Edits) -> str:
    cls = index.torch_class(call, GN_SWAPPABLE)
    _plain_args(index, call, "the BatchNorm arguments")
    name = index.code(call.func)
    params = BN_PARAMS[cls]
    named: list[tuple[str, int]] = []  # (BatchNorm parameter, index in call.args)
    positional = 0
    for i, a in enumerate(call.args):
        if a.keyword is None:
            if positional >= len(params):
                raise Skip(f"{name}(...) has more positional arguments than {cls} takes")
            named.append((params[positional], i))
            positional += 1
        else:
            named.append((a.keyword.value, i))
    unknown = [p for p, _ in named if p not in _GN_KEEPS | _GN_DROPS | {"num_features"}]
    if unknown:
        raise Skip(f"{name}(...) passes {', '.join(unknown)}, which GroupNorm has no place for")
    channels_at = next((i for p, i in named if p == "num_features"), None)
    if channels_at is None:
        raise Skip(f"{name}(...) has no num_features argument")
    channels = _literal(call.args[channels_at].value)
    known = {f.extra.get("num_features") for f in group} - {None}
    if not isinstance(channels, int) or isinstance(channels, bool):
        channels = known.pop() if len(known) == 1 else None
    elif known and known != {channels}:
        raise Skip(f"the source says {channels} channels but the model had {sorted(known)}: changed since the analysis?")
    given = {f.extra.get("groups") for f in group}
    if given != {None}:
        if len(given) != 1 or None in given:
            raise Skip(f"the findings disagree on the GroupNorm group count ({sorted(map(str, given))})")
        groups = given.pop()
        if not isinstance(groups, int) or groups < 1 or (channels is not None and channels % groups):
            raise Skip(f"group count {groups!r} does not divide the {channels} channels")
        how = "the analysis' group count"
    else:
        if channels is None:
            raise Skip(
                f"the channel count {index.code(call.args[channels_at].value)} is not a literal and the "
                "analysis did not give it: cannot choose a GroupNorm group count"
            )
        groups = groupnorm_groups(channels)
        if groups is None:
            raise Skip(f"{channels} channel(s): no GroupNorm grouping keeps more than one channel per group")
        how = f"gcd(32, C) with at least 2 channels per group, C={channels}"

    def edit(c: cst.Call) -> cst.Call:
        kept: list[cst.Arg] = []
        for param, i in named:
            a = c.args[i]
            if param == "num_features":
                if a.keyword is not None:
                    a = a.with_changes(keyword=cst.Name("num_channels"))
                kept.append(a)
            elif param in _GN_KEEPS:
                if a.keyword is None:  # its position means something else in GroupNorm
                    a = a.with_changes(keyword=cst.Name(param), equal=_cst.keyword_arg(param, a.value).equal)
                kept.append(a)
        c = _cst.keep_args(c, kept)
        return _cst.prepend_arg(c, cst.Arg(value=cst.Integer(str(groups))))

    _plan_rename(index, call, cls, "GroupNorm", edits)
    edits.add(call, "groupnorm", edit)
    return f"replaced {name}(...) with GroupNorm({groups}, ...) ({how}) at {_where(index, call)}"


_PLANNERS: dict[str, Callable[[Index, cst.Call, list[Finding], _Edits], str]] = {
    "BN101": _plan_bias,
    "BN203": _plan_training,
    "BN202": _plan_dropout_nd,
    "BN103": _plan_momentum,
    "BN301": _plan_groupnorm,
    "BN302": _plan_groupnorm,
}

__all__ = ["Prepared", "SourceFixPlan", "fixable", "flip_momentum", "groupnorm_groups", "plan_fixes"]
