from bnlint.findings import FixSafety, Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L


class ConvBiasBeforeBatchNorm(Rule):
    """
    What it does
        Finds a Conv1d/2d/3d, ConvTranspose1d/2d/3d or Linear layer with
        ``bias=True`` whose output feeds only a BatchNorm (or InstanceNorm).

    Why is this bad?
        BatchNorm subtracts the per-channel mean of its input, so a per-channel
        constant added just before it cancels exactly: the bias is trained,
        stored and computed for nothing (and adds noise to the optimizer
        state). This is not true when a nonlinearity sits between the two, when
        the output has another consumer (a residual add), or for GroupNorm and
        LayerNorm, whose statistics mix channels -- none of those is reported.

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
            norms = []
            for node in sites:
                users = g.consumers(node)
                norm = g.module_of(users[0]) if len(users) == 1 else None
                if norm is None or not isinstance(norm, L.MEAN_SUBTRACTING_NORM):
                    break
                if not users[0].args or users[0].args[0] is not node:
                    break
                norms.append(g.qualname(norm))
            else:
                if not sites:
                    continue
                names = ", ".join(f"'{n}'" for n in dict.fromkeys(norms))
                norm_type = type(g.module(norms[0])).__name__
                yield ctx.report(
                    self,
                    f"{type(layer).__name__} '{qual}' has a bias but its output feeds only "
                    f"{norm_type} {names}, which subtracts the per-channel mean: the bias cancels",
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
