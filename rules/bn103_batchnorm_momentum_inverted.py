from bnlint.findings import FixSafety, Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L


class BatchNormMomentumInverted(Rule):
    """
    What it does
        Finds a BatchNorm whose ``momentum`` is above 0.5.

    Why is this bad?
        PyTorch updates ``running = (1 - momentum) * running + momentum * batch``
        (default 0.1): momentum is the weight of the *new* batch. Keras and
        TensorFlow use the opposite convention (default 0.99 is the weight of
        the *old* value). ``momentum=0.9`` or ``0.99`` in PyTorch almost always
        carries the Keras number over, and the running statistics then follow
        the last batch alone: evaluation becomes noisy and depends on whichever
        batch came last.

    Example
        ::

            nn.BatchNorm2d(64, momentum=0.99)   # ported from Keras

    Use instead
        ::

            nn.BatchNorm2d(64, momentum=0.01)   # 1 - keras_momentum

    Fix safety
        Unsafe: it changes how running statistics evolve in training (the
        current weights are unaffected), so it is applied only when asked.

    References
        - torch.nn.BatchNorm2d documentation, the note on momentum
        - tf.keras.layers.BatchNormalization documentation
    """

    code = "BN103"
    name = "batchnorm-momentum-inverted"
    severity = Severity.WARNING
    needs = ("model",)
    summary = "BatchNorm momentum > 0.5: the Keras/TensorFlow convention carried over."
    hint = "PyTorch's momentum is 1 - Keras momentum"
    fix = "set momentum = 1 - momentum"
    fix_safety = FixSafety.UNSAFE

    def check_model(self, ctx):

        for qual, bn in ctx.graph.modules(L.BATCHNORM):
            m = bn.momentum
            if m is None or m <= 0.5:
                continue
            yield ctx.report(
                self,
                f"{type(bn).__name__} '{qual}' has momentum={m:g}: in PyTorch that is the weight "
                f"of the newest batch, so the running statistics follow the last batch almost "
                f"alone (the Keras convention); did you mean momentum={1 - m:.3g}?",
                module=qual,
            )

    invalid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(8, 8, bias=False), nn.BatchNorm1d(8, momentum=0.99))
            """,
            at="@1",
            message="momentum=0.99",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Linear(8, 8, bias=False), nn.BatchNorm1d(8, momentum=0.01),
                nn.Linear(8, 8, bias=False), nn.BatchNorm1d(8, momentum=None),  # cumulative
            )
            """
        ),
    )
