"""Layer 3: find module pairs in a model, rewrite them, rebuild the model.

Pairs are found where dataflow is certain:

* in the FX graph of the model's forward, traced by bnlint's tracer
  (:func:`bnlint.model.trace.trace_model`), which keeps torch layers and
  their subclasses as single ``call_module`` nodes and turns untraceable
  submodules into opaque leaves instead of failing. A frozen-BN module that is
  not a torch class (torchvision's ``FrozenBatchNorm2d``) would be traced
  into; when the model has one, it is traced with bnlint's ``Tracer``
  holding those as leaves too (the whole model at once, or, when that
  fails, the root again after ``trace_model`` found what cannot be traced). A pair is two ``call_module`` nodes,
  the second called on the first's output alone, that output used by nothing
  else (shape queries aside);
* inside an untraceable module, between consecutive children of an
  ``nn.Sequential`` whose ``forward`` is torch's (identities skipped): the
  module tree alone says that one feeds the other.

Either way, both modules must be registered under one name only and called
at one place only -- one ``call_module`` node in the graph -- and on the
example inputs both must run exactly as often as what calls them (the
model, or the Sequential): a module called from elsewhere too, on a path the
graph cannot see, runs more often. A pair that did not run is not changed
(nothing could check it).

The result shares the input model's tensors. Every module of it is a new
object: untouched ones are shells (:func:`bnlint.fix.modules.share`), changed
ones are built by :mod:`bnlint.fix.modules`. When a pass removes nodes from
the graph (a folded BN) the model is recompiled from the rewritten graph into
an ``fx.GraphModule`` (named after the model's class); otherwise -- changes
inside untraceable modules, replaced modules -- the shell tree is the model
and keeps its classes and forwards, with ``nn.Identity`` where a BN was.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.fx as fx
import torch.nn as nn

from bnlint.fix import modules as M
from bnlint.fix.result import Change, Left
from bnlint.fix.verify import run
from bnlint.model.layers import is_shape_query
from bnlint.model.trace import Tracer, _concrete_args, is_torch_layer, trace_model


def _under(path: str, prefix: str) -> bool:
    return prefix == "" or path == prefix or path.startswith(prefix + ".")


def _split(path: str) -> Tuple[str, str]:
    parent, _, name = path.rpartition(".")
    return parent, name


@dataclass
class Observed:
    """One eval run of a model: how often each module ran, the shape of its
    first input at its first call (by dotted path), and the output."""

    calls: Dict[str, int]
    shapes: Dict[str, Tuple[int, ...]]
    output: Any


def observe(model: nn.Module, inputs: Sequence) -> Observed:
    """Run ``model`` (a model bnlint built: it is put in eval for the run)
    on ``inputs`` with a global forward-pre-hook counting module calls."""
    paths: Dict[int, List[str]] = {}
    for name, m in model.named_modules(remove_duplicate=False):
        paths.setdefault(id(m), []).append(name)
    calls: Dict[int, int] = {}
    shapes: Dict[int, Tuple[int, ...]] = {}

    def hook(module, args):
        key = id(module)
        if key in paths:
            calls[key] = calls.get(key, 0) + 1
            if key not in shapes and args and isinstance(args[0], torch.Tensor):
                shapes[key] = tuple(args[0].shape)

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        output = run(model, inputs)
    finally:
        handle.remove()
    by_path_calls = {p: calls.get(k, 0) for k, ps in paths.items() for p in ps}
    by_path_shapes = {p: shapes[k] for k, ps in paths.items() for p in ps if k in shapes}
    return Observed(by_path_calls, by_path_shapes, output)


@dataclass(frozen=True)
class Site:
    """Two modules next to each other: ``first``'s output feeds ``second``.
    ``nodes`` are their graph nodes (None for a Sequential's neighbours);
    ``container`` is what calls both: "" (the model) or a Sequential's path."""

    first: str
    second: str
    container: str
    nodes: Optional[Tuple[fx.Node, fx.Node]] = None


@dataclass
class Plan:
    """What a planner does at a site: new modules by path, and the path of
    the module that disappears (it becomes the identity), if any."""

    kind: str
    new: Dict[str, nn.Module]
    removed: Optional[str]
    detail: str


class Planner:
    """One graph fix: which neighbours it cares about and what it does there."""

    name = ""

    def kind(self, first: nn.Module, second: nn.Module) -> Optional[str]:
        """The kind of site (None: not one for this fix); sites are tried in
        the order of :attr:`kinds`."""
        raise NotImplementedError

    kinds: Tuple[str, ...] = ()

    def subject(self, site: Site, kind: str) -> str:
        """The module a site's outcome is reported for."""
        raise NotImplementedError

    def plan(self, work: "Pass", site: Site, kind: str) -> "Plan | str":
        """A plan, or the reason this site cannot be fixed."""
        raise NotImplementedError

    def subjects(self, work: "Pass") -> List[str]:
        """Every module the fix reports on when left unchanged."""
        return []

    def unpaired(self, work: "Pass", path: str) -> str:
        return "no neighbour this fix applies to"


class Pass:
    """A model taken apart for fixing: its trace, its shells and one observed
    run on the example inputs (none without inputs)."""

    def __init__(self, model: nn.Module, inputs: Optional[Sequence], trace: bool = True):
        self.model = model
        self.inputs = inputs
        self.paths: Dict[int, List[str]] = {}  # every name of each module
        for name, m in model.named_modules(remove_duplicate=False):
            self.paths.setdefault(id(m), []).append(name)
        self.graph: Optional[fx.Graph] = None
        self.untraced: List[str] = []
        if trace:
            self._trace()
        self.shell = M.share(model)
        self._shells = dict(self.shell.named_modules(remove_duplicate=False))
        self._originals = dict(model.named_modules(remove_duplicate=False))
        self.observed = observe(self.shell, inputs) if inputs is not None else Observed({}, {}, None)
        self.new: Dict[str, nn.Module] = {}
        self.graph_changed = False
        self._calls: Optional[Dict[str, List[fx.Node]]] = None  # call_module nodes by target

    # -- tracing ----------------------------------------------------------------
    def _trace(self) -> None:
        frozen_anywhere = {
            id(m) for m in self.model.modules() if M.is_frozen_batchnorm(m) and not is_torch_layer(m)
        }
        if frozen_anywhere:  # a whole-model trace with them as leaves, if the forward allows it
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self.graph = Tracer(frozen_anywhere).trace(self.model, concrete_args=_concrete_args(self.model))
                return
            except Exception:  # noqa: BLE001 -- untraceable somewhere: find out where, below
                pass
        traced = trace_model(self.model)
        self.untraced = sorted({o.qualname for o in traced.opaque})
        root = next((f for f in traced.fragments if f.prefix == ""), None)
        if root is None:
            return
        graph = root.graph
        leaves = {id(self.model.get_submodule(n.target)) for n in graph.nodes if n.op == "call_module"}
        frozen = {
            id(m) for name, m in self.model.named_modules()
            if M.is_frozen_batchnorm(m) and not is_torch_layer(m) and id(m) not in leaves
            and not any(_under(name, u) for u in self.untraced)
        }
        if frozen:
            opaque = {i for i in leaves if not is_torch_layer(self._original(i))}
            try:
                graph = Tracer(opaque | frozen).trace(self.model, concrete_args=_concrete_args(self.model))
            except Exception:  # noqa: BLE001 -- more leaves cannot break a trace; keep the first one if it does
                pass
        self.graph = graph

    def _original(self, key: int) -> nn.Module:
        return self.model.get_submodule(self.paths[key][0])

    # -- the current model ------------------------------------------------------
    def module(self, path: str) -> nn.Module:
        """The module at ``path`` now (after the changes planned so far)."""
        if path in self.new:
            return self.new[path]
        return self._shells[path]

    def original(self, path: str) -> nn.Module:
        return self._originals[path]

    def is_untraced(self, path: str) -> bool:
        return any(_under(path, u) for u in self.untraced)

    def call_nodes(self, path: str) -> List[fx.Node]:
        """The graph's calls of the module at ``path``."""
        if self._calls is None:
            self._calls = {}
            for n in self.graph.nodes if self.graph is not None else ():
                if n.op == "call_module":
                    self._calls.setdefault(n.target, []).append(n)
        return self._calls.get(path, [])

    # -- sites --------------------------------------------------------------------
    def sites(self) -> Iterator[Site]:
        if self.graph is not None:
            for node in self.graph.nodes:
                if node.op != "call_module" or not node.args or not isinstance(node.args[0], fx.Node):
                    continue
                prev = node.args[0]
                if prev.op == "call_module":
                    yield Site(prev.target, node.target, "", (prev, node))
        for name, m in self.model.named_modules() if self.untraced else ():
            if (
                isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward
                and self.is_untraced(name)
            ):
                kids = [
                    f"{name}.{k}" if name else k for k, child in m._modules.items()
                    if child is not None and type(self.module(f"{name}.{k}" if name else k)) is not nn.Identity
                ]
                for a, b in zip(kids, kids[1:]):
                    yield Site(a, b, name)

    def why_not_site(self, site: Site) -> Optional[str]:
        """The checks every pair passes (see the module's docstring)."""
        first, second = self.original(site.first), self.original(site.second)
        for path, m in ((site.first, first), (site.second, second)):
            names = self.paths.get(id(m), [path])
            if len(names) > 1:
                return f"{M.kind(m)} '{path}' is registered under {len(names)} names ({', '.join(names)})"
        if site.nodes is not None:
            a, b = site.nodes
            for path, m, node in ((site.first, first, a), (site.second, second, b)):
                if len(node.args) != 1 or node.kwargs or not isinstance(node.args[0], fx.Node):
                    return f"{M.kind(m)} '{path}' is not called on one tensor alone"
            users = [u for u in a.users if not is_shape_query(u)]
            if users != [b]:
                other = next(u for u in users if u is not b)
                return f"the output of {M.kind(first)} '{site.first}' also feeds {self.describe(other)}"
            for path, m in ((site.first, first), (site.second, second)):
                n = len(self.call_nodes(path))
                if n > 1:
                    return f"{M.kind(m)} '{path}' is called at {n} places in forward"
        ran = self.observed.calls
        counts = (ran.get(site.first, 0), ran.get(site.second, 0), ran.get(site.container, 0))
        if counts[2] == 0 or counts[0] == 0:
            return "it did not run on the example inputs, so the change could not be checked"
        for path, m, n in ((site.first, first, counts[0]), (site.second, second, counts[1])):
            if n != counts[2]:
                caller = f"'{site.container}'" if site.container else "the model"
                return (
                    f"{M.kind(m)} '{path}' ran {n} times on the example inputs, {caller} {counts[2]}: "
                    "it is called from elsewhere too"
                )
        return None

    def describe(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return f"{M.kind(self.module(node.target))} '{node.target}'"
        if node.op == "placeholder":
            return "the model's input"
        if node.op == "output":
            return "the model's output"
        name = getattr(node.target, "__name__", str(node.target))
        return f"{name}()"

    def neighbours(self, path: str) -> str:
        """What feeds ``path`` and what it feeds, in words."""
        nodes = self.call_nodes(path)
        if self.is_untraced(path):
            return "inside a module whose forward could not be traced, and not next to it in an nn.Sequential"
        if not nodes:
            return "not called by the traced forward"
        node = nodes[0]
        before = [self.describe(n) for n in node.all_input_nodes][:1]
        after = [self.describe(u) for u in node.users if not is_shape_query(u)][:2]
        return f"follows {', '.join(before) or 'nothing'} and feeds {', '.join(after) or 'nothing'}"

    def input_rank(self, path: str) -> Optional[int]:
        shape = self.observed.shapes.get(path)
        return None if shape is None else len(shape)

    # -- rewriting ---------------------------------------------------------------
    def apply(self, site: Site, plan: Plan) -> None:
        self.new.update(plan.new)
        if plan.removed is None:
            return
        gone = self.original(plan.removed)
        if site.nodes is None:
            identity = nn.Identity()
            identity.training = gone.training
            self.new[plan.removed] = identity
            return
        a, b = site.nodes
        if plan.removed == site.second:
            b.replace_all_uses_with(a)
            self.graph.erase_node(b)
        else:
            b.replace_input_with(a, a.args[0])
            self.graph.erase_node(a)
        self.graph_changed = True
        self._calls = None

    def fix(self, planner: Planner) -> Tuple[List[Change], List[Left]]:
        """Apply ``planner`` wherever it can, round after round until nothing
        changes (a fold can make new neighbours); what was left, and why."""
        changes: List[Change] = []
        reasons: Dict[str, str] = {}
        done: set = set()
        while True:
            taken: set = set()
            progress = False
            found = []
            for site in self.sites():
                k = planner.kind(self.module(site.first), self.module(site.second))
                if k is not None:
                    found.append((planner.kinds.index(k), site, k))
            for _, site, k in sorted(found, key=lambda t: t[0]):
                if site.first in taken or site.second in taken:
                    continue
                subject = planner.subject(site, k)
                plan = self.why_not_site(site) or planner.plan(self, site, k)
                if isinstance(plan, str):
                    reasons.setdefault(subject, plan)
                    continue
                self.apply(site, plan)
                taken |= {site.first, site.second}
                done.add(subject)
                changes.append(Change(plan.kind, (site.first, site.second), plan.detail))
                progress = True
            if not progress:
                break
        left = [
            Left(p, reasons.get(p) or planner.unpaired(self, p))
            for p in dict.fromkeys([*planner.subjects(self), *reasons]) if p not in done
        ]
        return changes, left

    def replace(self, path: str, module: nn.Module) -> None:
        """Use ``module`` in the result wherever the module at ``path`` is
        registered (a tree edit)."""
        for p in self.paths.get(id(self.original(path)), [path]):
            self.new[p] = module

    def build(self) -> nn.Module:
        """The fixed model: the shell tree with the new modules in place,
        recompiled from the rewritten graph when nodes were removed."""
        for path, module in sorted(self.new.items(), key=lambda kv: kv[0].count(".")):
            parent, name = _split(path)
            holder = self.shell.get_submodule(parent) if parent else self.shell
            holder._modules[name] = module
        if not self.graph_changed:
            return self.shell
        self.graph.lint()
        gm = fx.GraphModule(self.shell, self.graph, class_name=type(self.model).__name__)
        gm.training = self.model.training
        return gm


# -- the two graph fixes --------------------------------------------------------


def _rank_reason(work: Pass, bn_path: str, layer_path: str, layer: nn.Module) -> Optional[str]:
    """A BN folds into a neighbouring layer only when its channel dim (dim 1)
    is the layer's channel dim: for a Linear, the input must be 2-D (N, C);
    for a conv, batched (rank of the conv's weight)."""
    rank = work.input_rank(bn_path)
    want = 2 if isinstance(layer, nn.Linear) else layer.weight.dim()
    if rank == want:
        return None
    shape = work.observed.shapes.get(bn_path)
    bn = work.module(bn_path)
    if isinstance(layer, nn.Linear):
        return (
            f"{M.kind(bn)} '{bn_path}' sees {shape}-shaped inputs: it normalizes dim 1, "
            f"Linear '{layer_path}' works on the last dim"
        )
    return f"{M.kind(bn)} '{bn_path}' sees {shape}-shaped inputs, not batched ones of rank {want}"


class FoldPlanner(Planner):
    """fold_batchnorm: a BatchNorm-like module into the Conv/ConvTranspose/Linear
    before it, else into the Linear or unpadded conv after it."""

    name = "fold_batchnorm"
    kinds = ("fold-after", "fold-before")

    def kind(self, first, second):
        if M.is_producer(first) and M.is_batchnorm_like(second):
            return "fold-after"
        if M.is_batchnorm_like(first) and isinstance(second, (nn.Linear, torch.nn.modules.conv._ConvNd)):
            return "fold-before"
        return None

    def subject(self, site, kind):
        return site.second if kind == "fold-after" else site.first

    def plan(self, work, site, kind):
        first, second = work.module(site.first), work.module(site.second)
        if kind == "fold-after":
            reason = M.why_not_fold_after(first, second) or _rank_reason(work, site.second, site.first, first)
            if reason:
                return reason
            return Plan(kind, {site.first: M.fold_after(first, second)}, site.second,
                        f"{M.kind(second)} '{site.second}' into the {M.kind(first)} '{site.first}' that feeds it")
        reason = M.why_not_fold_before(first, second) or _rank_reason(work, site.first, site.second, second)
        if reason:
            return reason
        return Plan(kind, {site.second: M.fold_before(first, second)}, site.first,
                    f"{M.kind(first)} '{site.first}' into the {M.kind(second)} '{site.second}' it feeds")

    def subjects(self, work):
        return [p for p, m in work.model.named_modules() if M.is_batchnorm_like(m)]

    def unpaired(self, work, path):
        return f"{work.neighbours(path)}: no Conv, ConvTranspose or Linear to fold into"


class BiasPlanner(Planner):
    """remove_redundant_bias (BN101's graph fix): a Conv/ConvTranspose/Linear
    bias that the BatchNorm/InstanceNorm right after it cancels."""

    name = "remove_redundant_bias"
    kinds = ("remove-bias",)

    def kind(self, first, second):
        if M.is_producer(first) and first.bias is not None and M.is_mean_subtracting_norm(second):
            return "remove-bias"
        return None

    def subject(self, site, kind):
        return site.first

    def plan(self, work, site, kind):
        first, second = work.module(site.first), work.module(site.second)
        reason = M.why_not_drop_bias(first, second) or _rank_reason(work, site.second, site.first, first)
        if reason:
            return reason
        producer, norm = M.drop_bias(first, second)
        new = {site.first: producer}
        if norm is not second:
            new[site.second] = norm
        where = (
            f"moved into the running mean of {M.kind(second)} '{site.second}'"
            if getattr(second, "running_mean", None) is not None
            else f"removed: {M.kind(second)} '{site.second}' cancels it"
        )
        return Plan(kind, new, None, f"bias of {M.kind(first)} '{site.first}' {where}")
