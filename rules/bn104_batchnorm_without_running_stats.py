from bnlint.findings import Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L


class BatchNormWithoutRunningStats(Rule):
    """
    What it does
        Finds a BatchNorm built with ``track_running_stats=False``.

    Why is this bad?
        Without running statistics, ``eval()`` still normalizes with the
        statistics of the current batch: a prediction depends on what else is
        in the batch, results change with the batch size, and a batch of one
        sample fails or degenerates. Sometimes that is intended (some GAN and
        test-time-adaptation setups), hence only info.

    Example
        ::

            nn.BatchNorm2d(64, track_running_stats=False)

    Use instead
        ``nn.BatchNorm2d(64)`` -- or, if batch independence is the point,
        ``nn.GroupNorm`` / ``nn.InstanceNorm2d``, which say so.

    References
        - torch.nn.BatchNorm2d documentation, ``track_running_stats``
    """

    code = "BN104"
    name = "batchnorm-without-running-stats"
    severity = Severity.INFO
    needs = ("model",)
    summary = "BatchNorm with track_running_stats=False: eval() uses batch statistics."
    hint = "keep running statistics, or use GroupNorm/InstanceNorm if batch independence is wanted"

    def check_model(self, ctx):

        for qual, bn in ctx.graph.modules(L.BATCHNORM):
            if not bn.track_running_stats:
                yield ctx.report(
                    self,
                    f"{type(bn).__name__} '{qual}' has track_running_stats=False: in eval() it "
                    "still normalizes with the current batch, so outputs depend on the batch",
                    module=qual,
                )

    invalid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8, track_running_stats=False))
            """,
            at="@1",
            message="track_running_stats=False",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))
            """
        ),
    )
