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

        def is_bn(node):
            return isinstance(g.module_of(node), L.BATCHNORM)

        def passable(node):
            return not g.is_opaque(node)

        drops = [(n, m, g.qualname(m)) for n, m in g.calls(L.DROPOUT)]
        drops += [(n, None, g.qualname(n)) for n in g.function_calls(L.FUNCTIONAL_DROPOUT)]
        reported = set()
        for node, module, qual in drops:
            if not L.dropout_p(node, module):
                continue
            if module is not None and id(module) in reported:
                continue
            reached = g.downstream(node, is_bn, passable)
            if not reached:
                continue
            bns = list(dict.fromkeys(g.qualname(n) for n in reached))
            first = g.module(bns[0])
            more = f" (and {len(bns) - 1} more)" if len(bns) > 1 else ""
            what = f"{type(module).__name__} '{qual}'" if module is not None else f"{L.call_name(node.target)}(...)"
            p = L.dropout_p(node, module)
            if module is not None:
                reported.add(id(module))
            yield ctx.report(
                self,
                f"{what} (p={p:g}) feeds {type(first).__name__} '{bns[0]}'{more}: BN learns "
                "statistics with dropout on and normalizes without it at inference (variance shift)",
                module=qual or None,
                node=node,
                at_call=module is None,
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
