from bnlint.findings import FixSafety, Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L

SMALL_BATCH = 8


class BatchNormSmallBatch(Rule):
    """
    What it does
        Finds models with BatchNorm layers that train at a batch size below 8
        (the first dimension of the example inputs, or ``--batch-size``).
        Reported once per model, at its first BatchNorm that trains; layers
        that already crash at this batch size are BN301.

    Why is this bad?
        BatchNorm's statistics are estimated from the batch. With a handful of
        samples they are noise, the noise differs between training and the
        running statistics used at inference, and accuracy falls off a cliff:
        Wu & He measured ResNet-50's ImageNet error rising by about 10 points
        from batch 32 to batch 2 per GPU, while GroupNorm stayed flat.

    Example
        ::

            model = resnet50()           # nn.BatchNorm2d everywhere
            # fine-tuned with batch size 4 for detection / segmentation

    Use instead
        ``nn.GroupNorm(gcd(32, C), C)`` in place of each ``BatchNorm2d(C)``
        (``bnlint check --fix --unsafe-fixes`` edits the source,
        ``bnlint.fix.swap_batchnorm(model)`` swaps a live model), SyncBatchNorm across
        devices, or freeze the BN statistics (keep BN in eval) when fine-tuning.

    Fix safety
        Unsafe: GroupNorm computes a different function; the model must be
        retrained or fine-tuned after the swap.

    References
        - Wu & He, "Group Normalization", ECCV 2018
        - Ioffe, "Batch Renormalization", NeurIPS 2017
    """

    code = "BN302"
    name = "batchnorm-small-batch"
    severity = Severity.WARNING
    needs = ("shapes",)
    summary = "Training batch size below 8 with BatchNorm: noisy batch statistics."
    hint = "use GroupNorm(gcd(32, C), C), SyncBatchNorm, or keep BN frozen in eval"
    fix = "replace BatchNorm with GroupNorm(gcd(32, C), C)"
    fix_safety = FixSafety.UNSAFE

    def check_model(self, ctx):

        n = ctx.batch_size
        if n is None or n >= SMALL_BATCH:
            return
        training = [
            (q, bn) for q, bn in ctx.graph.modules(L.BATCHNORM)
            if ctx.train_state[q].training and ctx.input_shape(q) is not None
            and L.values_per_channel(ctx.input_shape(q)) > 1  # those crash instead: BN301
        ]
        if not training:
            return
        qual, bn = training[0]
        what = f"{type(bn).__name__} '{qual}' trains"
        if len(training) > 1:
            what = f"{len(training)} BatchNorm layers (the first: {type(bn).__name__} '{qual}') train"
        yield ctx.report(
            self,
            f"{what} at batch size {n} (input {ctx.shapes.spec.describe()}): with fewer than "
            f"{SMALL_BATCH} samples the batch statistics are noise and BatchNorm accuracy degrades",
            module=qual,
            extra=L.norm_swap_facts(bn, ctx.input_shape(qual)),
        )

    invalid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            )
            example_inputs = ((4, 3, 32, 32),)
            """,
            at="@1",
            message="train at batch size 4",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            example_inputs = ((32, 3, 32, 32),)
            """
        ),
        Example(
            """
            import torch.nn as nn

            # GroupNorm does not depend on the batch
            model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.GroupNorm(4, 16), nn.ReLU())
            example_inputs = ((2, 3, 32, 32),)
            """
        ),
    )
