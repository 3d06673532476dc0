"""Source analysis of training and inference scripts: stdlib ``ast`` only.

Nothing is imported or executed and torch is never imported on this path, so
``bnlint check --static`` is safe on any file and fast enough for a pre-commit
hook. The analysis is per file and answers the questions the source rules
(BN203, BN401, BN402, BN403, BN404) ask:

* **Which names hold models.** Instances of ``nn.Module`` subclasses defined in
  the file or of ``torch.nn`` layers, torchvision/timm/hub builders,
  ``from_pretrained`` models, and what ``.to()``/``.cuda()``/``DDP(...)``/
  ``torch.compile(...)`` return from them (aliases of the same object);
  function parameters used like models (``.eval()``/``.parameters()`` on them,
  a model-like name or an ``nn.Module`` annotation); ``self.model``-style
  attributes of trainer classes.
* **Which mode each model is in, at each point.** A flow-sensitive walk of
  every function tracks, per model, the set of modes it may be in:
  ``train`` (a freshly built module is), ``eval``, and ``entry`` -- "whatever
  the caller had". Branches join (``model.train() if t else model.eval()`` is
  "either", which no rule reports: precision first); a loop body is walked
  from the join of the loop's entry and what one pass of the body leaves (the
  state every iteration starts from: modes only ever grow by one step here);
  ``return``/``raise`` end a path and ``finally`` runs on the way out. A call
  of another function of the same file applies that function's effect (a
  helper that calls ``model.eval()`` puts the caller's model in eval), and
  each call site records the modes it passes, so an ``entry`` mode is
  resolved along the file's call chains (:meth:`SourceAnalysis.train_path`).
* **Which models hold BatchNorm or Dropout** at all: a model built only from
  layers that behave the same in both modes is not worth a report.
* **Where a model runs for inference**: lexically under ``torch.no_grad()`` /
  ``torch.inference_mode()`` / ``torch.set_grad_enabled(False)`` or their
  decorators, in a predict/evaluate/validate/test function, or in a function
  that every caller in the file calls for inference.
* **Training steps** (``.backward()``, ``optimizer.step()``) and the loops
  around them, for "eval() for validation, and train() never again".

Methods of ``nn.Module`` / ``LightningModule`` subclasses are not analyzed for
modes: their mode is their parent's or the framework's to set (a module
calling ``self(x)`` in its own ``predict`` is fine).
"""

from __future__ import annotations

import ast
import functools
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from bnlint.findings import Finding

TRAIN, EVAL, ENTRY = "train", "eval", "entry"
Mode = frozenset
TRAINING = frozenset({TRAIN})
EVALUATING = frozenset({EVAL})
FROM_CALLER = frozenset({ENTRY})
EITHER = frozenset({TRAIN, EVAL})
# The key under which a walk's state keeps `torch.set_grad_enabled(False)`
# called as a statement: {reason} where it is certainly off, {""} where on.
GRAD = "#grad"
GRAD_ON = frozenset({""})

# -- vocabulary ----------------------------------------------------------------
_MODEL_BASES = {
    "torch.nn.Module",
    "torch.nn.modules.module.Module",
    "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.LightningModule",
    "pytorch_lightning.core.module.LightningModule",
    "lightning.LightningModule",
    "lightning.pytorch.LightningModule",
    "lightning.pytorch.core.LightningModule",
}
_TORCH_NN_CLASS = re.compile(r"^torch\.nn\.(?:modules\.(?:\w+\.)?)?[A-Z]\w*$")
_NOT_MODULES = {"torch.nn.Parameter", "torch.nn.ParameterList", "torch.nn.ParameterDict"}
# Builders that return a module in training mode.
_BUILDERS = re.compile(
    r"^(?:torchvision\.models\.(?:\w+\.)*[a-z]\w*|timm\.(?:models\.)?create_model|torch\.hub\.load)$"
)
_NOT_BUILDERS = re.compile(
    r"^torchvision\.models\.(?:\w+\.)*(?:get_weight|get_model_weights|list_models|get_model_builder|get_graph_node_names)$"
    r"|^torchvision\.models\.feature_extraction\."
)
# Hugging Face's from_pretrained() puts the model in eval() itself.
_PRETRAINED = re.compile(r"^(?:transformers|diffusers|peft)\.(?:\w+\.)*\w*(?:Model|For)\w*\.from_pretrained$")
# Calls that return the same module (or a wrapper sharing its mode).
_SELF_RETURNING = {
    "to", "cuda", "cpu", "float", "half", "double", "bfloat16", "type", "requires_grad_",
    "share_memory", "apply", "to_empty", "xpu", "mps", "ipu",
}
_WRAPPERS = re.compile(
    r"^(?:torch\.nn\.(?:parallel\.(?:distributed\.)?)?(?:DataParallel|DistributedDataParallel)"
    r"|torch\.distributed\.fsdp\.(?:\w+\.)*FullyShardedDataParallel"
    r"|torch\.compile|torch\.jit\.script|torch\.nn\.SyncBatchNorm\.convert_sync_batchnorm"
    r"|torchvision\.models\.feature_extraction\.create_feature_extractor)$"
)
# Context managers given a model that may switch its mode while inside
# (detectron2's inference_context); accelerate's accumulate(model) does not.
_MODE_CONTEXT_WORDS = {"eval", "evaluation", "inference", "infer", "train", "training", "mode", "context", "freeze", "frozen"}
_NO_GRAD = {
    "torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
    "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode",
}
_SET_GRAD = {"torch.set_grad_enabled", "torch.autograd.set_grad_enabled", "torch.autograd.grad_mode.set_grad_enabled"}
# Exports that record the module as it is. torch.onnx.export records it as it
# is too since torch 2.9 (dynamo=True is the default and only warns); the
# legacy exporter (dynamo=False) switches to eval itself. torch.jit.script
# keeps `training` as a flag and torch.jit.freeze refuses train mode: not here.
EXPORTS = frozenset({
    "torch.jit.trace", "torch.jit.trace_module", "torch.export.export", "torch._dynamo.export",
    "torch.onnx.export", "torch._export.aot_compile",
})
_EXPORTED = ("model", "mod", "func", "f")  # the keyword an export takes the module by
# Functional dropouts: qualified name -> (training keyword, its position, default).
FUNCTIONAL_DROPOUT = {
    "torch.nn.functional.dropout": ("training", 2, True),
    "torch.nn.functional.dropout1d": ("training", 2, True),
    "torch.nn.functional.dropout2d": ("training", 2, True),
    "torch.nn.functional.dropout3d": ("training", 2, True),
    "torch.nn.functional.alpha_dropout": ("training", 2, False),
    "torch.nn.functional.feature_alpha_dropout": ("training", 2, False),
    "torch.dropout": ("train", 2, None),
    "torch.alpha_dropout": ("train", 2, None),
    "torch.feature_dropout": ("train", 2, None),
    "torch.feature_alpha_dropout": ("train", 2, None),
}
_MODEL_NAME = re.compile(
    r"^(?:model|net|network|backbone|encoder|decoder|generator|discriminator|classifier"
    r"|teacher|student|detector|ema_model|model_ema)$"
    r"|^(?:model|net)_\w+$|^\w+_(?:model|net|network)$|^net[A-Z]\w*$"
)
# Methods that only modules have (optimizers have state_dict and zero_grad too).
_MODULE_METHODS = {
    "eval", "train", "parameters", "named_parameters", "modules", "named_modules", "children",
    "named_children", "requires_grad_", "buffers", "named_buffers", "register_forward_hook",
    "register_forward_pre_hook",
}
# A class defined elsewhere and named like a module class.
_MODEL_CLASS = re.compile(
    r"(?:Net|Model|Network|Classifier|Encoder|Decoder|Generator|Discriminator|CNN|RNN|MLP"
    r"|ResNet\w*|VGG\w*|Backbone|Detector|Segmenter|AutoEncoder)$"
)
_NOT_MODEL_PACKAGES = ("sklearn.", "xgboost.", "lightgbm.", "catboost.", "statsmodels.", "keras.", "tensorflow.", "jax.", "flax.")
# Layers that behave the same in train() and eval().
_INERT_LAYER = re.compile(
    r"^(?:Lazy)?(?:Conv\w*|ConvTranspose\w*|Linear|Bilinear|\w*Pool\w*|Flatten|Unflatten"
    r"|Identity|Embedding\w*|LayerNorm|GroupNorm|RMSNorm|LocalResponseNorm|InstanceNorm\dd|Upsample\w*|Pixel\w*"
    r"|Softmax\w*|LogSoftmax|Softmin|ReLU\d*|LeakyReLU|PReLU|ELU|SELU|CELU|GELU|SiLU|Mish|Sigmoid|LogSigmoid"
    r"|Tanh|Hardtanh|Hardswish|Hardsigmoid|Hardshrink|Softshrink|Softplus|Softsign|Tanhshrink|Threshold|GLU"
    r"|\w*Pad\dd|ChannelShuffle|Fold|Unfold|CosineSimilarity|PairwiseDistance"
    r"|Sequential|ModuleList|ModuleDict)$"
)
_LIVE_WORDS = re.compile(r"BatchNorm|batch_norm|Dropout|dropout|RReLU|rrelu|track_running_stats")
_BUILTINS = {
    "super", "range", "len", "int", "float", "bool", "str", "list", "dict", "tuple", "set", "isinstance",
    "getattr", "setattr", "hasattr", "print", "zip", "enumerate", "min", "max", "sum", "abs", "round",
    "reversed", "sorted", "map", "filter", "any", "all", "type", "iter", "next",
}
_PASSED_ROUNDS = 4  # walks of a file at most (see SourceAnalysis.__init__)
_INFERENCE_WORDS = {
    "predict", "prediction", "predictions", "evaluate", "evaluation", "eval", "validate",
    "validation", "val", "valid", "test", "testing", "infer", "inference",
}
_TRAINING_WORDS = {"train", "training", "fit", "finetune", "step"}
_OPTIMIZER_NAME = re.compile(r"(?i:optim)|(?:^|_)opt(?:$|_|[A-Z0-9])|(?i:scaler)")
# BatchNorm architectures among the builders (BN401 needs to know the frozen
# part has BatchNorm layers).
_BN_ARCH = re.compile(
    r"resnet|resnext|wide_resnet|densenet|mobilenet|efficientnet|regnet|vgg\d+_bn|inception"
    r"|googlenet|shufflenet|mnasnet|deeplab|fcn_|lraspp|raft|r3d|r2plus1d|mc3|s3d|x3d"
    r"|csp|darknet|hrnet|dla|dpn|rexnet|ghostnet",
    re.I,
)
# ... and those of them that have none: BiT (GroupNorm), NF-nets (no norm).
# Detection models freeze their backbone's BNs themselves (FrozenBatchNorm2d).
_NOT_BN_ARCH = re.compile(r"nf_|nfnet|_bit|bit_|_gn\b|gn_|resnetv2_\d+x\d|detection|rcnn|retinanet|fcos|ssd", re.I)
_KEEPS_BN_EVAL = re.compile(
    r"(?:bn|batch_?norm|norm)\w*(?:eval|freez|frozen|fix)|(?:freez|frozen|fix)\w*(?:bn|batch_?norm)"
    r"|FrozenBatchNorm|track_running_stats|freeze_norm|freeze_bn",
    re.I,
)


def dotted(expr: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return ".".join(reversed(parts))


def _const(expr: ast.AST | None):
    """The value of a literal constant, or the sentinel ``...`` if not one."""
    if isinstance(expr, ast.Constant):
        return expr.value
    return ...


def _name_words(name: str) -> set[str]:
    return {w for w in re.split(r"_+|(?<=[a-z])(?=[A-Z])", name.lower()) if w}


def is_inference_name(name: str) -> bool:
    """``validate``, ``evaluate_model``, ``run_test``, ``predict``; not
    pytest's ``test_something`` nor anything that also says train/fit."""
    words = _name_words(name)
    if name.lower().lstrip("_").startswith("test_"):
        return False
    return bool(words & _INFERENCE_WORDS) and not words & _TRAINING_WORDS


def looks_like_model_name(key: str) -> bool:
    return bool(_MODEL_NAME.match(key.rsplit(".", 1)[-1]))


def substitute(mode: Mode, caller: Mode) -> Mode:
    """A callee's mode with ``entry`` replaced by what the caller had."""
    return (mode - FROM_CALLER) | caller if ENTRY in mode else mode


# -- imports ---------------------------------------------------------------------
class Imports:
    """Local names -> qualified names, from every import in the file
    (flow-insensitive: a script imports what it uses)."""

    def __init__(self, tree: ast.Module):
        self.table: dict[str, str] = {}
        for node in statements(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.table[a.asname] = a.name
                    else:
                        root = a.name.split(".", 1)[0]
                        self.table.setdefault(root, root)
            elif isinstance(node, ast.ImportFrom) and (node.module or node.level):
                base = "." * node.level + (node.module or "")  # `.models` stays relative
                for a in node.names:
                    if a.name != "*":
                        self.table[a.asname or a.name] = f"{base}.{a.name}" if node.module else f"{base}{a.name}"

    def qualify(self, expr: ast.AST) -> str | None:
        d = dotted(expr)
        if d is None:
            return None
        root, _, rest = d.partition(".")
        base = self.table.get(root)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base


# -- the file's structure --------------------------------------------------------
@dataclass(eq=False)
class ClassInfo:
    name: str
    node: ast.ClassDef
    bases: list[str]
    is_model: bool = False  # derives from nn.Module / LightningModule: a fresh one is in train mode
    managed: bool = False  # its methods' modes are its parent's or a framework's to set
    live: bool | None = None  # may hold BatchNorm/Dropout; computed on demand
    method_names: set[str] = field(default_factory=set)
    methods: dict[str, "Func"] = field(default_factory=dict)  # walked methods (not of managed classes)
    parents: list["ClassInfo"] = field(default_factory=list)  # bases defined in the file
    _names: set[str] | None = None

    @property
    def names(self) -> set[str]:
        """The identifiers its body uses (computed when first asked)."""
        if self._names is None:
            self._names = identifiers(self.node)
        return self._names

    def method(self, name: str) -> "Func | None":
        """``self.name`` as Python resolves it among the file's classes."""
        if name in self.methods:
            return self.methods[name]
        for parent in self.parents:
            found = parent.method(name)
            if found is not None:
                return found
        return None

    def is_a(self, other: "ClassInfo") -> bool:
        return self is other or any(p.is_a(other) for p in self.parents)


@dataclass(eq=False)
class Func:
    """A function, a method, or the module's top-level code (``<module>``)."""

    name: str
    node: ast.AST
    body: list[ast.stmt]
    cls: ClassInfo | None = None
    parent: "Func | None" = None
    params: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    locals: set[str] = field(default_factory=set)
    nested: dict[str, "Func"] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)  # parameters a positional argument can bind
    passed: set[str] = field(default_factory=set)  # parameters some caller passes a model to
    generator: bool = False  # yields: a context manager, perhaps, whose effect splits at the yield
    calls: list[ast.expr] = field(default_factory=list)  # what its calls call, unresolved
    grad_off: str | None = None  # "@torch.no_grad()" decorator

    @property
    def qualname(self) -> str:
        if self.cls is not None:
            return f"{self.cls.name}.{self.name}"
        return self.name

    def nested_in(self, other: "Func") -> bool:
        """Defined inside ``other`` (its free names are ``other``'s)."""
        f = self.parent
        while f is not None:
            if f is other:
                return True
            f = f.parent
        return False

    @property
    def is_module(self) -> bool:
        return self.name == "<module>"

    def is_nonlocal(self, key: str) -> bool:
        """A key whose value comes from outside: a parameter, ``self.x``, a global."""
        root = key.split(".", 1)[0]
        return root in self.params or root == "self" or (not self.is_module and root not in self.locals)


# -- events ----------------------------------------------------------------------
@dataclass(eq=False)
class ModelCall:
    node: ast.Call
    func: Func
    key: str
    mode: Mode
    grad_off: str | None  # "torch.no_grad()" etc. when gradients are off there
    live: bool | None = True
    # the model was put in train() explicitly, with no training step since:
    # a forward in training mode on purpose (MC dropout, BN recalibration)
    deliberate: bool = False  # may hold BatchNorm/Dropout; None: as the callers' model


@dataclass(eq=False)
class ModeSet:
    node: ast.AST
    func: Func
    key: str
    mode: Mode
    via: str | None = None  # the helper that set it, for a call of one
    grad_off: str | None = None  # set while gradients are off
    # puts the model in eval whenever it sets anything: `.eval()`, or a
    # helper that calls it (perhaps in a loop or a branch) and never train()
    evals: bool = False


@dataclass(eq=False)
class Export:
    node: ast.Call
    func: Func
    key: str
    mode: Mode
    api: str
    live: bool | None = True


@dataclass(eq=False)
class Step:
    """A training step, with the modes of the models it trains."""

    node: ast.AST
    func: Func
    trains: dict[str, Mode]


@dataclass(eq=False)
class CallOf:
    """A call of another function of the file, with what it binds."""

    node: ast.Call
    caller: Func
    callee: Func
    binding: dict[str, tuple[str, Mode]]  # callee key -> (caller key, caller's mode)
    grad_off: str | None
    live: dict[str, bool | None] = field(default_factory=dict)  # callee key -> the caller's liveness
    archs: dict[str, str] = field(default_factory=dict)  # callee key -> what the caller built

    def bound(self, key: str) -> tuple[str, str] | None:
        """How the callee's ``key`` is bound here: (the binding's callee key,
        the caller's key for ``key`` -- "" for a new model passed in), or
        None. A parameter binds its attributes too (``model.backbone``)."""
        root, dot, rest = key.partition(".")
        if root in self.binding:
            ck = self.binding[root][0]
            return root, (ck + dot + rest if ck else "")
        if key in self.binding:
            return key, self.binding[key][0]
        return None


@dataclass(eq=False)
class Freeze:
    """``x.requires_grad_(False)`` or ``for p in x.parameters(): p.requires_grad = False``."""

    node: ast.AST
    func: Func
    key: str
    arch: str | None = None  # what the frozen model was built as, where known here


@dataclass(eq=False)
class Unrestored:
    """BN403: an ``eval()`` in a training loop that is still in force at the
    next iteration's training step."""

    node: ast.AST
    func: Func
    key: str
    step: ast.AST
    via: str | None
    live: bool | None = True


@dataclass
class Summary:
    """What a function does to the keys it shares with its callers."""

    exit: dict[str, Mode] | None  # None: never returns normally
    trains: dict[str, Mode]  # modes of the models it trains, at its training steps
    evals: set[str]  # keys it puts in eval
    uses: set[str]  # every key it shares with its callers and touches
    returns: "Val | None" = None


@dataclass(frozen=True)
class Val:
    """What an expression evaluates to, as far as models go: an alias of a
    key, or a new module in a known mode."""

    key: str | None = None
    mode: Mode | None = None
    arch: str | None = None
    live: bool = True  # may hold BatchNorm or Dropout (False: certainly none)


# -- the walk --------------------------------------------------------------------
class _Walk:
    """A flow-sensitive walk of one function, started with every model it
    shares with its callers in mode ``entry``."""

    def __init__(self, an: "SourceAnalysis", func: Func):
        self.an = an
        self.func = func
        self.aliases: dict[str, str] = {}
        self.shadowed: frozenset[str] = frozenset()  # comprehension variables in scope
        self.ambiguous: dict[str, set[str]] = {}  # a name that aliases one of several models
        self.models: set[str] = set()
        self.main: list = []  # the function's events
        self.sink: list | None = self.main  # where events go now: None in a dry pass
        self.grad_off: list[str] = [f"@{func.grad_off}"] if func.grad_off else []
        # every `return` reached: (on the real pass?, state, value); a
        # `finally` rewrites the states of the returns it encloses
        self.exits: list[tuple[bool, dict, Val | None]] = []
        self.trained: set[str] = set()  # models run outside no_grad so far (feeding a step)
        self.trained_on_purpose: set[str] = set()  # explicit .train(), no training step since
        self.in_loop_check = 0
        self.jumps: list[tuple[list[dict], list[dict]]] = []  # per enclosing loop: (breaks, continues)
        self._dry: dict[tuple, dict | None] = {}  # (loop, state) -> state at the loop head
        self.loop_params: dict[str, str] = {}  # `for p in x.parameters()`: p -> x
        self.live: dict[str, bool] = {}  # key -> may hold BatchNorm/Dropout (any assignment)
        self.built: dict[str, str] = {}  # key -> what it was last built as, in walk order
        for p in func.params:
            ann = func.annotations.get(p, "")
            if looks_like_model_name(p) or ann in an.model_type_names or p in func.passed:
                self.models.add(p)

    # -- keys and models -------------------------------------------------------
    def canon(self, key: str) -> str:
        """The key of the object an expression names: aliases followed (also
        of a prefix: ``ddp.module`` with ``ddp = DDP(model)``), and
        ``DDP(model).module`` is ``model`` -- they share one mode."""
        for _ in range(8):
            before = key
            parts = key.split(".")
            for i in range(len(parts), 0, -1):
                target = self.aliases.get(".".join(parts[:i]) if i > 1 else parts[0])
                if target is not None:
                    key = ".".join([target, *parts[i:]])
                    break
            while key.endswith(".module") and self.is_model(key[: -len(".module")]):
                key = key[: -len(".module")]
            if key == before:
                break
        return key

    def is_model(self, key: str) -> bool:
        if key in ("self", "cls") or key.startswith("super") or key.split(".", 1)[0] in self.shadowed:
            return False
        if key in self.models or key in self.an.module_keys:
            return True
        if key.split(".", 1)[0] in self.an.imports.table:
            return False  # `models.resnet18`, `torch.nn`: modules, not models
        if key.startswith("self.") and self.func.cls is not None:
            if key in self.an.model_attrs.get(self.func.cls.name, ()):
                return True
        return looks_like_model_name(key)

    def default(self, key: str) -> Mode:
        if key == GRAD:
            return GRAD_ON
        return FROM_CALLER if (self.func.is_nonlocal(key) and not self.func.is_module) else EITHER

    def gradients_off(self, env: dict) -> str | None:
        """Why gradients are off here: a `with torch.no_grad():` around, a
        decorator, or `torch.set_grad_enabled(False)` earlier on every path."""
        if self.grad_off:
            return self.grad_off[-1]
        state = env.get(GRAD, GRAD_ON)
        return next(iter(state)) if len(state) == 1 and state != GRAD_ON else None

    def get(self, env: dict, key: str) -> Mode:
        """The modes ``key`` may be in; a submodule not set on its own is in
        its parent's mode (``model.backbone`` after ``model.eval()``)."""
        if key in env:
            return env[key]
        parent = key
        while "." in parent:
            parent = parent.rsplit(".", 1)[0]
            if parent in env:
                return env[parent]
        return self.default(key)

    def join(self, a: dict | None, b: dict | None) -> dict | None:
        """Where two paths meet (None: a path that never gets here). A key
        one side never set has its starting mode on that side."""
        if a is None:
            return None if b is None else dict(b)
        if b is None:
            return dict(a)
        return {k: self.get(a, k) | self.get(b, k) for k in a.keys() | b.keys()}

    def emit(self, event) -> None:
        if self.sink is not None:
            self.sink.append(event)

    def key_of(self, expr: ast.AST) -> str | None:
        d = dotted(expr)
        return self.canon(d) if d is not None else None

    # -- statements ------------------------------------------------------------
    def block(self, stmts: Sequence[ast.stmt], env: dict | None) -> dict | None:
        for stmt in stmts:
            if env is None:
                return None
            env = self.stmt(stmt, env)
        return env

    def stmt(self, s: ast.stmt, env: dict) -> dict | None:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return env
        if isinstance(s, (ast.Return, ast.Raise)):
            value = s.value if isinstance(s, ast.Return) else s.exc
            val = self.expr(value, env) if value is not None else None
            if isinstance(s, ast.Return):
                self.exits.append((self.sink is self.main, env, val))
            return None
        if isinstance(s, ast.Assign):
            val = self.expr(s.value, env)
            for t in s.targets:
                self.assign(t, val, env, s)
            return env
        if isinstance(s, (ast.AnnAssign, ast.AugAssign)):
            val = self.expr(s.value, env) if s.value is not None else None
            self.assign(s.target, val if isinstance(s, ast.AnnAssign) else None, env, s)
            return env
        if isinstance(s, ast.If):
            self.expr(s.test, env)
            return self.branches(env, [s.body, s.orelse])
        if isinstance(s, (ast.For, ast.AsyncFor, ast.While)):
            return self.loop(s, env)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            return self.with_(s, env)
        if isinstance(s, ast.Try) or s.__class__.__name__ == "TryStar":
            return self.try_(s, env)
        if s.__class__.__name__ == "Match":
            self.expr(s.subject, env)
            return self.branches(env, [case.body for case in s.cases] + [[]])  # no case may match
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
            q = self.an.imports.qualify(s.value.func)
            if q in _SET_GRAD and s.value.args:  # torch.set_grad_enabled(False) as a statement
                flag = _const(s.value.args[0])
                env[GRAD] = frozenset({f"{q}(False)"}) if flag is False else GRAD_ON
                return env
        if isinstance(s, (ast.Break, ast.Continue)) and self.jumps:
            self.jumps[-1][0 if isinstance(s, ast.Break) else 1].append(env)
            return None
        # Expr, Assert, Delete, Global, Pass, Import ...
        for child in ast.iter_child_nodes(s):
            if isinstance(child, ast.expr):
                self.expr(child, env)
        return env

    def branches(self, env: dict, blocks: list[list[ast.stmt]]) -> dict | None:
        """Walk alternative blocks from one state and join where they meet. A
        name the branches alias to different models (``net = a`` / ``net =
        b``) stops being an alias and keeps the join of their modes."""
        before = dict(self.aliases)
        ambiguous, models = dict(self.ambiguous), set(self.models)
        outs: list[tuple[dict | None, dict[str, str]]] = []
        seen_models: set[str] = set()
        seen_ambiguous: dict[str, set[str]] = {}
        for block in blocks:
            self.aliases, self.ambiguous, self.models = dict(before), dict(ambiguous), set(models)
            outs.append((self.block(block, dict(env)), self.aliases))
            seen_models |= self.models
            for k, targets in self.ambiguous.items():
                seen_ambiguous.setdefault(k, set()).update(targets)
        self.models, self.ambiguous = seen_models, seen_ambiguous
        live = [(out, aliases) for out, aliases in outs if out is not None]
        agreed = {
            k: v for k, v in (live[0][1] if live else before).items()
            if all(aliases.get(k) == v for _, aliases in live)
        }
        self.aliases = agreed
        merged: dict | None = None
        for out, _ in live:
            merged = self.join(merged, out)
        if merged is not None:
            for k in {k for _, aliases in live for k in aliases} - agreed.keys():
                modes = [self.get(out, aliases.get(k, k)) for out, aliases in live]
                merged[k] = frozenset().union(*modes)
                self.ambiguous[k] = {aliases[k] for _, aliases in live if k in aliases}
        return merged

    def rebind(self, name: str, env: dict) -> None:
        """``name`` is about to name something else: names that aliased the
        old object keep its mode, and what was known of its attributes goes."""
        for alias, target in list(self.aliases.items()):
            if target == name or target.startswith(name + "."):
                env[alias] = self.get(env, target)
                del self.aliases[alias]
        for k in [k for k in env if k.startswith(name + ".")]:
            del env[k]
        self.aliases.pop(name, None)
        self.ambiguous.pop(name, None)

    def assign(self, target: ast.AST, val: Val | None, env: dict, stmt: ast.stmt) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.assign(elt, None, env, stmt)
            return
        if isinstance(target, ast.Attribute) and target.attr == "requires_grad":
            if _const(stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None) is False:
                self.freeze_target(target, stmt)
        d = dotted(target)
        if d is None:
            return
        if val is not None and val.key is not None and self.is_model(val.key):
            if d == val.key:  # model = model.to(device)
                return
            if val.key.startswith(d + "."):  # model = model.backbone: another object
                mode, live = self.get(env, val.key), self.liveness(val.key)
                self.rebind(d, env)
                env[d] = mode
                self.models.add(d)
                self.live[d] = True if live is None else live
                return
            self.rebind(d, env)
            self.aliases[d] = val.key
            self.models.add(d)
            return
        self.rebind(d, env)
        if val is not None and val.mode is not None:
            env[d] = val.mode
            self.models.add(d)
            self.live[d] = self.live.get(d, False) or val.live
            if val.arch:
                self.built[d] = val.arch
            else:
                self.built.pop(d, None)
        else:  # something we cannot follow
            if d in env or self.func.is_nonlocal(d):
                env[d] = EITHER
            self.models.discard(d)
            self.live[d] = True
            self.built.pop(d, None)

    def freeze_target(self, target: ast.Attribute, stmt: ast.stmt) -> None:
        """``p.requires_grad = False`` inside ``for p in x.parameters()``."""
        var = dotted(target.value)
        owner = self.loop_params.get(var) if var else None
        if owner is not None:
            self.emit(Freeze(stmt, self.func, owner, self.built.get(owner.split(".", 1)[0])))

    def loop(self, s: ast.stmt, env: dict) -> dict | None:
        outer_params = self.loop_params
        try:
            return self._loop(s, env)
        finally:
            self.loop_params = outer_params

    def _loop(self, s: ast.stmt, env: dict) -> dict | None:
        unrolled = self._unroll(s, env)
        if unrolled is not False:
            return unrolled
        if isinstance(s, ast.While):
            self.expr(s.test, env)
        else:
            self.expr(s.iter, env)
            self.assign(s.target, None, env, s)
            owner = self._parameters_of(s.iter)
            if owner is not None:
                var = s.target.elts[-1] if isinstance(s.target, ast.Tuple) and s.target.elts else s.target
                if isinstance(var, ast.Name):
                    self.loop_params = {**self.loop_params, var.id: owner}
        # A dry pass finds what the loop body does; the loop head is where
        # the first and every later iteration start. Its answer is kept: a
        # loop nested in loops is reached again in the same state.
        memo = (id(s), frozenset(env.items()), frozenset(self.aliases.items()))
        if memo not in self._dry:
            sink, self.sink = self.sink, None
            try:
                self._dry[memo] = self.body(s, dict(env))
            finally:
                self.sink = sink
        head = self.join(env, self._dry[memo][0])
        mark = len(self.sink) if self.sink is not None else 0
        end, breaks = self.body(s, dict(head))
        if self.sink is not None:
            self.check_restored(s, end, self.sink[mark:])
        after = self.join(head, end)
        if s.orelse:  # runs when the loop ends without a break
            after = self.block(s.orelse, after)
        for state in breaks:
            after = self.join(after, state)
        return after

    def body(self, loop: ast.stmt, env: dict) -> tuple[dict | None, list[dict]]:
        """One pass of a loop body: the state the next iteration starts from
        (its end joined with every `continue`), and the states at `break`s."""
        self.jumps.append(([], []))
        try:
            end = self.block(loop.body, env)
        finally:
            breaks, continues = self.jumps.pop()
        for state in continues:
            end = self.join(end, state)
        return end, breaks

    def _unroll(self, s: ast.stmt, env: dict):
        """``for net in (netG, netD): net.eval()``: the body once per model,
        with the loop variable naming it. False when not such a loop."""
        if not (
            isinstance(s, (ast.For, ast.AsyncFor))
            and isinstance(s.target, ast.Name)
            and isinstance(s.iter, (ast.Tuple, ast.List))
            and 0 < len(s.iter.elts) <= 8
            and not any(isinstance(n, (ast.For, ast.AsyncFor, ast.While)) for n in statements(s))
        ):
            return False
        keys = [self.expr_key(e) for e in s.iter.elts]
        if None in keys:
            return False
        var = s.target.id
        out: dict | None = env
        try:
            for key in keys:
                if out is None:
                    break
                self.aliases[var] = key  # type: ignore[assignment]
                out = self.block(s.body, out)
        finally:
            self.aliases.pop(var, None)
        return self.block(s.orelse, out) if s.orelse and out is not None else out

    def _parameters_of(self, it: ast.AST) -> str | None:
        if (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Attribute)
            and it.func.attr in ("parameters", "named_parameters")
        ):
            key = self.key_of(it.func.value)
            if key is not None and key not in ("self",):
                return key
        return None

    def check_restored(self, loop: ast.stmt, end: dict | None, events: list) -> None:
        """BN403: walk the body once more from where the *next* iteration
        starts (the end of this one); a model put in eval in this body that is
        still only in eval at a training step was never put back in train."""
        if end is None or self.in_loop_check:
            return
        evals = [e for e in events if isinstance(e, ModeSet) and e.evals]
        # Only models this loop trains in train mode at least once: a teacher
        # put in eval() at the top of every epoch is not a training model.
        trained = {k for e in events if isinstance(e, Step) for k, m in e.trains.items() if m - EVALUATING}
        if not evals or not trained:
            return
        # An eval() after which the body sets that model's mode no more is in
        # force at the next iteration's start whenever it ran (`if epoch % 5
        # == 0: model.eval()`); so is whatever the body ends with.
        start = dict(end)
        last: dict[str, ModeSet] = {}
        for e in events:
            if isinstance(e, ModeSet):
                last[e.key] = e
        start.update({k: EVALUATING for k, e in last.items() if e.evals and EVAL in self.get(end, k)})
        probe: list = []
        sink, self.sink = self.sink, probe
        trained_before, self.trained = self.trained, set()
        self.in_loop_check += 1
        try:
            self.body(loop, start)
        finally:
            self.in_loop_check -= 1
            self.sink = sink
            self.trained = trained_before
        reported = set()
        for step in (e for e in probe if isinstance(e, Step)):
            for key, mode in step.trains.items():
                if mode != EVALUATING or key in reported or key not in trained:
                    continue
                first = next((e for e in evals if e.key == key), None)
                if first is None:
                    continue
                reported.add(key)
                self.emit(Unrestored(first.node, self.func, key, step.node, first.via, self.liveness(key)))

    def with_(self, s: ast.stmt, env: dict) -> dict | None:
        pushed = 0
        handed: dict[str, Mode] = {}  # models handed to a context manager we cannot see
        for item in s.items:
            ce = item.context_expr
            self.expr(ce, env)
            reason = self.an.grad_off(ce)
            if reason:
                self.grad_off.append(reason)
                pushed += 1
            elif (
                isinstance(ce, ast.Call)
                and self.an.callee(ce.func, self.func) is None
                and _name_words((dotted(ce.func) or "").rsplit(".", 1)[-1]) & _MODE_CONTEXT_WORDS
            ):
                # `with inference_context(model):` may switch modes (detectron2)
                for arg in (*ce.args, *(k.value for k in ce.keywords)):
                    key = self.expr_key(arg)
                    if key is not None:
                        handed[key] = self.get(env, key)
                        env[key] = EITHER
            if item.optional_vars is not None:
                self.assign(item.optional_vars, None, env, s)
        try:
            out = self.block(s.body, env)
        finally:
            del self.grad_off[len(self.grad_off) - pushed:]
        if out is not None:
            out.update(handed)  # such context managers restore the mode on exit
        return out

    def try_(self, s: ast.stmt, env: dict) -> dict | None:
        mark = len(self.exits)
        # a handler may start after any statement of the body
        anywhere: dict = dict(env)
        body: dict | None = dict(env)
        for st in s.body:
            if body is None:
                break
            body = self.stmt(st, body)
            anywhere = self.join(anywhere, body) or anywhere
        for _, state, _ in self.exits[mark:]:
            anywhere = self.join(anywhere, state) or anywhere
        out = self.block(s.orelse, body) if body is not None else None
        for h in s.handlers:
            out = self.join(out, self.block(h.body, dict(anywhere)))
        if s.finalbody:
            # the returns inside run the finally block on their way out
            sink, self.sink = self.sink, None
            try:
                for i in range(mark, len(self.exits)):
                    real, state, val = self.exits[i]
                    after = self.block(s.finalbody, dict(state))
                    self.exits[i] = (real, after if after is not None else state, val)
            finally:
                self.sink = sink
            end = self.block(s.finalbody, dict(out) if out is not None else dict(anywhere))
            out = end if out is not None else None  # after a return in `try`, still gone
        return out

    # -- expressions -----------------------------------------------------------
    def expr(self, e: ast.AST | None, env: dict) -> Val | None:
        if e is None:
            return None
        if isinstance(e, ast.Call):
            return self.call(e, env)
        if isinstance(e, (ast.Name, ast.Attribute)):
            key = self.key_of(e)
            if key is not None and self.is_model(key):
                return Val(key=key)
            if isinstance(e, ast.Attribute):
                self.expr(e.value, env)
            return None
        if isinstance(e, ast.IfExp):
            self.expr(e.test, env)
            a, b = dict(env), dict(env)
            va, vb = self.expr(e.body, a), self.expr(e.orelse, b)
            env.clear()
            env.update(self.join(a, b) or {})
            return va if va == vb else None
        if isinstance(e, ast.BoolOp):
            self.expr(e.values[0], env)
            for v in e.values[1:]:
                branch = dict(env)
                self.expr(v, branch)
                merged = self.join(env, branch) or {}
                env.clear()
                env.update(merged)
            return None
        if isinstance(e, ast.Lambda):
            return None
        if isinstance(e, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            # `[m(x) for m in ensemble]`: `m` is the comprehension's own
            names = {n.id for g in e.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
            outer = self.shadowed
            self.shadowed = outer | names
            try:
                for child in ast.iter_child_nodes(e):
                    self.expr(child, env)
            finally:
                self.shadowed = outer
            return None
        if isinstance(e, ast.BinOp):  # a + b + c + ...: a chain, walked without recursion
            operands = []
            while isinstance(e, ast.BinOp):
                operands.append(e.right)
                e = e.left
            operands.append(e)
            for operand in reversed(operands):
                self.expr(operand, env)
            return None
        if isinstance(e, ast.NamedExpr):
            val = self.expr(e.value, env)
            self.assign(e.target, val, env, e)  # type: ignore[arg-type]
            return val
        for child in ast.iter_child_nodes(e):
            if isinstance(child, (ast.expr, ast.comprehension, ast.keyword)):
                self.expr(child, env)
        return None

    def call(self, e: ast.Call, env: dict) -> Val | None:
        f = e.func
        recv: Val | None = None
        if isinstance(f, ast.Attribute):
            recv = self.expr(f.value, env)
        elif not isinstance(f, ast.Name):
            made = self.expr(f, env)  # `Net()(x)`, `model.eval()(x)`
            if made is not None:
                for a in e.args:
                    self.expr(a, env)
                key = made.key or self.an.source_of(f)
                mode = self.get(env, made.key) if made.key else made.mode
                if mode is not None:
                    grad_off = self.gradients_off(env)
                    live = self.liveness(made.key) if made.key else made.live
                    self.emit(ModelCall(e, self.func, key, mode, grad_off, live))
                return None
        args = [self.expr(a, env) for a in e.args]
        kwargs = {kw.arg: self.expr(kw.value, env) for kw in e.keywords}
        qual = self.an.imports.qualify(f)
        if qual is None and isinstance(f, ast.Name) and f.id in self.an.classes:
            qual = f.id
        attr = f.attr if isinstance(f, ast.Attribute) else None
        recv_key = recv.key if recv is not None else None
        grad_off = self.gradients_off(env)

        # model.eval() / model.train(...) / model.to(...) ...
        if recv is not None and attr is not None:
            if attr == "eval" and not e.args and recv_key:
                return self.set_mode(e, recv_key, EVALUATING, env)
            if attr == "train" and recv_key:
                arg = e.args[0] if e.args else next((k.value for k in e.keywords if k.arg == "mode"), None)
                value = True if arg is None else _const(arg)
                mode = TRAINING if value is True else EVALUATING if value is False else EITHER
                out = self.set_mode(e, recv_key, mode, env)
                if mode == TRAINING:
                    self.trained_on_purpose.add(recv_key)
                return out
            if attr == "requires_grad_" and recv_key:
                flag = e.args[0] if e.args else next((k.value for k in e.keywords if k.arg == "requires_grad"), None)
                if _const(flag) is False:
                    self.emit(Freeze(e, self.func, recv_key, self.built.get(recv_key.split(".", 1)[0])))
                return recv
            if attr in _SELF_RETURNING:
                return recv
            if attr == "forward" and recv_key:
                self.model_call(e, recv_key, env, grad_off)
                return None
        # model(x)
        if isinstance(f, (ast.Name, ast.Attribute)) and attr not in ("eval", "train"):
            key = self.key_of(f)
            if key is not None and self.is_model(key) and self.an.callee(f, self.func) is None:
                self.model_call(e, key, env, grad_off)
                return None
        # training steps
        if attr == "backward" or qual == "torch.autograd.backward":
            self.step(e, env)
            return None
        if attr == "step" and isinstance(f, ast.Attribute):
            owner = dotted(f.value) or ""
            if _OPTIMIZER_NAME.search(owner.rsplit(".", 1)[-1]):
                self.step(e, env)
                return None
        if qual is not None:
            if qual in EXPORTS:
                name = next((k for k in _EXPORTED if k in kwargs), None)
                node = e.args[0] if e.args else next((k.value for k in e.keywords if k.arg == name), None)
                val = args[0] if e.args else kwargs.get(name)
                legacy_onnx = qual == "torch.onnx.export" and any(
                    k.arg == "dynamo" and _const(k.value) is False for k in e.keywords
                )
                if val is not None and node is not None and not legacy_onnx:
                    mode = self.get(env, val.key) if val.key else val.mode
                    if mode is not None:
                        self.emit(Export(
                            e, self.func, val.key or self.an.source_of(node), mode, qual,
                            self.liveness(val.key) if val.key else val.live,
                        ))
                return None
            if _WRAPPERS.match(qual) and args:
                return args[0]
            fresh = self.an.fresh(qual, e)
            if fresh is not None:
                # timm.create_model("resnet50"), torch.hub.load(repo, "resnet50")
                pos = {"timm.create_model": 0, "timm.models.create_model": 0, "torch.hub.load": 1}.get(qual)
                if pos is not None and len(e.args) > pos and isinstance(_const(e.args[pos]), str):
                    fresh = Val(mode=fresh.mode, arch=f"{qual}({e.args[pos].value!r})")  # type: ignore[attr-defined]
                return fresh
        if attr == "from_pretrained" and recv is None:
            owner_qual = self.an.imports.qualify(f)
            if owner_qual and _PRETRAINED.match(owner_qual):
                return Val(mode=EVALUATING, arch=owner_qual)
        # a call of another function of this file
        callee = self.an.callee(f, self.func)
        if callee is not None:
            return self.call_function(e, callee, args, kwargs, env, grad_off)
        return None

    def set_mode(self, node: ast.AST, key: str, mode: Mode, env: dict, via: str | None = None, evals: bool = False) -> Val:
        env[key] = mode
        self.trained_on_purpose.discard(key)
        for target in self.ambiguous.get(key, ()):  # it may be any of them: a weak update
            env[target] = self.get(env, target) | mode
        self.models.add(key)
        # a submodule's mode changes with its parent's, and vice versa for
        # what we track: `model.eval()` makes `model.backbone` eval too
        for k in list(env):
            if k.startswith(key + "."):
                env[k] = mode
        self.emit(ModeSet(
            node, self.func, key, mode, via, self.gradients_off(env),
            evals or mode == EVALUATING,
        ))
        return Val(key=key)

    def liveness(self, key: str) -> bool | None:
        if key in self.live:
            return self.live[key]
        return None if self.func.is_nonlocal(key) and not self.func.is_module else True

    def model_call(self, e: ast.Call, key: str, env: dict, grad_off: str | None) -> None:
        self.emit(ModelCall(
            e, self.func, key, self.get(env, key), grad_off, self.liveness(key), key in self.trained_on_purpose,
        ))
        if grad_off is None and self.sink is not None:
            self.trained.add(key)

    def step(self, e: ast.AST, env: dict, trains: dict[str, Mode] | None = None) -> None:
        self.trained_on_purpose.clear()
        if self.sink is None:
            return
        if trains is None:
            trains = {k: self.get(env, k) for k in self.trained}
        self.emit(Step(e, self.func, trains))

    def call_function(
        self, e: ast.Call, callee: Func, args: list[Val | None], kwargs: dict[str | None, Val | None],
        env: dict, grad_off: str | None,
    ) -> Val | None:
        summary = self.an.summary(callee)
        binding: dict[str, tuple[str, Mode]] = {}
        live: dict[str, bool | None] = {}
        archs: dict[str, str] = {}
        params = callee.params

        def bind(param: str, val: Val) -> None:
            if val.key:
                binding[param] = (val.key, self.get(env, val.key))
                live[param] = self.liveness(val.key)
                if val.key in self.built:
                    archs[param] = self.built[val.key]
            else:
                binding[param] = ("", val.mode or EITHER)
                live[param] = val.live
                if val.arch:
                    archs[param] = val.arch

        for i, (arg, val) in enumerate(zip(e.args, args)):
            if isinstance(arg, ast.Starred) or i >= len(callee.positional):
                break  # *args: which parameter gets what is unknown from here on
            if val is not None:
                bind(callee.positional[i], val)
        for name, val in kwargs.items():
            if name in params and val is not None:
                bind(name, val)
        # `self.model` is the caller's own when it calls its own method; any
        # other name the callee does not take as a parameter is a global.
        shared = self.func.cls is not None and callee.cls is not None and self.func.cls.is_a(callee.cls)
        for k in summary.uses if summary is not None else ():
            root = k.split(".", 1)[0]
            if root in params or (k.startswith("self.") and not shared):
                continue
            if (
                root != "self" and not self.func.is_module and (root in self.func.locals or root in self.func.params)
                and not callee.nested_in(self.func)
            ):
                continue  # the callee's global, not the caller's own variable of that name
            binding.setdefault(k, (k, self.get(env, k)))
            live.setdefault(k, self.liveness(k))
        call = CallOf(e, self.func, callee, binding, grad_off, live, archs)
        self.emit(call)
        if summary is None:
            return None

        def caller_key(k: str) -> str | None:
            bound = call.bound(k)
            return bound[1] if bound and bound[1] else None

        if summary.trains:
            trains = {}
            for k, m in summary.trains.items():
                ck = caller_key(k)
                if ck is not None:
                    trains[ck] = substitute(m, self.get(env, ck))
            self.step(e, env, trains)
        if summary.exit is None:
            return None
        for k, m in summary.exit.items():
            ck = caller_key(k)
            if ck is None:
                continue
            if callee.generator:
                # `with evaluating(model):` -- eval() before the yield, train()
                # after: inside the block the mode is the part before the
                # yield, which a summary of the whole does not tell
                self.set_mode(e, ck, EITHER, env, via=callee.qualname)
                continue
            new = substitute(m, self.get(env, ck))
            if new != self.get(env, ck) or k in summary.evals:
                self.set_mode(e, ck, new, env, via=callee.qualname, evals=EVAL in m and TRAIN not in m)
        ret = summary.returns
        if ret is not None and ret.key is not None:
            ck = caller_key(ret.key)
            return Val(key=ck) if ck else None
        return ret

    def expr_key(self, e: ast.AST) -> str | None:
        key = self.key_of(e)
        return key if key is not None and self.is_model(key) else None

    # -- the whole function ----------------------------------------------------
    def run(self) -> Summary:
        end = self.block(self.func.body, {})
        returns = [(state, val) for real, state, val in self.exits if real]
        exits = [state for state, _ in returns] + ([end] if end is not None else [])
        out: dict | None = None
        for x in exits:
            out = self.join(out, x)
        keep = {k: v for k, v in (out or {}).items() if self.func.is_nonlocal(k) and self.is_model(k)}
        trains: dict[str, Mode] = {}
        evals: set[str] = set()
        uses: set[str] = set()
        for ev in self.main:
            if isinstance(ev, Step):
                for k, m in ev.trains.items():
                    if self.func.is_nonlocal(k):
                        trains[k] = trains.get(k, frozenset()) | m
                uses.update(ev.trains)
            elif isinstance(ev, ModeSet):
                uses.add(ev.key)
                if ev.mode == EVALUATING and self.func.is_nonlocal(ev.key):
                    evals.add(ev.key)
            elif isinstance(ev, (ModelCall, Export)):
                uses.add(ev.key)
            elif isinstance(ev, CallOf):
                uses.update(ck for ck, _ in ev.binding.values() if ck)
        uses = {k for k in uses if self.func.is_nonlocal(k)}
        vals = {val for _, val in returns}
        ret = vals.pop() if len(vals) == 1 else None
        if ret is not None and ret.key is not None and not self.func.is_nonlocal(ret.key):
            ret = Val(mode=self.get(out or {}, ret.key), arch=self.built.get(ret.key), live=self.liveness(ret.key) is not False)
        return Summary(None if out is None else keep, trains, evals, uses, ret)


# -- one file --------------------------------------------------------------------
class SourceAnalysis:
    """Everything the source rules ask about one file."""

    def __init__(self, path: str, text: str, tree: ast.Module, imports: Imports | None = None, flow: bool = True):
        self.path = path
        self.text = text
        self.tree = tree
        self.imports = imports or Imports(tree)
        self.classes: dict[str, ClassInfo] = {}
        self.functions: dict[str, Func] = {}  # module-level functions
        self.funcs: list[Func] = []  # every analyzed function, module code first
        self.module_keys: set[str] = set()  # names used like modules anywhere: `x.eval()`, `x.parameters()`
        self.model_attrs: dict[str, set[str]] = {}
        self._summaries: dict[int, Summary | None] = {}
        self._events: dict[int, list] = {}
        self._busy: set[int] = set()
        self.events: list = []
        self._collect()
        self.model_type_names = {
            "torch.nn.Module", "nn.Module", "Module", *(c.name for c in self.classes.values() if c.is_model)
        }
        self.callers: dict[int, list[CallOf]] = {}
        self._memo: dict[tuple, object] = {}
        self._active: set[tuple] = set()  # questions being answered (see _memoized)
        self._cuts = 0
        self._training: set[int] = set()  # functions with a training step
        if not flow:  # classes only: another file's, asked about its model classes
            return
        # A parameter that a caller passes a model to is a model, whatever its
        # name (`train(args, generator, g_ema)`): when a walk finds one, the
        # file is walked again knowing it. Each round carries a model one call
        # further down; past the last round, such parameters stay unknown.
        order = self._callees_first()
        for round_ in range(_PASSED_ROUNDS):
            for func in order:
                self.summary(func)
            passed = False
            for func in order:
                for ev in self._events.get(id(func), ()):
                    if isinstance(ev, CallOf):
                        new = {
                            p for p in ev.binding
                            if p in ev.callee.params and not looks_like_model_name(p)
                            and ev.callee.annotations.get(p, "") not in self.model_type_names
                        } - ev.callee.passed
                        if new:
                            ev.callee.passed |= new
                            passed = True
            if not passed or round_ == _PASSED_ROUNDS - 1:
                break
            self._summaries.clear()
            self._events.clear()
        for func in self.funcs:
            self.events.extend(self._events.get(id(func), ()))
        for ev in self.events:
            if isinstance(ev, CallOf):
                self.callers.setdefault(id(ev.callee), []).append(ev)
            elif isinstance(ev, Step):
                self._training.add(id(ev.func))

    # -- structure ---------------------------------------------------------------
    def _collect(self) -> None:
        module = Func("<module>", self.tree, [s for s in self.tree.body])
        self._scan(module)
        self.funcs.append(module)
        # Definitions at module level, also inside `if __name__ == "__main__":`
        # or `try:` blocks; classes first, so that functions know them.
        defs = list(_definitions(self.tree.body))
        for node in defs:
            if isinstance(node, ast.ClassDef):
                self._class(node)
        for node in defs:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = self._func(node, None, None)

    def _class(self, node: ast.ClassDef) -> None:
        bases = [self.imports.qualify(b) or dotted(b) or "" for b in node.bases]
        info = ClassInfo(node.name, node, bases)
        info.parents = [self.classes[b] for b in bases if b in self.classes]
        info.is_model = any(
            b in _MODEL_BASES
            or (_TORCH_NN_CLASS.match(b) and b not in _NOT_MODULES)
            or (b in self.classes and self.classes[b].is_model)
            for b in bases
        )
        # A base we cannot see (`class Net(BaseModel)` from another file) may
        # be a module too: leave its methods alone, but do not call it one.
        info.managed = info.is_model or any(
            (b in self.classes and self.classes[b].managed)
            or re.search(r"(Module|Model|Net|Network)$", b.rsplit(".", 1)[-1]) is not None
            for b in bases
        )
        self.classes[node.name] = info
        info.method_names = {
            item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        if info.managed:
            return  # its methods are not walked: nothing more to know now
        attrs: set[str] = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign) and isinstance(sub.value, ast.Call):
                q = self.imports.qualify(sub.value.func) or dotted(sub.value.func) or ""
                if self.fresh(q) is not None or q in self.classes and self.classes[q].is_model:
                    for t in sub.targets:
                        d = dotted(t)
                        if d and d.startswith("self."):
                            attrs.add(d)
        self.model_attrs[node.name] = attrs
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                info.methods[item.name] = self._func(item, info, None)

    def _func(self, node, cls: ClassInfo | None, parent: Func | None, analyze: bool = True) -> Func:
        a = node.args
        params = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        if a.vararg:
            params.append(a.vararg.arg)
        if a.kwarg:
            params.append(a.kwarg.arg)
        positional = [p.arg for p in (*a.posonlyargs, *a.args)]
        if cls is not None and params and not any(
            dotted(d) in ("staticmethod",) for d in node.decorator_list
        ):
            params, positional = params[1:], positional[1:]  # self / cls
        annotations = {}
        for p in (*a.posonlyargs, *a.args, *a.kwonlyargs):
            if p.annotation is not None:
                annotations[p.arg] = self.imports.qualify(p.annotation) or dotted(p.annotation) or ""
        func = Func(node.name, node, node.body, cls, parent, params, annotations, positional=positional)
        self._scan(func)
        for dec in node.decorator_list:
            reason = self.grad_off(dec)
            if reason:
                func.grad_off = reason
        for sub in _definitions(node.body):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                func.nested[sub.name] = self._func(sub, None, func, analyze)
        if analyze:
            self.funcs.append(func)
        return func

    def _scan(self, func: Func) -> None:
        """One pass over a function's own code (not its nested definitions):
        its local names, what it calls, and names used like modules."""
        shared_names: set[str] = set()
        for sub in _own_nodes(func.node):
            if isinstance(sub, ast.Call):
                func.calls.append(sub.func)
                f = sub.func
                if isinstance(f, ast.Attribute) and f.attr in _MODULE_METHODS:
                    key = dotted(f.value)
                    if key and key not in ("self", "cls"):
                        self.module_keys.add(key)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                func.locals.add(sub.id)
            elif isinstance(sub, (ast.Global, ast.Nonlocal)):
                shared_names.update(sub.names)
            elif isinstance(sub, (ast.Yield, ast.YieldFrom)):
                func.generator = True
        func.locals -= shared_names

    # -- vocabulary on this file's imports ---------------------------------------
    def grad_off(self, expr: ast.AST) -> str | None:
        """``"torch.no_grad()"`` when the expression turns gradients off."""
        call = expr if isinstance(expr, ast.Call) else None
        q = self.imports.qualify(call.func if call else expr)
        if q in _NO_GRAD:  # but not torch.inference_mode(False)
            flag = None
            if call is not None:
                flag = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "mode"), None)
            return None if _const(flag) is False else f"{q}()"
        if q in _SET_GRAD and call is not None and call.args and _const(call.args[0]) is False:
            return f"{q}(False)"
        return None

    def fresh(self, qual: str, call: ast.Call | None = None) -> Val | None:
        """A new module, in the mode its constructor leaves it in (train)."""
        if qual in self.classes:
            info = self.classes[qual]
            if info.is_model:
                return Val(mode=TRAINING, arch=qual, live=self.class_is_live(qual))
            # a base defined elsewhere and named like a module: probably one
            return Val(mode=TRAINING, arch=qual) if info.managed else None
        if _TORCH_NN_CLASS.match(qual) and qual not in _NOT_MODULES:
            if qual.endswith("Loss"):
                return None  # a criterion: no mode-dependent layers
            return Val(mode=TRAINING, arch=qual, live=call is None or not self.inert_call(call))
        if _BUILDERS.match(qual) and not _NOT_BUILDERS.match(qual):
            return Val(mode=TRAINING, arch=qual)
        foreign = self.foreign_class(qual)
        if foreign is not None:  # `from model import Net`, with model.py beside this file
            other, name = foreign
            if other.classes[name].is_model:
                return Val(mode=TRAINING, arch=qual, live=other.class_is_live(name))
            return None
        if _MODEL_CLASS.search(qual.rsplit(".", 1)[-1]) and not qual.startswith(_NOT_MODEL_PACKAGES):
            # defined where we cannot read it, named like a module class:
            # whatever it holds, a new one starts in train mode
            return Val(mode=TRAINING, arch=qual)
        return None

    def foreign_class(self, qual: str) -> "tuple[SourceAnalysis, str] | None":
        """A class imported from a module of the user's own, found as a file
        beside this one (``from model import Net``, ``from .nets import
        ResNet``): that file is parsed -- never imported -- and asked."""
        module, _, name = qual.rpartition(".")
        if not module or not name[:1].isupper():
            return None
        level = len(module) - len(module.lstrip("."))
        here = os.path.dirname(os.path.abspath(self.path))
        for _ in range(max(level - 1, 0)):
            here = os.path.dirname(here)
        rel = os.path.join(here, *module.lstrip(".").split(".")) if module.strip(".") else here
        for candidate in (rel + ".py", os.path.join(rel, "__init__.py")):
            other = _classes_of(candidate)
            if other is not None and name in other.classes:
                return other, name
        return None

    def inert_call(self, call: ast.Call) -> bool:
        """A ``torch.nn`` construction that certainly holds no BatchNorm or
        Dropout (``nn.Linear``, ``nn.Sequential`` of such layers)."""
        for node in ast.walk(call):
            if isinstance(node, ast.keyword) and node.arg == "track_running_stats":
                return False  # an InstanceNorm with running statistics depends on the mode
            if isinstance(node, ast.Call):
                q = self.imports.qualify(node.func) or ""
                name = q.rsplit(".", 1)[-1]
                if q.startswith("torch.nn.") and _TORCH_NN_CLASS.match(q):
                    if not _INERT_LAYER.match(name):
                        return False
                elif not (node is not call and q.startswith("torch.")):
                    if q or not (isinstance(node.func, ast.Name) and node.func.id in _BUILTINS):
                        return False
        return True

    def class_has_batchnorm(self, name: str) -> bool:
        """Whether a class of this file builds BatchNorm layers (itself, in a
        base, or in a class of the file it uses)."""
        info = self.classes[name]

        def compute():
            if any("BatchNorm" in n for n in info.names):
                return True
            for node in ast.walk(info.node):  # `self.f = resnet18()`
                if isinstance(node, ast.Call):
                    q = self.imports.qualify(node.func)
                    if q and _BUILDERS.match(q) and self.batchnorm_architecture(q):
                        return True
            used = [c for n, c in self.classes.items() if n in info.names and n != name]
            return any(self.class_has_batchnorm(c.name) for c in (*info.parents, *used))

        return self._memoized(("bn", name), False, compute)

    def class_is_live(self, name: str, _seen: frozenset = frozenset()) -> bool:
        """Whether instances of a class of this file may hold BatchNorm or
        Dropout: False only when its body builds nothing but inert torch.nn
        layers, torch functions and other inert classes of the file."""
        info = self.classes[name]
        if info.live is not None:
            return info.live
        if name in _seen:
            return True
        live = any(_LIVE_WORDS.search(n) for n in info.names) or any(
            self.class_is_live(p.name, _seen | {name}) for p in info.parents
        )
        if not live:
            for node in ast.walk(info.node):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                q = self.imports.qualify(f)
                if q is not None:
                    if q.startswith("torch.nn.") and _TORCH_NN_CLASS.match(q):
                        live = not _INERT_LAYER.match(q.rsplit(".", 1)[-1])
                    else:
                        live = not q.startswith("torch.")
                elif isinstance(f, ast.Name):
                    if f.id in self.classes:
                        live = self.class_is_live(f.id, _seen | {name})
                    else:
                        live = f.id not in _BUILTINS
                # method calls on self, tensors and locals build nothing new
                if live:
                    break
        info.live = live
        return live

    def function(self, name: str, scope: Func) -> Func | None:
        """The function a plain name calls, seen from ``scope``."""
        f: Func | None = scope
        while f is not None:
            if name in f.nested:
                return f.nested[name]
            f = f.parent
        return self.functions.get(name)

    def callee(self, f: ast.AST, scope: Func) -> Func | None:
        if isinstance(f, ast.Name):
            if f.id in self.classes:
                return None
            return self.function(f.id, scope)
        if (
            isinstance(f, ast.Attribute)
            and isinstance(f.value, ast.Name)
            and f.value.id == "self"
            and scope.cls is not None
        ):
            return scope.cls.method(f.attr)
        return None

    def source_of(self, expr: ast.AST) -> str:
        return (ast.get_source_segment(self.text, expr) or "the model").split("\n", 1)[0]

    # -- summaries and events ----------------------------------------------------
    def _callees_first(self) -> list[Func]:
        """Every function after the functions it calls (depth-first, without
        recursion: a chain of a thousand helpers is fine), so that a walk
        finds its callees' summaries ready."""
        order: list[Func] = []
        done: set[int] = set()
        for root in self.funcs:
            if id(root) in done:
                continue
            done.add(id(root))
            stack = [(root, iter(root.calls))]
            while stack:
                func, pending = stack[-1]
                for f in pending:
                    callee = self.callee(f, func)
                    if callee is not None and id(callee) not in done:
                        done.add(id(callee))
                        stack.append((callee, iter(callee.calls)))
                        break
                else:
                    stack.pop()
                    order.append(func)
        return order

    def summary(self, func: Func) -> Summary | None:
        fid = id(func)
        if fid in self._summaries:
            return self._summaries[fid]
        if fid in self._busy:  # recursion: assume it changes nothing
            return None
        if func.cls is not None and func.cls.managed:
            return None
        self._busy.add(fid)
        walk = _Walk(self, func)
        try:
            summary = walk.run()
        finally:
            self._busy.discard(fid)
        self._summaries[fid] = summary
        self._events[fid] = walk.main
        return summary

    def _memoized(self, memo: tuple, cyclic, compute):
        """``compute()`` once per ``memo``; ``cyclic`` -- the cautious answer
        -- when ``memo`` is being computed further up (recursion in the
        file's call graph). An answer that depended on such a cut is not
        kept: asked another way, the same question may get further."""
        if memo in self._memo:
            return self._memo[memo]
        if memo in self._active:
            self._cuts += 1
            return cyclic
        cuts = self._cuts
        self._active.add(memo)
        try:
            result = compute()
        finally:
            self._active.discard(memo)
        if self._cuts == cuts:
            self._memo[memo] = result
        return result

    def train_path(self, func: Func, key: str, mode: Mode) -> list[CallOf] | None:
        """A chain of calls in this file along which ``key`` is certainly in
        training mode where ``func`` has it in ``mode`` ([] when it is so on
        every path already), or None. One certain path is enough: a
        ``validate(model)`` also called with a model of unknown mode is still
        wrong when the epoch loop calls it right after training."""
        if ENTRY not in mode:
            return [] if mode == TRAINING else None
        if mode - FROM_CALLER - TRAINING:
            return None

        def compute():
            if not self.callers.get(id(func)) and mode == FROM_CALLER and self.attribute_stays_in_train(func, key):
                return []
            for c in self.callers.get(id(func), []):
                bound = c.bound(key)
                if bound is None:
                    continue
                caller_mode = substitute(mode, c.binding[bound[0]][1])
                if not bound[1]:  # a new model passed straight in
                    if caller_mode == TRAINING:
                        return [c]
                    continue
                path = self.train_path(c.caller, bound[1], caller_mode)
                if path is not None:
                    return [c, *path]
            return None

        return self._memoized(("train", id(func), key, mode), None, compute)

    def attribute_stays_in_train(self, func: Func, key: str) -> bool:
        """``self.model`` built in ``__init__`` (so in train mode) by a class
        of which no method -- and nothing else in the file -- sets that
        attribute's mode: every method sees it in train mode."""
        cls = func.cls
        if cls is None or not key.startswith("self.") or key.count(".") != 1:
            return False
        init = cls.method("__init__")
        summary = self._summaries.get(id(init)) if init is not None else None
        if summary is None or summary.exit is None or summary.exit.get(key) != TRAINING:
            return False
        attr = key.split(".", 1)[1]
        for ev in self.events:
            if isinstance(ev, ModeSet) and (ev.key == key or ev.key.endswith("." + attr)):
                return False
            if isinstance(ev, CallOf) and any(ck == key or ck.endswith("." + attr) for ck, _ in ev.binding.values()):
                return False  # handed to a helper: who knows
        return True

    def is_live(self, func: Func, key: str, live: bool | None) -> bool:
        """Whether the model ``key`` names in ``func`` may hold BatchNorm or
        Dropout; ``live`` None means "as the callers' model"."""
        if live is not None:
            return live

        def compute():
            calls = self.callers.get(id(func), [])
            for c in calls:
                bound = c.bound(key)
                if bound is None:
                    return True
                lv = c.live.get(bound[0], True)
                if not bound[1]:  # a new model passed straight in
                    if lv is not False:
                        return True
                elif self.is_live(c.caller, bound[1], lv):
                    return True
            return not calls

        return self._memoized(("live", id(func), key), True, compute)

    def inference_reason(self, func: Func, grad_off: str | None) -> str | None:
        """Why a call in ``func`` is an inference: gradients are off where it
        is, the function is named for inference, or every caller calls it for
        inference."""
        if grad_off:
            return f"under {grad_off}"
        if func.grad_off:
            return f"under @{func.grad_off}"

        def compute():
            if not func.is_module and is_inference_name(func.name) and not self.trains(func):
                return f"in {func.qualname}()"
            calls = self.callers.get(id(func), [])
            first = None
            for c in calls:
                reason = self.inference_reason(c.caller, c.grad_off)
                if reason is None:
                    return None
                first = first or reason
            return f"in {func.qualname}(), called {first}" if first else None

        return self._memoized(("why", id(func)), None, compute)

    def trains(self, func: Func) -> bool:
        """Whether ``func`` has a training step (its own or a helper's)."""
        return id(func) in self._training

    def applied(self, fz: Freeze) -> Iterator[tuple[Func, str, ast.AST, str | None, str | None]]:
        """Where a freeze takes effect, with what the frozen model was built
        as there: the freeze itself, and for a helper that freezes its
        parameter, each call of the helper (with the caller's key)."""
        yield fz.func, fz.key, fz.node, None, fz.arch
        if fz.key.split(".", 1)[0] not in fz.func.params:
            return
        for c in self.callers.get(id(fz.func), []):
            bound = c.bound(fz.key)
            if bound is not None and bound[1]:
                yield c.caller, bound[1], c.node, fz.func.qualname, c.archs.get(bound[0])

    def batchnorm_architecture(self, arch: str | None) -> str | None:
        """``arch`` (a class of this file, a torch.nn layer, a builder) when
        it has BatchNorm layers, readably; None when it has none or unknown."""
        if arch is None:
            return None
        if arch in self.classes:
            return f"class {arch}" if self.class_has_batchnorm(arch) else None
        foreign = self.foreign_class(arch)
        if foreign is not None:
            other, name = foreign
            return f"class {arch}" if other.class_has_batchnorm(name) else None
        if arch.startswith("torch.nn."):
            return arch if "BatchNorm" in arch else None
        return arch if _BN_ARCH.search(arch) and not _NOT_BN_ARCH.search(arch) else None

    def events_of(self, func: Func) -> list:
        return self._events.get(id(func), [])

    def of(self, kind: type) -> Iterator:
        return (e for e in self.events if isinstance(e, kind))

def keeps_batchnorm_in_eval(an: SourceAnalysis) -> bool:
    """Signs that a file keeps (some) BatchNorm layers in eval while training:
    a ``freeze_bn``/``set_bn_eval``-style name, FrozenBatchNorm, a ``train()``
    override, ``eval()`` of a submodule (``model.backbone.eval()``), of the
    modules in a loop over ``.modules()``/``.children()``, or applied with
    ``.apply()``."""
    # identifiers, not comments: `# model.apply(freeze_bn)` keeps nothing in eval
    if any(_KEEPS_BN_EVAL.search(name) for name in identifiers(an.tree)):
        return True
    if any("train" in c.method_names for c in an.classes.values() if c.managed):
        return True
    evaluating = {
        name for name, f in an.functions.items()
        if any(_is_eval_call(n) for n in ast.walk(f.node))
    }
    for node in ast.walk(an.tree):
        if _is_eval_call(node):
            key = dotted(node.func.value) or ""  # type: ignore[attr-defined]
            parts = [p for p in key.split(".") if p != "module"]
            if parts[:1] == ["self"]:
                parts = parts[1:]
            if len(parts) > 1:
                return True
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            it = node.iter
            if (
                isinstance(it, ast.Call)
                and isinstance(it.func, ast.Attribute)
                and it.func.attr in ("modules", "children", "named_modules", "named_children")
                and any(_is_eval_call(n) for n in ast.walk(node))
            ):
                return True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "apply":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Name) and arg.id in evaluating:
                return True
            if isinstance(arg, ast.Lambda) and any(_is_eval_call(n) for n in ast.walk(arg)):
                return True
    return False


@functools.lru_cache(maxsize=256)
def _classes_of(path: str) -> "SourceAnalysis | None":
    """The classes of another file of the user's, parsed (not imported)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        tree = ast.parse(raw, filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    return SourceAnalysis(path, raw.decode("utf-8", "replace"), tree, flow=False)


def identifiers(tree: ast.AST) -> set[str]:
    """The names a piece of code uses (variables, attributes, definitions,
    imports, keyword arguments) -- what it says, without its comments."""
    names = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.Attribute):
            names.add(n.attr)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.alias)):
            names.add(n.name)
        elif isinstance(n, ast.keyword) and n.arg:
            names.add(n.arg)
    return names


def _is_eval_call(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    if node.func.attr == "eval" and not node.args:
        return True
    return node.func.attr == "train" and bool(node.args) and _const(node.args[0]) is False


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def statements(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, without descending into
    expressions (imports, classes and functions are statements)."""
    stack = list(reversed(getattr(tree, "body", [])))
    while stack:
        node = stack.pop()
        yield node
        for block in _BLOCKS:
            children = getattr(node, block, None)
            if children:
                stack.extend(reversed(children))


def _definitions(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Functions and classes defined in a block, also inside its ifs, trys,
    withs and loops, but not inside other definitions."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node
            continue
        for block in _BLOCKS:
            children = getattr(node, block, None)
            if children:
                stack.extend(reversed(children))


def _own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not of functions or classes nested in it."""
    stack = list(func.body) if hasattr(func, "body") else []
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue  # its name is ours, its body is not
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)


# -- what the rules see ------------------------------------------------------------
@dataclass
class SourceContext:
    """What a source rule sees: one parsed file and its analysis."""

    path: str
    text: str
    tree: ast.Module
    _analysis: SourceAnalysis | None = None
    _imports: Imports | None = None

    @property
    def analysis(self) -> SourceAnalysis:
        if self._analysis is None:
            self._analysis = SourceAnalysis(self.path, self.text, self.tree, self.imports)
        return self._analysis

    @property
    def flow(self) -> SourceAnalysis | None:
        """The mode analysis, or None for a file that mentions nothing it
        could find (no no_grad, eval(), train(), export, backward ...)."""
        return self.analysis if needs_flow(self.text) else None

    @property
    def imports(self) -> Imports:
        if self._imports is None:
            self._imports = Imports(self.tree)
        return self._imports

    def report(self, rule, message: str, node: ast.AST, **fields) -> Finding:
        return rule.make(
            message,
            path=self.path,
            line=getattr(node, "lineno", 1),
            col=getattr(node, "col_offset", 0) + 1,
            source="source",
            **fields,
        )

    def forward_methods(self) -> Iterator[tuple[ast.ClassDef, ast.FunctionDef]]:
        for node in statements(self.tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "forward":
                        yield node, item


# Cheap text checks: a file that mentions none of these has nothing for the
# flow analysis to find, and is not walked at all.
_FLOW_WORDS = re.compile(r"no_grad|inference_mode|set_grad_enabled|\.eval\(|\.train\(|jit\.trace|export|backward|requires_grad")


def needs_flow(text: str) -> bool:
    return _FLOW_WORDS.search(text) is not None


def parse(path: str, raw: bytes | str) -> tuple[str, ast.Module]:
    """A file's text and tree. Raises SyntaxError (and ValueError on null bytes)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text, ast.parse(raw, filename=path)


__all__ = [
    "SourceAnalysis", "SourceContext", "parse", "is_inference_name",
    "needs_flow", "EXPORTS", "FUNCTIONAL_DROPOUT", "TRAIN", "EVAL", "ENTRY",
]
