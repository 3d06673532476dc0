from bnlint.findings import FixSafety, Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L


class ConvBiasBeforeBatchNorm(Rule):
    """
    What it does
        Finds a Conv1d/2d/3d, ConvTranspose1d/2d/3d or Linear layer with
        ``bias=True`` whose output reaches only BatchNorms (or InstanceNorms):
        directly, or through ops that keep a per-channel constant a
        per-channel constant -- sums (``bn(conv(x) + conv1(x) + x)``), channel
        concatenation, 1x1 (or unpadded) convs and Linear, pooling, and
        reshapes that keep the channels.

    Why is this bad?
        BatchNorm subtracts the per-channel mean of its input, so a per-channel
        constant added just before it cancels exactly: the bias is trained,
        stored and computed for nothing (and adds noise to the optimizer
        state). This is not true when a nonlinearity sits between the two, when
        some path from the output reaches the model's outputs without such a
        norm (a residual add that is returned), when a zero-padded spatial conv
        is on the way (its borders see zeros, not the constant), or for
        GroupNorm and LayerNorm, whose statistics mix channels -- none of those
        is reported. The analysis is checked against the numerical test:
        change the bias, and the train-mode output does not move.

    Example
        ::

            nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU())

    Use instead
        ::

            nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())

    Fix safety
        Safe. In source: ``bias=False``. On a trained model: drop the bias and
        subtract it from the BN's ``running_mean`` -- the function is unchanged
        (exactly in training, to rounding in eval).

    References
        - Ioffe & Szegedy, "Batch Normalization", ICML 2015, section 3.2
        - torchvision's ResNet and VGG-BN definitions (``bias=False`` before BN)
    """

    code = "BN101"
    name = "conv-bias-before-batchnorm"
    severity = Severity.WARNING
    needs = ("graph",)
    summary = "A conv/linear bias feeds only a BatchNorm, which cancels it."
    hint = "pass bias=False to the layer"
    fix = "set bias=False (graph: fold the bias into the BN's running_mean)"
    fix_safety = FixSafety.SAFE

    def check_model(self, ctx):

        g = ctx.graph
        for qual, layer in g.modules(L.BIASED_PRODUCER):
            if getattr(layer, "bias", None) is None:
                continue
            sites = g.call_sites(layer)
            if not sites:
                continue
            norms: list = []
            via: list[str] = []
            if not all(_bias_cancels(g, node, norms, via) for node in sites):
                continue
            names = ", ".join(f"'{n}'" for n in dict.fromkeys(g.qualname(n) for n in norms))
            norm_type = type(g.module_of(norms[0])).__name__
            if via:
                how = (
                    f"every path from its output reaches {norm_type} {names} only through "
                    f"{', '.join(dict.fromkeys(via))} (each keeps a per-channel constant per-channel), "
                    "and that norm subtracts the per-channel mean: the bias cancels"
                )
            else:
                how = f"its output feeds only {norm_type} {names}, which subtracts the per-channel mean: the bias cancels"
            yield ctx.report(
                self,
                f"{type(layer).__name__} '{qual}' has a bias but {how}",
                module=qual,
                node=sites[0],
            )

    invalid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU())
            """,
            at="@0",
            message="feeds only BatchNorm2d '1'",
        ),
        Example(
            """
            import torch.nn as nn

            class MyConv(nn.Conv2d):
                pass

            class MyBN(nn.BatchNorm2d):
                pass

            model = nn.Sequential(MyConv(3, 8, 3), MyBN(8))
            """,
            at="@0",
            message="feeds only MyBN '1'",
        ),
        Example(
            """
            import torch.nn as nn

            class Head(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(128, 64)
                    self.bn = nn.BatchNorm1d(64)

                def forward(self, x):
                    return self.bn(self.fc(x)).relu()

            model = Head()
            """,
            at="@fc",
            message="feeds only BatchNorm1d 'bn'",
        ),
        Example(
            """
            import torch
            import torch.nn as nn

            class RepVitMixer(nn.Module):       # the sum feeds only the BN: both biases cancel
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(8, 8, 3, padding=1, groups=8)
                    self.conv1 = nn.Conv2d(8, 8, 1, groups=8)
                    self.bn = nn.BatchNorm2d(8)

                def forward(self, x):
                    return self.bn(self.conv(x) + self.conv1(x) + x)

            class SepConv(nn.Module):           # depthwise -> pointwise 1x1 -> BN
                def __init__(self):
                    super().__init__()
                    self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
                    self.pointwise = nn.Conv2d(8, 16, 1, bias=False)
                    self.bn = nn.BatchNorm2d(16)

                def forward(self, x):
                    return self.bn(self.pointwise(self.depthwise(x)))

            model = nn.Sequential(RepVitMixer(), SepConv())
            """,
            at=("@0.conv", "@0.conv1", "@1.depthwise"),
            message="only through",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            """
        ),
        Example(
            """
            import torch.nn as nn

            # a nonlinearity in between, and a GroupNorm: the bias does not cancel
            model = nn.Sequential(
                nn.Conv2d(3, 16, 3), nn.ReLU(), nn.BatchNorm2d(16),
                nn.Conv2d(16, 32, 3), nn.GroupNorm(8, 32),
            )
            """
        ),
        Example(
            """
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(16, 16, 3, padding=1)
                    self.bn = nn.BatchNorm2d(16)

                def forward(self, x):
                    y = self.conv(x)
                    return self.bn(y) + y      # the conv output is used twice

            model = Block()
            """
        ),
    )


# -- where a per-channel constant stays a per-channel constant ------------------
_ADD = {"add", "add_", "sub", "sub_", "iadd", "isub", "__add__", "__radd__", "__iadd__", "__sub__",
        "__rsub__", "__isub__"}
_SCALE = {"mul", "mul_", "imul", "truediv", "div", "div_", "itruediv", "__mul__", "__rmul__", "__truediv__"}
_SAME = {"contiguous", "clone", "float", "double", "half", "to", "type_as", "neg", "__neg__", "detach"}
_CAT = {"cat", "concat", "concatenate"}
_SPLIT = {"chunk", "split", "tensor_split", "unbind"}
_FUNCTIONAL_NORM = {"batch_norm", "instance_norm"}
_POOL_FN = {"max_pool1d", "max_pool2d", "max_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
            "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"}


def _name(node) -> str:
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", "") or ""


def _arg(node, pos: int, key: str, default=None):
    if key in node.kwargs:
        return node.kwargs[key]
    return node.args[pos] if len(node.args) > pos else default


def _zeros(value) -> bool:
    if isinstance(value, str):
        return value == "valid"
    values = value if isinstance(value, (tuple, list)) else (value,)
    return all(v == 0 for v in values)


def _ones(value) -> bool:
    values = value if isinstance(value, (tuple, list)) else (value,)
    return all(v == 1 for v in values)


def _module_step(g, src, node, module):
    """("norm" | "through" | "stop", what was passed) for a call of ``module``."""
    import torch.nn as nn

    first = node.args[0] if node.args else None
    if first is not src:
        return "stop", None
    if isinstance(module, L.MEAN_SUBTRACTING_NORM):
        return "norm", None
    if isinstance(module, L.CONV):
        kind = f"{type(module).__name__} '{g.qualname(module)}'"
        if getattr(module, "transposed", False):
            ok = _ones(module.kernel_size) and _ones(module.stride) and _zeros(module.padding) \
                and _zeros(module.output_padding)
        else:  # zero padding gives the borders no constant
            ok = _zeros(module.padding) or module.padding_mode != "zeros"
        return ("through", kind) if ok else ("stop", None)
    if isinstance(module, L.LINEAR):
        return "through", f"{type(module).__name__} '{g.qualname(module)}'"
    if isinstance(module, (nn.Identity, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveAvgPool1d,
                           nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
                           nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        return "through", "pooling" if not isinstance(module, nn.Identity) else None
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        ok = _zeros(module.padding) or not module.count_include_pad
        return ("through", "pooling") if ok else ("stop", None)
    if isinstance(module, nn.Flatten) and module.start_dim != 0:
        return "through", "a reshape that keeps the channels"
    return "stop", None


def _shape(node):
    from bnlint.model.runtrace import SHAPE_KEY

    return node.meta.get(SHAPE_KEY)


def _step(g, src, node):
    """How a per-channel constant in ``src`` fares through ``node``."""
    if node.op == "output":
        return "stop", None
    if node.op == "call_module":
        module = g.module_of(node)
        if module is None or g.is_opaque(node):
            return "stop", None
        return _module_step(g, src, node, module)
    if node.op not in ("call_function", "call_method"):
        return "stop", None
    name = _name(node)
    first = node.args[0] if node.args else None
    if name in _FUNCTIONAL_NORM:
        return ("norm", None) if first is src else ("stop", None)
    if name in _ADD:
        return "through", "a sum"
    if name in _SCALE:
        other = [a for a in node.args if a is not src]
        ok = len(node.args) == 2 and all(isinstance(a, (int, float)) for a in other) and not (
            name in ("truediv", "div", "__truediv__", "itruediv", "div_") and node.args[1] is src
        )
        return ("through", "a scaling") if ok else ("stop", None)
    if name in _SAME:
        return "through", None
    if name in _CAT:
        dim = _arg(node, 1, "dim", 0)
        return ("through", "a channel concatenation") if dim == 1 else ("stop", None)
    if name in _SPLIT:
        dim = _arg(node, 2, "dim", 0) if name != "unbind" else _arg(node, 1, "dim", 0)
        return ("through", None) if first is src and dim == 1 and name != "unbind" else ("stop", None)
    if name == "getitem":
        index = node.args[1] if len(node.args) > 1 else None
        if first is src and _name(src) in _SPLIT:
            return "through", None
        if isinstance(index, tuple) and index and index[0] == slice(None) and all(
            isinstance(i, (slice, int)) for i in index
        ):
            return "through", None
        return "stop", None
    if name in _POOL_FN and first is src:
        return "through", "pooling"
    if name == "flatten" and first is src:
        start = _arg(node, 1, "start_dim", 0)
        return ("through", "a reshape that keeps the channels") if start not in (0,) else ("stop", None)
    if name in ("view", "reshape") and first is src:
        before, after = _shape(src), _shape(node)
        if before and after and len(before) >= 2 and len(after) >= 2 and after[0] == before[0] and (
            after[1] == before[1] or (len(after) == 2 and after[1] % before[1] == 0)
        ):
            return "through", "a reshape that keeps the channels"
        return "stop", None
    if name in ("mean", "amax", "amin") and first is src:
        dims = _arg(node, 1, "dim", None)
        dims = dims if isinstance(dims, (tuple, list)) else (dims,)
        ok = all(isinstance(d, int) and d >= 2 for d in dims)
        return ("through", "pooling") if ok else ("stop", None)
    return "stop", None


def _bias_cancels(g, start, norms: list, via: list) -> bool:
    """Whether every path from ``start`` to the model's outputs reaches a
    mean-subtracting norm through ops that map a per-channel constant to a
    per-channel constant (sums, channel concatenation, 1x1 or unpadded convs,
    Linear, pooling, reshapes that keep the channels)."""
    seen = set()
    queue = [(start, u) for u in g.consumers(start)]
    while queue:
        src, node = queue.pop()
        if (src, node) in seen:
            continue
        seen.add((src, node))
        verdict, what = _step(g, src, node)
        if verdict == "stop":
            return False
        if verdict == "norm":
            norms.append(node)
            continue
        if what:
            via.append(what)
        queue.extend((node, u) for u in g.consumers(node))
    return bool(norms)
