"""What names mean to the analysis: the torch ecosystem's API (which
qualified names build modules, wrap them, switch gradients off, export) and
the naming conventions of training code (``model``, ``optimizer``). One
place to extend when a library adds an API; nothing here walks code beyond
the expression it is given."""

from __future__ import annotations

import ast
import builtins
import re

from bnlint.source.syntax import Imports, argument, const

# -- modules and how they are built -----------------------------------------------
MODEL_BASES = {
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
# Where a builder takes the architecture's name: timm.create_model("resnet50").
ARCH_ARGUMENT = {"timm.create_model": 0, "timm.models.create_model": 0, "torch.hub.load": 1}
# Hugging Face's from_pretrained() puts the model in eval() itself.
_PRETRAINED = re.compile(r"^(?:transformers|diffusers|peft)\.(?:\w+\.)*\w*(?:Model|For)\w*\.from_pretrained$")
# A class defined elsewhere and named like a module class.
_MODEL_CLASS = re.compile(
    r"(?:Net|Model|Network|Classifier|Encoder|Decoder|Generator|Discriminator|CNN|RNN|MLP"
    r"|ResNet\w*|VGG\w*|Backbone|Detector|Segmenter|AutoEncoder)$"
)
_NOT_MODEL_PACKAGES = ("sklearn.", "xgboost.", "lightgbm.", "catboost.", "statsmodels.", "keras.", "tensorflow.", "jax.", "flax.")
# A base class we cannot see, named like a module class.
MODULE_LIKE_BASE = re.compile(r"(Module|Model|Net|Network)$")
# Layers that behave the same in train() and eval().
_INERT_LAYER = re.compile(
    r"^(?:Lazy)?(?:Conv\w*|ConvTranspose\w*|Linear|Bilinear|\w*Pool\w*|Flatten|Unflatten"
    r"|Identity|Embedding\w*|LayerNorm|GroupNorm|RMSNorm|LocalResponseNorm|InstanceNorm\dd|Upsample\w*|Upsampling\w*|Pixel\w*"
    r"|Softmax\w*|LogSoftmax|Softmin|ReLU\d*|LeakyReLU|PReLU|ELU|SELU|CELU|GELU|SiLU|Mish|Sigmoid|LogSigmoid"
    r"|Tanh|Hardtanh|Hardswish|Hardsigmoid|Hardshrink|Softshrink|Softplus|Softsign|Tanhshrink|Threshold|GLU"
    r"|\w*Pad\dd|ChannelShuffle|Fold|Unfold|CosineSimilarity|PairwiseDistance"
    r"|LSTMCell|GRUCell|RNNCell|Sequential|ModuleList|ModuleDict)$"
)
# Words of a class body that may build a mode-dependent layer.
# Calls that end the program: a path through one of them never reaches what follows.
NO_RETURN = frozenset({"sys.exit", "os._exit", "os.abort"})
# what loads a pickled object (a whole model, when it replaces one: `model = torch.load(f)`)
UNPICKLERS = frozenset({"torch.load", "torch.jit.load"})

# Libraries whose functions never build a torch module (a call of one in a
# class or helper builds no BatchNorm or Dropout).
NO_MODULES = frozenset({
    "numpy", "math", "cmath", "warnings", "os", "sys", "re", "time", "random", "json", "logging", "collections",
    "itertools", "functools", "typing", "pathlib", "argparse", "string", "shutil", "glob", "pickle", "csv",
    "datetime", "operator", "statistics", "enum", "dataclasses", "abc", "inspect", "contextlib", "numbers",
    "PIL", "cv2", "scipy", "matplotlib", "pandas", "yaml", "tqdm", "skimage", "imageio",
})
LIVE_WORDS = re.compile(r"BatchNorm|batch_norm|Dropout|dropout|RReLU|rrelu|track_running_stats")
# Builtins a module's constructor may call without building anything.
# (every builtin: functions, types and exceptions -- `raise NotImplementedError(...)`)
BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_")) - {"eval", "exec", "compile", "__import__"}


def is_torch_nn_class(qual: str) -> bool:
    """A class of ``torch.nn`` (``torch.nn.Conv2d``, ``torch.nn.Parameter``)."""
    return bool(_TORCH_NN_CLASS.match(qual))


def is_torch_layer(qual: str) -> bool:
    """A ``torch.nn`` module class (not a Parameter container)."""
    return is_torch_nn_class(qual) and qual not in _NOT_MODULES


def is_inert_layer(qual: str, call: ast.Call | None = None) -> bool:
    """A ``torch.nn`` layer that computes the same in train() and eval().
    What decides is the constructor's arguments, not the name: ``nn.LSTM``
    / ``nn.GRU`` / ``nn.RNN`` drop out between layers only when built with
    a ``dropout=`` that is not 0 (known when ``call`` is given)."""
    name = qual.rsplit(".", 1)[-1]
    if _INERT_LAYER.match(name) or qual in _NOT_MODULES:  # a Parameter is no layer at all
        return True
    position = _RECURRENT_DROPOUT.get(name)
    if position is None or call is None:
        return False
    arg = argument(call, position, "dropout")
    return arg is None or const(arg) in (0, 0.0)


# Recurrent layers: where their constructor takes `dropout` positionally.
_RECURRENT_DROPOUT = {"LSTM": 5, "GRU": 5, "RNN": 6}


def is_builder(qual: str) -> bool:
    """torchvision/timm/hub builders: they return a new module, in train mode."""
    return bool(_BUILDERS.match(qual)) and not _NOT_BUILDERS.match(qual)


def is_pretrained_loader(qual: str) -> bool:
    return bool(_PRETRAINED.match(qual))


def named_like_model_class(qual: str) -> bool:
    """A class we cannot read whose name says it is a module (``Net``)."""
    return bool(_MODEL_CLASS.search(qual.rsplit(".", 1)[-1])) and not qual.startswith(_NOT_MODEL_PACKAGES)


# -- what calls do to a module ----------------------------------------------------
# Calls that return the same module (or a wrapper sharing its mode).
SELF_RETURNING = {
    "to", "cuda", "cpu", "float", "half", "double", "bfloat16", "type", "requires_grad_",
    "share_memory", "apply", "to_empty", "xpu", "mps", "ipu",
}


def construction(expr: ast.AST | None) -> ast.AST | None:
    """The construction a chain of moves ends in: ``ONet().to(device).cuda()``
    -> ``ONet()`` (the module itself); anything else as it is."""
    while (
        isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in SELF_RETURNING and isinstance(expr.func.value, ast.Call)
    ):
        expr = expr.func.value
    return expr


_WRAPPERS = re.compile(
    r"^(?:torch\.nn\.(?:parallel\.(?:distributed\.)?)?(?:DataParallel|DistributedDataParallel)"
    r"|torch\.distributed\.fsdp\.(?:\w+\.)*FullyShardedDataParallel"
    r"|torch\.compile|torch\.jit\.script|torch\.nn\.SyncBatchNorm\.convert_sync_batchnorm"
    r"|torchvision\.models\.feature_extraction\.create_feature_extractor)$"
)
# Methods that only modules have (optimizers have state_dict and zero_grad too).
MODULE_METHODS = {
    "eval", "train", "parameters", "named_parameters", "modules", "named_modules", "children",
    "named_children", "requires_grad_", "buffers", "named_buffers", "register_forward_hook",
    "register_forward_pre_hook",
}
# Context managers given a model that may switch its mode while inside
# (detectron2's inference_context); accelerate's accumulate(model) does not.
MODE_CONTEXT_WORDS = {"eval", "evaluation", "inference", "infer", "train", "training", "mode", "context", "freeze", "frozen"}
# Exports that record the module as it is. torch.onnx.export records it as it
# is too since torch 2.9 (dynamo=True is the default and only warns); the
# legacy exporter (dynamo=False) switches to eval itself. torch.jit.script
# keeps `training` as a flag and torch.jit.freeze refuses train mode: not here.
EXPORTS = frozenset({
    "torch.jit.trace", "torch.jit.trace_module", "torch.export.export", "torch._dynamo.export",
    "torch.onnx.export", "torch._export.aot_compile",
})
EXPORTED = ("model", "mod", "func", "f")  # the keyword an export takes the module by


def is_wrapper(qual: str) -> bool:
    """DDP(model), torch.compile(model) ...: the result shares the module's mode."""
    return bool(_WRAPPERS.match(qual))


def deep_copied(expr: ast.AST | None, imports: Imports) -> ast.expr | None:
    """What ``copy.deepcopy(x)`` copies (``x``); None for any other expression."""
    if isinstance(expr, ast.Call) and len(expr.args) == 1 and imports.qualify(expr.func) == "copy.deepcopy":
        return expr.args[0]
    return None


# -- gradients ------------------------------------------------------------------
_NO_GRAD = {
    "torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
    "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode",
}
SET_GRAD = {"torch.set_grad_enabled", "torch.autograd.set_grad_enabled", "torch.autograd.grad_mode.set_grad_enabled"}


def grad_off(imports: Imports, expr: ast.AST) -> str | None:
    """``"torch.no_grad()"`` when the expression (a context manager or a
    decorator) turns gradients off."""
    call = expr if isinstance(expr, ast.Call) else None
    q = imports.qualify(call.func if call else expr)
    if q in _NO_GRAD:  # but not torch.inference_mode(False)
        flag = argument(call, 0, "mode") if call is not None else None
        return None if const(flag) is False else f"{q}()"
    if q in SET_GRAD and call is not None and call.args and const(call.args[0]) is False:
        return f"{q}(False)"
    return None


# -- naming conventions of training code --------------------------------------------
_MODEL_NAME = re.compile(
    r"^(?:model|net|network|backbone|encoder|decoder|generator|discriminator|classifier"
    r"|teacher|student|detector|ema_model|model_ema)$"
    r"|^(?:model|net)_\w+$|^\w+_(?:model|net|network)$|^net[A-Z]\w*$"
)
_OPTIMIZER_NAME = re.compile(r"(?i:optim)|(?:^|_)opt(?:$|_|[A-Z0-9])|(?i:scaler)")


def looks_like_model_name(key: str) -> bool:
    return bool(_MODEL_NAME.match(key.rsplit(".", 1)[-1]))


def looks_like_optimizer(owner: str) -> bool:
    """``optimizer.step()``, ``opt_d.step()``, ``scaler.step(opt)``: a training step."""
    return bool(_OPTIMIZER_NAME.search(owner.rsplit(".", 1)[-1]))


# BatchNorm architectures among the builders ...
_BN_ARCH = re.compile(
    r"resnet|resnext|wide_resnet|densenet|mobilenet|efficientnet|regnet|vgg\d+_bn|inception"
    r"|googlenet|shufflenet|mnasnet|deeplab|fcn_|lraspp|raft|r3d|r2plus1d|mc3|s3d|x3d"
    r"|csp|darknet|hrnet|dla|dpn|rexnet|ghostnet",
    re.I,
)
# ... and those of them that have none: BiT (GroupNorm), NF-nets (no norm).
# Detection models freeze their backbone's BNs themselves (FrozenBatchNorm2d).
_NOT_BN_ARCH = re.compile(r"nf_|nfnet|_bit|bit_|_gn\b|gn_|resnetv2_\d+x\d|detection|rcnn|retinanet|fcos|ssd", re.I)


def names_batchnorm_architecture(builder: str) -> bool:
    """A builder (``torchvision.models.resnet50``) whose name says BatchNorm."""
    return bool(_BN_ARCH.search(builder)) and not _NOT_BN_ARCH.search(builder)
