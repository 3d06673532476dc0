from bnlint.findings import FixSafety, Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L


def _keeps_feature_map(g, node, L) -> bool:
    """Nodes that keep a conv feature map a feature map (same rank, spatial
    positions intact): norms, activations, dropouts, local pooling, adds."""
    import operator

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    m = g.module_of(node)
    if m is not None:
        return isinstance(
            m,
            L.MEAN_SUBTRACTING_NORM + L.DROPOUT + (
                nn.GroupNorm, nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU,
                nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid,
                nn.Sigmoid, nn.Tanh, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d,
                nn.Upsample, nn.ZeroPad2d, nn.ReflectionPad2d,
            ),
        ) and not g.is_opaque(node)
    if node.op == "call_function":
        return node.target in {
            operator.add, operator.iadd, operator.mul, operator.imul, torch.add, torch.mul,
            torch.cat, torch.relu, torch.sigmoid, torch.tanh, F.relu, F.relu6, F.gelu, F.silu,
            F.leaky_relu, F.hardswish, F.elu, F.max_pool2d, F.avg_pool2d, F.interpolate,
        } or node.target in L.FUNCTIONAL_DROPOUT
    if node.op == "call_method":
        return node.target in {"relu", "relu_", "sigmoid", "tanh", "add", "add_", "mul", "mul_", "contiguous", "clone"}
    return False


class ElementwiseDropoutOnFeatureMaps(Rule):
    """
    What it does
        Finds ``nn.Dropout`` (element-wise) applied to 4-D/5-D conv feature maps.
        With example inputs it uses the tensor's real rank (4-D/5-D with more
        than one spatial position); without, the graph position: after a
        Conv2d/Conv3d and before anything flattens or pools it to a vector.

    Why is this bad?
        Neighbouring pixels of a feature map are strongly correlated, so
        zeroing single elements removes almost no information: the network
        interpolates around the holes and the regularization is weak, while
        the rescaling by 1/(1-p) still adds noise. Spatial dropout
        (``nn.Dropout2d``/``Dropout3d``) zeroes whole channels, which is what
        regularizes conv features.

    Example
        ::

            nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Dropout(0.2), ...)

    Use instead
        ::

            nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Dropout2d(0.2), ...)

    Fix safety
        Unsafe: inference is unchanged (dropout is the identity in eval), but
        the model trains differently -- whole channels are dropped instead of
        single values -- so the fix is applied only with ``--unsafe-fixes``.

    References
        - Tompson et al., "Efficient Object Localization Using Convolutional
          Networks", CVPR 2015 (spatial dropout)
        - torch.nn.Dropout2d documentation
    """

    code = "BN202"
    name = "elementwise-dropout-on-feature-maps"
    severity = Severity.WARNING
    needs = ("graph", "shapes")
    summary = "Element-wise nn.Dropout on conv feature maps: use Dropout2d/3d."
    hint = "use nn.Dropout2d (or Dropout3d) on conv feature maps"
    fix = "replace nn.Dropout with nn.Dropout2d / nn.Dropout3d"
    fix_safety = FixSafety.UNSAFE  # it changes how the model trains

    def check_model(self, ctx):

        g = ctx.graph
        seen = set()
        for node, drop in g.calls(L.ELEMENTWISE_DROPOUT):
            if id(drop) in seen or not drop.p:
                continue
            qual = g.qualname(drop)
            found = self._feature_maps(ctx, g, node, qual, L)
            if found is None:
                continue
            seen.add(id(drop))
            what, better = found
            yield ctx.report(
                self,
                f"{type(drop).__name__} '{qual}' drops single elements of {what}: neighbouring "
                f"pixels are correlated, so this barely regularizes; use nn.{better}",
                module=qual,
                node=node,
            )

    @staticmethod
    def _feature_maps(ctx, g, node, qual, L) -> tuple[str, str] | None:
        """(what the dropout sees, the spatial dropout to use), or None.
        With shapes the tensor's rank decides; without, the graph position."""
        shape = ctx.input_shape(qual)
        if shape is not None:
            spatial = 1
            for d in shape[2:]:
                spatial *= d
            if len(shape) not in (4, 5) or spatial == 1:
                return None
            dims = f"[{', '.join(map(str, shape))}]"
            return f"{len(shape)}-D feature maps (input {dims})", f"Dropout{len(shape) - 2}d"
        convs = g.upstream(
            node,
            match=lambda n: isinstance(g.module_of(n), L.CONV_FEATURE_MAP),
            through=lambda n: _keeps_feature_map(g, n, L),
        )
        if not convs:
            return None
        conv = g.module_of(convs[0])
        better = "Dropout3d" if "3d" in type(conv).__name__ else "Dropout2d"
        return f"the feature maps of {type(conv).__name__} '{g.qualname(convs[0])}'", better

    invalid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.Dropout(0.2),
                nn.Conv2d(16, 16, 3),
            )
            """,
            at="@3",
            message="drops single elements of the feature maps of Conv2d '0'",
        ),
        Example(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.up = nn.Upsample(scale_factor=2)
                    self.drop = nn.Dropout(0.1)     # the graph alone cannot tell: shapes can

                def forward(self, x):
                    return self.drop(self.up(x))

            model = Net()
            example_inputs = ((8, 3, 16, 16),)
            """,
            at="@drop",
            message="4-D feature maps",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.Dropout2d(0.2),
                nn.Conv2d(16, 16, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                nn.Dropout(0.5), nn.Linear(16, 10),
            )
            """
        ),
    )
