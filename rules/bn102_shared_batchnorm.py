from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L
from bnlint.findings import Severity, display_path


class SharedBatchNorm(Rule):
    """
    What it does
        Finds one BatchNorm module called at more than one place in ``forward``
        (or more than once in a loop).

    Why is this bad?
        Every call updates the same ``running_mean``/``running_var`` with the
        statistics of a different tensor. At inference the running statistics
        are a blend that matches none of the inputs, and in training the
        affine parameters are pulled two ways. Siamese and multi-scale models
        hit this when a block is reused on two inputs of different statistics.

    Example
        ::

            def forward(self, a, b):
                return self.bn(self.conv_a(a)) + self.bn(self.conv_b(b))

    Use instead
        One BN per call site (``self.bn_a``, ``self.bn_b``). Sharing the
        convolution weights is fine; give each branch its own normalization.

    References
        - Chang et al., "Domain-Specific Batch Normalization", CVPR 2019
    """

    code = "BN102"
    name = "shared-batchnorm"
    severity = Severity.WARNING
    needs = ("graph",)
    summary = "One BatchNorm module is called at more than one site in forward."
    hint = "give each call site its own BatchNorm"

    def check_model(self, ctx):

        g = ctx.graph
        for qual, bn in g.modules(L.BATCHNORM):
            sites = g.call_sites(bn)
            if len(sites) < 2:
                continue
            lines = []
            for node in sites:
                loc = g.forward_site(node)
                if loc:
                    lines.append(f"{display_path(loc.path)}:{loc.line}")
            where = f" (at {', '.join(dict.fromkeys(lines))})" if lines else ""
            yield ctx.report(
                self,
                f"{type(bn).__name__} '{qual}' is called {len(sites)} times in forward{where}: "
                "all calls share one set of running statistics",
                module=qual,
                node=sites[1],
            )

    invalid = (
        Example(
            """
            import torch.nn as nn

            class Siamese(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 8, 3, bias=False)
                    self.bn = nn.BatchNorm2d(8)

                def forward(self, a, b):
                    return self.bn(self.conv(a)) - self.bn(self.conv(b))

            model = Siamese()
            """,
            at="@bn",
            message="is called 2 times in forward",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            class Siamese(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 8, 3, bias=False)   # shared weights are fine
                    self.bn_a = nn.BatchNorm2d(8)
                    self.bn_b = nn.BatchNorm2d(8)

                def forward(self, a, b):
                    return self.bn_a(self.conv(a)) - self.bn_b(self.conv(b))

            model = Siamese()
            """
        ),
    )
