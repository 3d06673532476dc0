from bnlint.findings import FixSafety, Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L


class BatchNormSingleValuePerChannel(Rule):
    """
    What it does
        At the training batch size (the first dimension of the example inputs,
        or ``--batch-size``), finds a BatchNorm that sees a single value per
        channel: N x (spatial positions) = 1 -- typically ``BatchNorm1d`` after
        global pooling, or ``BatchNorm2d`` on a 1x1 map, at batch size 1.

    Why is this bad?
        In training mode BatchNorm needs at least two values per channel to
        compute a variance, and PyTorch refuses:
        ``ValueError: Expected more than 1 value per channel when training``.
        The same crash hits the last, short batch of an epoch when
        ``len(dataset) % batch_size == 1`` and ``drop_last=False``. BN layers
        kept in eval during training (frozen) are not reported.

    Example
        ::

            head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(512, 256, bias=False), nn.BatchNorm1d(256))
            # trained with batch size 1

    Use instead
        A larger batch (and ``drop_last=True`` in the DataLoader), or a norm that
        does not depend on the batch: ``nn.LayerNorm(256)`` for vectors,
        ``nn.GroupNorm(32, C)`` for feature maps.

    Fix safety
        Unsafe: replacing BatchNorm with GroupNorm/LayerNorm changes the
        function; the model must be retrained or fine-tuned.

    References
        - torch.nn.functional.batch_norm (``_verify_batch_size``)
        - Wu & He, "Group Normalization", ECCV 2018
    """

    code = "BN301"
    name = "batchnorm-single-value-per-channel"
    severity = Severity.ERROR
    needs = ("shapes",)
    summary = "At the training batch size a BatchNorm sees one value per channel: training crashes."
    hint = "use a batch of 2 or more (drop_last=True), or LayerNorm/GroupNorm"
    fix = "replace BatchNorm with GroupNorm / LayerNorm"
    fix_safety = FixSafety.UNSAFE

    def check_model(self, ctx):

        for qual, bn in ctx.graph.modules(L.BATCHNORM):
            shape = ctx.input_shape(qual)
            if shape is None or len(shape) < 2 or not ctx.train_state[qual].training:
                continue
            if L.values_per_channel(shape) == 1:
                dims = f"[{', '.join(map(str, shape))}]"
                yield ctx.report(
                    self,
                    f"{type(bn).__name__} '{qual}' sees 1 value per channel at batch size "
                    f"{ctx.batch_size} (input {dims}): training fails with 'Expected more than "
                    "1 value per channel when training'",
                    module=qual,
                    extra=L.norm_swap_facts(bn, shape),
                )

    invalid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                nn.Linear(16, 32, bias=False), nn.BatchNorm1d(32),
            )
            example_inputs = ((1, 3, 32, 32),)
            """,
            at="@6",
            message="1 value per channel at batch size 1",
        ),
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Conv2d(3, 16, 3, bias=False), nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d(16),
            )
            example_inputs = ((1, 3, 32, 32),)
            """,
            at="@2",
            message="1 value per channel at batch size 1",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            # a 32x32 map at batch 1 has 1024 values per channel: it trains (badly: BN302)
            model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
            example_inputs = ((1, 3, 32, 32),)
            """
        ),
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(16, 32, bias=False), nn.BatchNorm1d(32))
            example_inputs = ((2, 16),)
            """
        ),
    )
