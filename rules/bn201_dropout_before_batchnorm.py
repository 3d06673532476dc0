from bnlint.findings import Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L


class DropoutBeforeBatchNorm(Rule):
    """
    What it does
        Finds a Dropout (any kind: ``nn.Dropout``, ``Dropout2d``,
        ``AlphaDropout``, functional ``F.dropout``) with a BatchNorm downstream
        of it on some path, and names the nearest BatchNorm(s) reached.

    Why is this bad?
        In training, dropout changes the variance of what the later BatchNorm
        sees, and BN's running variance learns that. At inference dropout is
        off, the variance is different, and the BN normalizes with statistics
        that no longer match: "variance shift", a measurable accuracy loss.

    Example
        ::

            nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Dropout(0.3),
                          nn.Conv2d(64, 64, 3, bias=False), nn.BatchNorm2d(64))

    Use instead
        Put dropout after the last BatchNorm (typically only in the classifier
        head), or drop it from conv stacks and rely on BN alone.

    References
        - Li, Chen, Hu & Yang, "Understanding the Disharmony between Dropout
          and Batch Normalization by Variance Shift", CVPR 2019
    """

    code = "BN201"
    name = "dropout-before-batchnorm"
    severity = Severity.WARNING
    needs = ("graph",)
    summary = "A Dropout feeds a BatchNorm downstream (variance shift)."
    hint = "move dropout after the last BatchNorm (e.g. into the classifier head)"

    def check_model(self, ctx):

        g = ctx.graph
        drops = [(n, m, g.qualname(m)) for n, m in g.calls(L.DROPOUT)]
        drops += [(n, None, g.qualname(n)) for n in g.function_calls(L.FUNCTIONAL_DROPOUT)]
        reported = set()
        for node, module, qual in drops:
            if not L.dropout_p(node, module):
                continue
            if module is not None and id(module) in reported:
                continue
            paths = _shift_paths(g, node)
            if not paths:
                continue
            first_bn, path = paths[0]
            first = g.module_of(first_bn)
            bn_count = len({g.qualname(n) for n, _ in paths})
            what = f"{type(module).__name__} '{qual}'" if module is not None else f"{L.call_name(node.target)}(...)"
            p = L.dropout_p(node, module)
            if module is not None:
                reported.add(id(module))
            total = f"; {bn_count} BatchNorms are reached this way" if bn_count > 1 else ""
            yield ctx.report(
                self,
                f"{what} (p={p:g}) feeds {type(first).__name__} '{g.qualname(first_bn)}' along "
                f"{_describe_path(g, path)}{total}: BN learns statistics with dropout on and "
                "normalizes without it at inference (variance shift)",
                module=qual or None,
                node=node,
                at_call=module is None,
                extra={"batchnorms_reached": bn_count},
            )

    invalid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.Dropout2d(0.2),
                nn.Conv2d(16, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            )
            """,
            at="@3",
            message="feeds BatchNorm2d '5'",
        ),
        Example(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(32, 64)
                    self.fc2 = nn.Linear(64, 64, bias=False)
                    self.bn = nn.BatchNorm1d(64)

                def forward(self, x):
                    x = F.dropout(self.fc1(x).relu(), 0.5, training=self.training)
                    return self.bn(self.fc2(x))

            model = Net()
            """,
            at="x = F.dropout(self.fc1(x)",
            message="F.dropout(...) (p=0.5) feeds BatchNorm1d 'bn'",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                nn.Dropout(0.5), nn.Linear(16, 10),      # dropout after the last BN
            )
            """
        ),
    )


# -- the paths that carry the variance shift ---------------------------------------
# Normalizations re-normalize the variance per sample, softmax squashes it, and
# an attention bias or mask only shifts logits that softmax then normalizes: the
# shift stops there.
_STOP_FUNCTIONS = {"layer_norm", "group_norm", "instance_norm", "normalize", "rms_norm", "local_response_norm",
                   "softmax", "log_softmax", "_softmax", "softmin"}
_ATTENTION = {"scaled_dot_product_attention"}


def _carries(g, src, node) -> bool:
    """Whether the variance shift in ``src`` passes through ``node``."""
    import torch.nn as nn

    if g.is_opaque(node):
        return False
    module = g.module_of(node)
    if module is not None:
        if isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.Softmax, nn.LogSoftmax,
                               nn.Softmin, nn.Softmax2d) + L.INSTANCENORM) or type(module).__name__ in (
            "RMSNorm", "LayerNorm2d", "LayerNorm1d",
        ):
            return False
        if isinstance(module, nn.MultiheadAttention):
            return len(node.args) > 2 and node.args[2] is src  # only the values pass
        return True
    if node.op in ("call_function", "call_method"):
        name = str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", "")
        if name in _STOP_FUNCTIONS:
            return False
        if name in _ATTENTION:
            value = node.kwargs.get("value", node.args[2] if len(node.args) > 2 else None)
            return value is src  # query, key and an attention bias/mask go through softmax
    return node.op != "output"


def _shift_paths(g, start):
    """The BatchNorms the shift from ``start`` reaches, nearest first, each
    with the path (a list of nodes) that carries it there."""
    parent = {start: None}
    queue = [start]
    found = []
    i = 0
    while i < len(queue):
        node = queue[i]
        i += 1
        for user in g.consumers(node):
            if user in parent:
                continue
            if isinstance(g.module_of(user), L.BATCHNORM):
                parent[user] = node
                found.append(user)
                continue
            if not _carries(g, node, user):
                continue
            parent[user] = node
            queue.append(user)
    paths = []
    for bn in found:
        path, n = [], bn
        while n is not None:
            path.append(n)
            n = parent[n]
        paths.append((bn, path[::-1]))
    return paths


def _describe_path(g, path) -> str:
    """``Dropout 'drop' -> Conv2d 'conv' -> add -> BatchNorm2d 'bn'``: module
    calls and the ops that join values."""
    parts = []
    for n in path:
        module = g.module_of(n)
        if module is not None:
            parts.append(f"{type(module).__name__} '{g.qualname(module)}'")
        elif n.op in ("call_function", "call_method"):
            name = str(n.target) if n.op == "call_method" else getattr(n.target, "__name__", "op")
            if n is path[0]:
                parts.append(f"{L.call_name(n.target)}" if n.op == "call_function" else name)
            elif name in ("add", "iadd", "add_", "cat", "concat", "mul", "matmul", "sub", "stack"):
                parts.append(name)
    if len(parts) > 8:
        parts = parts[:4] + ["..."] + parts[-3:]
    return " -> ".join(parts)
