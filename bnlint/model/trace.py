"""Trace a model with torch.fx, piece by piece when it has to.

``torch.nn`` layers *and user subclasses of them* are leaves, and stack traces
are recorded so each node knows its forward line. When a forward cannot be
traced (data-dependent control flow, ``len()`` of a proxy, ...), the failing
submodule becomes an opaque leaf and the trace is retried, so the rest of the
model still gets a graph; the opaque module is then traced on its own, and so
on down. When even the root's forward fails, each child is traced as its own
root: an ``nn.Sequential`` always traces, so its order is real dataflow.
What stays opaque is reported as BN002.
"""

from __future__ import annotations

import contextlib
import inspect
import operator
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Iterator

import torch.fx as fx
import torch.fx.traceback as fx_traceback
import torch.nn as nn

from bnlint.findings import Location
from bnlint.model.sites import is_library_file, user_line




_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


def has_forward(module: nn.Module) -> bool:
    """A module with a forward of its own (containers such as ModuleList and
    ModuleDict, and plain holders of submodules, have none)."""
    forward = getattr(type(module), "forward", None)
    return forward is not None and getattr(forward, "__name__", "") != "_forward_unimplemented"


def is_torch_layer(module: nn.Module) -> bool:
    """A built-in layer (or a user subclass of one): traced as a single node."""
    for cls in type(module).__mro__:
        if cls is nn.Module or cls in _CONTAINERS:
            continue
        mod = cls.__module__ or ""
        if mod.startswith(("torch.nn.", "torch.ao.nn.")):
            return True
    return False


SITE_KEY = "bnlint_site"


class Tracer(fx.Tracer):
    """Leaves: torch layers (and their subclasses) and the opaque modules.

    Each node records, in ``node.meta["bnlint_site"]``, the innermost user
    line that created it (the forward line). FX's own ``record_stack_traces``
    would do more than we need and costs ~1.5 s on its first use."""

    def __init__(self, opaque: set[int]):
        super().__init__()
        self.opaque = opaque

    # Emit a leaf called on one value as FX would, without its generic
    # argument lowering and scope bookkeeping (a third of tracing a stack of
    # thousands of layers); False: FX's own path, every time.
    direct_leaf_calls = True

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return id(m) in self.opaque or is_torch_layer(m)

    def call_module(self, m, forward, args, kwargs):
        if (self.direct_leaf_calls and not kwargs and len(args) == 1 and type(args[0]) is fx.Proxy
                and self.is_leaf_module(m, "")):
            node = self._leaf_node(m, args[0].node)
            if node is not None:
                return fx.Proxy(node, self)
        return super().call_module(m, forward, args, kwargs)

    def _leaf_node(self, m: nn.Module, arg: fx.Node) -> fx.Node | None:
        """The ``call_module`` node FX's own ``call_module`` and
        ``create_proxy`` make for ``m(arg)``: the same name, target and
        argument, the same ``nn_module_stack`` and scope records, the call
        counted. None where this torch's tracer keeps other records
        (preserved node meta, mutation checks; another version's fields)."""
        stack, calls, scopes = (getattr(self, a, None) for a in ("module_stack", "num_calls", "node_name_to_scope"))
        if stack is None or calls is None or scopes is None or getattr(fx_traceback, "has_preserved_node_meta", lambda: True)():
            return None
        qualname = self.path_of_module(m)
        count = calls.get(qualname, 0)
        calls[qualname] = count + 1
        node = self.graph.create_node("call_module", qualname, (arg,), {})
        scopes[node.name] = (qualname, type(m))
        meta = stack.copy()
        meta[f"{qualname}@{count}" if count > 0 else qualname] = (qualname, type(m))
        node.meta["nn_module_stack"] = meta
        return _at_user_line(node)

    def create_node(self, *args, **kwargs):
        return _at_user_line(super().create_node(*args, **kwargs))


def _at_user_line(node: fx.Node) -> fx.Node:
    """``node``, with the innermost user line on the stack that created it."""
    site = user_line(1)
    if site is not None:
        node.meta[SITE_KEY] = site
    return node


@dataclass
class Fragment:
    """One traced piece: ``graph`` was traced with ``root`` (the module at
    ``prefix`` in the model; "" for the model itself) as its root."""

    prefix: str
    root: nn.Module
    graph: fx.Graph


@dataclass
class Opaque:
    """A module whose forward could not be traced."""

    qualname: str
    type_name: str
    reason: str
    where: Location | None  # the user's line where tracing failed
    run_failure: str | None = None  # why running the forward on meta tensors failed too, if tried


@dataclass
class TraceResult:
    fragments: list[Fragment] = field(default_factory=list)
    opaque: list[Opaque] = field(default_factory=list)
    tracer: str = "fx"  # "fx" (symbolic) or "run" (recorded from a run on meta tensors)
    stand_ins: str = ""  # for a run: the data-dependent ops given stand-ins (bnlint.model.standins)
    ended_early: str = ""  # for a run taken as whole that failed after its last layer: why, where

    @property
    def complete(self) -> bool:
        return not self.opaque


def _concrete_args(module: nn.Module) -> dict | None:
    """Specialize forward arguments that have defaults (``mask=None``,
    ``return_features=False``): the common cause of needless trace failures."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return None
    concrete = {p.name: p.default for p in params if p.default is not p.empty}
    return concrete or None


def _failure(exc: BaseException, root: nn.Module, skip: set[int]) -> tuple[nn.Module | None, Location | None]:
    """The innermost submodule (strictly below ``root``) whose forward was
    running when tracing failed, and the innermost user line."""
    members = {id(m) for m in root.modules()}
    culprit: nn.Module | None = None
    where: Location | None = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        this = frame.f_locals.get("self")
        if (
            isinstance(this, nn.Module)
            and this is not root
            and id(this) in members
            and id(this) not in skip
            and frame.f_code.co_name == "forward"
        ):
            culprit = this
        if not is_library_file(frame.f_code.co_filename):
            where = Location(frame.f_code.co_filename, lineno)
    return culprit, where


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def attributes_kept(model: nn.Module) -> Iterator[None]:
    """Every module's own attributes as they were before the block, after it.
    A forward that caches what it computes (torchvision's MultiScaleRoIAlign
    keeps the scales it derives from the first feature maps' sizes) would
    keep what it computed from fx Proxies during a symbolic trace, and fail
    on it in every later run. Only the top level of each ``__dict__`` is
    restored: a parameter or buffer registered into the tables stays."""
    saved = [(m, dict(m.__dict__)) for m in model.modules()]
    try:
        yield
    finally:
        for m, before in saved:
            now = m.__dict__
            if list(now) == list(before) and all(map(operator.is_, now.values(), before.values())):
                continue  # the same keys, in the same order, naming the same objects
            for key in [k for k in now if k not in before]:
                del now[key]
            now.update(before)


def trace_model(model: nn.Module) -> TraceResult:
    """The model's forward as torch.fx graphs: one for the whole model, or,
    where a part cannot be traced, fragments for the parts that can (see
    :class:`TraceResult`). The modules' attributes are left as they were."""
    with attributes_kept(model):
        return _trace_model(model)


def _trace_model(model: nn.Module) -> TraceResult:
    result = TraceResult()
    names = {id(m): q for q, m in model.named_modules(remove_duplicate=False)}
    done: set[int] = set()
    reported: set[int] = set()  # modules already in result.opaque

    def qual(m: nn.Module) -> str:
        return names.get(id(m), "")

    def trace_piece(root: nn.Module, prefix: str) -> None:
        if id(root) in done:  # a shared submodule is traced once
            return
        done.add(id(root))
        if is_torch_layer(root):
            # A leaf: nothing of the user's inside. Tracing torch's own forward
            # (BatchNorm branches on its buffers) would fail and report a
            # bogus BN002 for a model whose root forward is untraceable.
            return
        if not has_forward(root):
            # A container or a holder of modules: nothing to trace, its
            # children are traced on their own.
            for name, child in root.named_children():
                trace_piece(child, f"{prefix}.{name}" if prefix else name)
            return
        opaque: set[int] = set()
        while True:  # each failure makes one more submodule opaque: this ends
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    graph = Tracer(opaque).trace(root, concrete_args=_concrete_args(root))
                break
            except Exception as exc:  # noqa: BLE001 -- any failure means "not traceable"
                culprit, where = _failure(exc, root, opaque)
                if culprit is None:
                    if id(root) not in reported:  # not already found opaque inside its parent
                        reported.add(id(root))
                        result.opaque.append(
                            Opaque(prefix, type(root).__name__, _reason(exc), where)
                        )
                    for name, child in root.named_children():
                        trace_piece(child, f"{prefix}.{name}" if prefix else name)
                    return
                opaque.add(id(culprit))
                if has_forward(culprit) and id(culprit) not in reported:
                    reported.add(id(culprit))
                    result.opaque.append(
                        Opaque(qual(culprit), type(culprit).__name__, _reason(exc), where)
                    )
        result.fragments.append(Fragment(prefix, root, graph))
        for m in root.modules():
            if id(m) in opaque:
                trace_piece(m, qual(m))

    trace_piece(model, "")
    return result
