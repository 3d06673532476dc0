"""Example inputs and shape propagation without memory.

The forward is run on ``meta`` tensors (or fake tensors when the model had to
be built on the CPU) in eval mode, with a global forward-pre-hook recording
the input shape of every module call. Nothing is allocated or computed, so a
model far larger than the machine's memory is fine, and -- unlike FX shape
propagation -- it works for forwards that FX cannot trace, as long as they do
not branch on tensor *values*.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.nn as nn

from bnlint.inputs import DTYPE_ALIASES, InputSpec
from bnlint.model.standins import StandIns, ended_after_the_layers

DTYPES = {name: getattr(torch, attr) for name, attr in DTYPE_ALIASES.items()}


def spec_from_value(value: Any, origin: str) -> InputSpec:
    """An InputSpec from what a user declared: a tensor, a shape (tuple of
    ints), or a tuple/list of those; a zero-argument callable returning one."""
    if callable(value) and not isinstance(value, (torch.Tensor, nn.Module)):
        value = value()
    if isinstance(value, torch.Tensor) or (
        isinstance(value, (tuple, list, torch.Size)) and value and all(isinstance(v, int) for v in value)
    ):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(
            f"{origin} must be a tensor, a shape, or a tuple of them, not {type(value).__name__}"
        )
    shapes, dtypes = [], []
    for v in value:
        if isinstance(v, torch.Tensor):
            shapes.append(tuple(v.shape))
            dtypes.append(str(v.dtype).removeprefix("torch."))
        elif isinstance(v, (tuple, list, torch.Size)) and all(isinstance(d, int) for d in v):
            shapes.append(tuple(v))
            dtypes.append("float32")
        else:
            raise TypeError(f"{origin}: cannot take an input shape from a {type(v).__name__}")
    return InputSpec(tuple(shapes), tuple(dtypes), origin)


@dataclass
class ShapeInfo:
    """Input shapes seen by each module (by dotted path), one per call."""

    spec: InputSpec
    inputs: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    error: str | None = None  # why propagation failed, if it did
    stand_ins: str = ""  # the data-dependent ops given stand-ins, after which no shape is recorded

    def input_shape(self, qualname: str) -> tuple[int, ...] | None:
        seen = self.inputs.get(qualname)
        return seen[0] if seen else None


@functools.lru_cache(maxsize=None)
def _missing(name: str) -> bool:
    return name not in sys.modules and importlib.util.find_spec(name) is None


@contextlib.contextmanager
def absent_imports_fail_fast() -> Iterator[None]:
    """For a run of the model's forward on meta or fake tensors. torch's
    decompositions behind it (``sym_max`` in every elementwise meta kernel,
    ten a BatchNorm) try ``import numpy`` on each call; where numpy is not
    installed, each try searches the whole of sys.path -- 8 of the 10 s that a
    4,000-block Conv-BN-ReLU model took (``benchmarks/scale.py``). For the
    run, a missing numpy is None in ``sys.modules``: ``import numpy`` raises
    ModuleNotFoundError at once (its message says "halted") and
    ``importlib.util.find_spec`` still answers None."""
    names = [n for n in ("numpy",) if _missing(n)]
    for name in names:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    try:
        yield
    finally:
        for name in names:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _like(x: Any) -> Any:
    """What ``torch.empty_like(x)`` makes -- a dense tensor of ``x``'s shape,
    dtype and device, in its memory format -- without torch's Python
    reference that runs on meta tensors (about 120 us a call, against 4 us).
    The strides are kept only when they are dense already (contiguous or
    channels-last); a sliced or expanded input gets the dense result torch
    gives, so that a later ``.view()`` works as it does for real."""
    if x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)):
        return x.new_empty_strided(x.shape, x.stride())
    return torch.empty_like(x)


def _same_shape(module: nn.Module, x: Any, *rest: Any, **kw: Any) -> Any:
    """An elementwise layer's output on shape-only tensors (in place, and
    for Identity: the input itself, as torch returns it)."""
    return x if getattr(module, "inplace", False) or isinstance(module, nn.Identity) else _like(x)


def _batchnorm(module: nn.Module, x: Any) -> Any:
    module._check_input_dim(x)  # torch's own ValueError for the wrong rank
    if x.dim() < 2 or x.shape[1] != module.num_features:
        got = x.shape[1] if x.dim() >= 2 else None
        raise RuntimeError(f"running_mean should contain {got} elements not {module.num_features}")
    return _like(x)


def _linear(module: nn.Module, x: Any) -> Any:
    if x.dim() < 1 or x.shape[-1] != module.in_features:
        rows = math.prod(x.shape[:-1]) if x.dim() else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1] if x.dim() else 1} "
            f"and {module.in_features}x{module.out_features})"
        )
    return x.new_empty((*x.shape[:-1], module.out_features))


def _conv(module: nn.Module, x: Any) -> Any:
    """A Conv1d/2d/3d's output (zero padding): torch's size formula per
    spatial dim, and the checks its meta kernel makes that a model can fail
    (rank, channels, dtype, a kernel larger than the padded input)."""
    weight = module.weight
    spatial = weight.dim() - 2
    if x.dim() not in (spatial + 1, spatial + 2):
        raise RuntimeError(
            f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to conv{spatial}d, "
            f"but got input of size: {list(x.shape)}"
        )
    batched = x.dim() == spatial + 2
    channels = x.shape[1 if batched else 0]
    if channels != weight.shape[1] * module.groups:
        raise RuntimeError(
            f"Given groups={module.groups}, weight of size {list(weight.shape)}, expected input"
            f"{list(x.shape)} to have {weight.shape[1] * module.groups} channels, but got {channels} channels instead"
        )
    if module.bias is not None and x.dtype != module.bias.dtype and not isinstance(module.padding, str):  # as torch's meta kernels
        raise RuntimeError(f"Input type ({x.dtype}) and bias type ({module.bias.dtype}) should be the same")
    sizes = x.shape[-spatial:]
    kernel = weight.shape[2:]
    if module.padding == "same":
        out = tuple(sizes)
    else:
        pad = (0,) * spatial if module.padding == "valid" else module.padding
        padded = [s + 2 * p for s, p in zip(sizes, pad)]
        reach = [d * (k - 1) + 1 for d, k in zip(module.dilation, kernel)]
        if any(p < r for p, r in zip(padded, reach)):
            raise RuntimeError(
                f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel size: "
                f"({' x '.join(map(str, reach))}). Kernel size can't be greater than actual input size"
            )
        out = tuple((p - r) // s + 1 for p, r, s in zip(padded, reach, module.stride))
    lead = (x.shape[0], module.out_channels) if batched else (module.out_channels,)
    return x.new_empty((*lead, *out))


@functools.lru_cache(maxsize=None)
def _shape_forwards() -> dict[Any, Any]:
    """torch layers whose output shape is computed here, by the layer's own
    class's forward function: on meta tensors each of them runs torch's
    Python reference implementation (0.2 to 0.6 ms a call, most of a shape
    run of a Conv-BN-ReLU stack; a convolution's first one also imports
    sympy, ~0.45 s), where their output's shape is the input's (BatchNorm,
    activations, dropout), its last dim changed (Linear) or torch's
    convolution size formula. The checks torch makes that a user's model can
    fail (BatchNorm's rank and channel count, Linear's in_features, a
    convolution's rank, channels, dtype and kernel size) are made here too."""
    forwards: dict[Any, Any] = {}
    for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
        forwards[cls.forward] = _batchnorm
    for cls in (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
                nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Identity,
                nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout):
        forwards[cls.forward] = _same_shape
    forwards[nn.Linear.forward] = _linear
    for cls in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        forwards[cls.forward] = _conv
    return forwards


@contextlib.contextmanager
def shape_only_layers(model: nn.Module) -> Iterator[None]:
    """For a run on meta or fake tensors in eval mode: each module of
    ``model`` whose class uses the forward of one of :func:`_shape_forwards`'
    layers computes just its output's shape, for the run (an instance
    attribute ``forward``, removed afterwards). Hooks still see every call."""
    table = _shape_forwards()
    patched = []
    for m in model.modules():
        fn = table.get(getattr(type(m), "forward", None))
        if fn is None or "forward" in m.__dict__ or (hasattr(m, "training") and m.training):
            continue
        if isinstance(m, nn.modules.lazy.LazyModuleMixin) or getattr(m, "padding_mode", "zeros") != "zeros":
            continue  # torch's own forward: a lazy layer's first call, padding by reflection etc.
        m.__dict__["forward"] = functools.partial(fn, m)  # what `m.forward = ...` stores, without its checks
        patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)


def set_modes(named: list[tuple[str, nn.Module]], flags: list[bool]) -> None:
    """Put each module's ``training`` flag back (``named`` as from
    ``named_modules()``): the attribute itself, without nn.Module's
    ``__setattr__`` (three dict checks a call, on every module of a model
    of thousands, on each of several restores) unless the flag lives
    elsewhere (a scripted module's property)."""
    for (_, m), flag in zip(named, flags):
        if "training" in m.__dict__:
            m.__dict__["training"] = flag
        else:
            m.training = flag


def _on_meta(model: nn.Module) -> bool:
    seen = False
    for m in model.modules():
        for t in (*m._parameters.values(), *m._buffers.values()):
            if t is not None:
                if not t.is_meta:
                    return False
                seen = True
    return seen


def tensor_mode(model: nn.Module) -> tuple[contextlib.AbstractContextManager, str]:
    """What a shape-only run of ``model`` runs on: meta tensors for a model on
    meta, fake ones (device "cpu") for a model that had to be built on the CPU."""
    if _on_meta(model):
        return contextlib.nullcontext(), "meta"
    from torch._subclasses.fake_tensor import FakeTensorMode

    return FakeTensorMode(allow_non_fake_inputs=True), "cpu"


def spec_tensors(spec: InputSpec, device: str) -> tuple:
    """Zeros of the shapes and dtypes of ``spec`` (inside :func:`tensor_mode`)."""
    return tuple(torch.zeros(shape, dtype=DTYPES[dtype], device=device) for shape, dtype in zip(spec.shapes, spec.dtypes))


def meta_kernels_called_directly() -> int:
    """Let torch's Python meta kernels run without first importing
    torch._dynamo, in a process of bnlint's own (the analysis server, before
    it forks): each kernel is wrapped to disable dynamo (``_disable_dynamo``),
    and the wrapper's first call imports all of torch._dynamo (about 1.1 s
    and 70 MB; a residual model's first ``+`` on meta) to build the disabled
    function it caches on the kernel as ``__dynamo_disable``. While dynamo
    is not compiling anything -- it is not even imported here -- the
    disabled function behaves as the kernel itself, so that is what is
    cached. Only kernels reachable from torch's decomposition tables and its
    reference modules are touched, and nothing when torch wraps them some
    other way (another version). Never in a user's own process: it would
    change what their ``torch.compile`` traces. Returns how many were set."""
    import types

    wrap = getattr(getattr(torch, "_compile", None), "_disable_dynamo", None)
    if wrap is None or "torch._dynamo" in sys.modules:
        return 0
    code = wrap(lambda: None).__code__
    if "fn" not in code.co_freevars:
        return 0
    at = code.co_freevars.index("fn")
    seen: set[int] = set()
    count = 0

    def visit(f: Any, depth: int) -> None:
        nonlocal count
        if depth > 6 or not isinstance(f, types.FunctionType) or id(f) in seen:
            return
        seen.add(id(f))
        if f.__code__ is code:
            kernel = f.__closure__[at].cell_contents
            if "__dynamo_disable" not in vars(kernel):
                kernel.__dynamo_disable = kernel
                count += 1
            return
        for cell in f.__closure__ or ():  # the wrappers around it: out=, type promotion
            try:
                visit(cell.cell_contents, depth + 1)
            except ValueError:  # an empty cell
                pass
        visit(getattr(f, "__wrapped__", None), depth + 1)

    from torch import _decomp

    for table in _decomp.global_decomposition_table.values():
        for f in list(table.values()):
            visit(f, 0)
    for name, module in list(sys.modules.items()):
        if name.startswith(("torch._refs", "torch._prims", "torch._decomp", "torch._meta_registrations")):
            for f in list(vars(module).values()):
                visit(f, 0)
    return count


@contextlib.contextmanager
def shape_only(model: nn.Module) -> Iterator[None]:
    """A forward of ``model`` on shape-only tensors: no autograd, a missing
    numpy failed at once, the layers of :func:`_shape_forwards` computing
    only their output's shape."""
    with torch.no_grad(), absent_imports_fail_fast(), shape_only_layers(model):
        yield


def propagate(model: nn.Module, spec: InputSpec, named: list[tuple[str, nn.Module]] | None = None) -> ShapeInfo:
    """Run ``model`` in eval mode on shape-only inputs and record every
    module's input shape; the modes are put back. A run on meta tensors that
    fails is tried once more with stand-ins for data-dependent ops
    (:mod:`bnlint.model.standins`); shapes after the first stand-in are not
    recorded, and ``stand_ins`` says which. ``named``: the model's
    ``named_modules()``, when the caller has them."""
    named = list(model.named_modules()) if named is None else named
    flags = [m.training for _, m in named]
    try:
        model.eval()  # BN in eval: no batch-size check, no stat updates
        return propagate_in_eval(model, spec, named)
    finally:
        set_modes(named, flags)


def propagate_in_eval(model: nn.Module, spec: InputSpec, named: list[tuple[str, nn.Module]]) -> ShapeInfo:
    """:func:`propagate` for a model its caller has put in eval mode."""
    mode, device = tensor_mode(model)
    info = _propagate(model, spec, mode, device, None, named)
    if info.error is not None and device == "meta":
        retried = _propagate(model, spec, mode, device, StandIns(), named)  # see its module on when it counts
        if retried.error is None:
            return retried
    return info


def failure(exc: BaseException) -> str:
    """Why a shape-only run failed, in one line: the exception's type and
    the first line of its message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _propagate(model: nn.Module, spec: InputSpec, mode: Any, device: str, stand_ins: Any,
               named: list[tuple[str, nn.Module]]) -> ShapeInfo:
    info = ShapeInfo(spec)
    names: dict[int, str] = {}
    for name, m in named:
        names.setdefault(id(m), name)

    called: set[int] = set()

    def record(module, args):
        called.add(id(module))
        if stand_ins is not None and stand_ins.used:
            return  # sizes after a stand-in are not the real ones
        if args and isinstance(args[0], torch.Tensor) and id(module) in names:
            info.inputs.setdefault(names[id(module)], []).append(tuple(args[0].shape))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        with mode, shape_only(model), stand_ins or contextlib.nullcontext():
            model(*spec_tensors(spec, device))
    except Exception as exc:  # noqa: BLE001 -- a forward that needs real data
        if stand_ins is None or not ended_after_the_layers(model, called):
            info.error = failure(exc)
    finally:
        handle.remove()
    if stand_ins is not None:
        info.stand_ins = stand_ins.describe()
    return info
