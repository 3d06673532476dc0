"""Build a model graph by *running* the forward, for models torch.fx cannot trace.

With example inputs, the forward runs on meta tensors (fake tensors when the
model was built on the CPU) in eval mode, under a ``TorchFunctionMode`` that
records every torch call made outside a torch layer, while global module hooks
record each torch layer (``nn.Conv2d``, ``nn.BatchNorm2d``, user subclasses of
them) as one ``call_module`` node. Python control flow on shapes
(``if H == ws``, ``int(math.sqrt(T))``), lists of inputs and other things
symbolic tracing cannot see simply execute: what is recorded is what ran.

The result is an ordinary ``torch.fx.Graph`` in the shape the symbolic tracer
gives (``placeholder``, ``call_module`` with the layer's dotted path,
``call_function`` / ``call_method``, ``get_attr``, ``output``), with each
node's forward line in ``meta["bnlint_site"]``, its module path in
``meta["nn_module_stack"]`` and its output shape in ``meta["bnlint_shape"]``,
so the rules query it through :class:`~bnlint.model.graph.ModelGraph` the same
way. Tensors are matched to nodes by identity. A run on meta tensors that
fails is tried once more with stand-ins for the data-dependent ops
(``nonzero``, ``unique``, NMS: :mod:`bnlint.model.standins`), so a detection
model's heads after its proposal filtering are reached too; shapes recorded
after the first stand-in are dropped. A forward that still fails (it
branches on a tensor's *values*) keeps the symbolic (partial) graph
instead, unless it failed only after every layer had run.
"""

from __future__ import annotations

import contextlib
import operator
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from bnlint.findings import Location
from bnlint.inputs import InputSpec
from bnlint.model.sites import user_line
from bnlint.model.shapes import failure, shape_only, spec_tensors, tensor_mode
from bnlint.model.standins import StandIns, ended_after_the_layers, failing_line
from bnlint.model.trace import SITE_KEY, Fragment, TraceResult, is_torch_layer

SHAPE_KEY = "bnlint_shape"

# Python operators on tensors, as the symbolic tracer records them.
_OPERATORS = {
    "__add__": (operator.add, False), "__radd__": (operator.add, True), "__iadd__": (operator.iadd, False),
    "__sub__": (operator.sub, False), "__rsub__": (operator.sub, True), "__isub__": (operator.isub, False),
    "__mul__": (operator.mul, False), "__rmul__": (operator.mul, True), "__imul__": (operator.imul, False),
    "__truediv__": (operator.truediv, False), "__rtruediv__": (operator.truediv, True),
    "__matmul__": (operator.matmul, False), "__rmatmul__": (operator.matmul, True),
    "__getitem__": (operator.getitem, False), "__neg__": (operator.neg, False),
}


class RunFailed(Exception):
    """The forward could not run on shape-only tensors. ``calls`` holds the
    arguments of the first call of each user module that did run before the
    failure (by ``id``), so its pieces can be run on their own."""

    def __init__(self, message: str, calls: dict | None = None):
        super().__init__(message)
        self.calls = calls or {}


def _is_method(func) -> bool:
    qual = getattr(func, "__qualname__", "") or ""
    return qual.startswith(("TensorBase.", "Tensor."))


class _Recording:
    def __init__(self, model: nn.Module, stand_ins: StandIns | None = None):
        self.graph = fx.Graph()
        self.stand_ins = stand_ins
        self.names: dict[int, str] = {}
        for name, m in model.named_modules():
            self.names.setdefault(id(m), name)
        self.attrs: dict[int, str] = {}
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            self.attrs.setdefault(id(t), name)
        self.attr_nodes: dict[int, fx.Node] = {}
        self.values: dict[int, tuple[torch.Tensor, fx.Node]] = {}
        self.leaf_depth = 0
        self.leaf_calls: list[tuple[nn.Module, Any, Any] | None] = []
        self.stack: list[tuple[str, str]] = []  # the user modules whose forward is running
        self.input_shapes: dict[str, list[tuple[int, ...]]] = {}
        self.calls: dict[int, tuple] = {}  # first call's arguments of each user module
        self.called: set[int] = set()  # every module called (at any depth)
        self.ended_early = ""  # why and where a run taken as whole stopped after its last layer

    # -- values -----------------------------------------------------------------
    def node_of(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            entry = self.values.get(id(value))
            if entry is not None and entry[0] is value:
                return entry[1]
            attr = self.attrs.get(id(value))
            if attr is not None:
                node = self.attr_nodes.get(id(value))
                if node is None:
                    node = self.attr_nodes[id(value)] = self.graph.get_attr(attr)
                return node
            return None
        if isinstance(value, (list, tuple)):
            mapped = [self.node_of(v) for v in value]
            return mapped if isinstance(value, list) else tuple(mapped)
        if isinstance(value, dict):
            return {k: self.node_of(v) for k, v in value.items()}
        if isinstance(value, (int, float, bool, str, type(None), slice, torch.dtype, torch.device)):
            return value
        if isinstance(value, torch.Size):
            return tuple(value)
        return None

    def bind(self, value: Any, node: fx.Node, depth: int = 0) -> None:
        """Map ``value``'s tensors to ``node`` (tuple items through getitem nodes)."""
        if isinstance(value, torch.Tensor):
            self.values[id(value)] = (value, node)
            if self.shapes_real():
                node.meta[SHAPE_KEY] = tuple(value.shape)
        elif isinstance(value, (list, tuple)) and depth < 3:
            for i, item in enumerate(value):
                if _has_tensor(item):
                    item_node = self.graph.create_node("call_function", operator.getitem, (node, i))
                    self._annotate(item_node)
                    self.bind(item, item_node, depth + 1)

    def shapes_real(self) -> bool:
        """No stand-in has been used yet: the sizes seen are the real ones."""
        return self.stand_ins is None or not self.stand_ins.used

    def close_early(self, exc: BaseException) -> None:
        """The run stopped after its last layer: every tensor value computed
        and used by nothing yet becomes an output."""
        used = {id(u) for n in self.graph.nodes for u in n.all_input_nodes}
        dangling = tuple(
            n for n in self.graph.nodes
            if n.op in ("call_module", "call_function", "call_method") and id(n) not in used
        )
        self.graph.output(dangling)
        where = failing_line(exc)
        self.ended_early = f"{failure(exc)}{f' at {where}' if where else ''}"

    def _annotate(self, node: fx.Node, site: Location | None = None) -> None:
        if site is not None:
            node.meta[SITE_KEY] = site
        if self.stack:
            node.meta["nn_module_stack"] = dict(self.stack)

    # -- torch calls ------------------------------------------------------------
    def function(self, func, args, kwargs, out) -> None:
        if not _has_tensor(out):
            return
        name = getattr(func, "__name__", "") or ""
        args_n = self.node_of(tuple(args))
        kwargs_n = self.node_of(dict(kwargs))
        if name in _OPERATORS and _is_method(func):
            target, swap = _OPERATORS[name]
            if swap and len(args_n) == 2:
                args_n = (args_n[1], args_n[0])
            node = self.graph.create_node("call_function", target, args_n, kwargs_n)
        elif _is_method(func):
            node = self.graph.create_node("call_method", name, args_n, kwargs_n)
        else:
            node = self.graph.create_node("call_function", func, args_n, kwargs_n, name=name or "op")
        self._annotate(node, user_line(1))
        self.bind(out, node)

    # -- module calls -----------------------------------------------------------
    def pre(self, module, args) -> None:
        self.called.add(id(module))
        qual = self.names.get(id(module))
        if self.leaf_depth:
            if is_torch_layer(module):
                self.leaf_depth += 1
                self.leaf_calls.append(None)
            return
        if qual is None:
            return
        if is_torch_layer(module):
            self.leaf_depth += 1
            self.leaf_calls.append((module, self.node_of(tuple(args)), user_line(1)))
            if args and isinstance(args[0], torch.Tensor) and self.shapes_real():
                self.input_shapes.setdefault(qual, []).append(tuple(args[0].shape))
        else:
            self.stack.append((qual, type(module).__name__))
            self.calls.setdefault(id(module), args)

    def post(self, module, args, out) -> None:
        if self.leaf_depth:
            if not is_torch_layer(module):
                return
            self.leaf_depth -= 1
            call = self.leaf_calls.pop()
            if call is None or self.leaf_depth:
                return
            _, args_n, site = call
            node = self.graph.create_node("call_module", self.names[id(module)], args_n, {})
            self._annotate(node, site)
            self.bind(out, node)
            return
        if self.names.get(id(module)) is not None and self.stack:
            self.stack.pop()


def _has_tensor(value: Any, depth: int = 0) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)) and depth < 3:
        return any(_has_tensor(v, depth + 1) for v in value)
    return False


class _Mode(TorchFunctionMode):
    def __init__(self, rec: _Recording):
        super().__init__()
        self.rec = rec

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self.rec.leaf_depth:
            self.rec.function(func, args, kwargs, out)
        return out


def run_trace(model: nn.Module, spec: InputSpec) -> tuple[TraceResult, dict[str, list[tuple[int, ...]]]]:
    """The graph of one run of ``model`` on shape-only inputs of ``spec``, and
    the input shape of each torch layer call. The model should be in eval mode.
    Raises :class:`RunFailed` with the reason when the forward cannot run."""
    fake, device = tensor_mode(model)
    with fake:
        try:
            rec = _run(model, spec_tensors(spec, device), keep_calls=device == "meta")
        except RunFailed as failed:
            if device != "meta":
                raise
            try:  # once more, with stand-ins for data-dependent ops
                rec = _run(model, spec_tensors(spec, device), keep_calls=False, stand_ins=StandIns())
            except RunFailed:
                raise failed from failed.__cause__
    stand_ins = rec.stand_ins.describe() if rec.stand_ins is not None else ""
    result = TraceResult([Fragment("", model, rec.graph)], [], tracer="run", stand_ins=stand_ins,
                         ended_early=rec.ended_early)
    return result, rec.input_shapes


def run_piece(module: nn.Module, prefix: str, args: tuple) -> Fragment:
    """The graph of one submodule, run on the (meta) arguments it was called
    with when the whole model's run failed further on."""
    return Fragment(prefix, module, _run(module, args, keep_calls=False).graph)


def _run(model: nn.Module, inputs: tuple, keep_calls: bool, stand_ins: StandIns | None = None) -> _Recording:
    rec = _Recording(model, stand_ins)
    pre = torch.nn.modules.module.register_module_forward_pre_hook(rec.pre)
    post = torch.nn.modules.module.register_module_forward_hook(rec.post)
    try:
        with shape_only(model):
            for i, t in enumerate(_tensors(inputs)):
                rec.bind(t, rec.graph.placeholder(f"input_{i}"))
            with stand_ins or contextlib.nullcontext(), _Mode(rec):
                out = model(*inputs)
            rec.graph.output(rec.node_of(out))
    except Exception as exc:  # noqa: BLE001 -- a forward that needs real data
        if stand_ins is not None and ended_after_the_layers(model, rec.called):
            rec.close_early(exc)
            return rec
        raise RunFailed(failure(exc), rec.calls if keep_calls else None) from exc
    finally:
        pre.remove()
        post.remove()
    return rec


def _tensors(value: Any, depth: int = 0):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)) and depth < 3:
        for v in value:
            yield from _tensors(v, depth + 1)
    elif isinstance(value, dict) and depth < 3:
        for v in value.values():
            yield from _tensors(v, depth + 1)


def infer_inputs(model: nn.Module) -> InputSpec | None:
    """An example input when the model's first layer makes it unambiguous:
    a ``Conv2d(3, ...)`` takes an image batch, a ``Conv1d(c, ...)`` a batch of
    signals, a ``Linear(n, ...)`` a batch of vectors. For the graph only: the
    batch size is made up."""
    for _, m in model.named_modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            c = int(m.in_channels)
            size = {nn.Conv1d: (256,), nn.Conv2d: (224, 224), nn.Conv3d: (16, 112, 112)}[
                next(k for k in (nn.Conv1d, nn.Conv2d, nn.Conv3d) if isinstance(m, k))
            ]
            return InputSpec(((2, c, *size),), ("float32",), f"inferred from the first layer ({type(m).__name__}({c}, ...))")
        if isinstance(m, nn.Linear):
            n = int(m.in_features)
            return InputSpec(((2, n),), ("float32",), f"inferred from the first layer (Linear({n}, ...))")
        if is_torch_layer(m) and (any(True for _ in m.parameters(recurse=False))):
            return None  # an embedding, a norm, ...: the input is not obvious
    return None
