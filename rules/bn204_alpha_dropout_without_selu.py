from bnlint.findings import Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L


class AlphaDropoutWithoutSelu(Rule):
    """
    What it does
        Finds ``nn.AlphaDropout`` / ``nn.FeatureAlphaDropout`` (or the
        functional forms) whose input does not come from a SELU.

    Why is this bad?
        Alpha dropout sets dropped units to SELU's negative saturation value and
        then applies an affine correction so that a zero-mean, unit-variance
        input keeps its mean and variance. That only holds for the
        self-normalizing activations SELU produces; after ReLU or a linear
        layer it shifts the statistics instead of preserving them.

    Example
        ::

            nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.AlphaDropout(0.1))

    Use instead
        ::

            nn.Sequential(nn.Linear(64, 64), nn.SELU(), nn.AlphaDropout(0.1))

        or plain ``nn.Dropout`` with other activations.

    References
        - Klambauer et al., "Self-Normalizing Neural Networks", NeurIPS 2017
        - torch.nn.AlphaDropout documentation
    """

    code = "BN204"
    name = "alpha-dropout-without-selu"
    severity = Severity.WARNING
    needs = ("graph",)
    summary = "AlphaDropout not fed by SELU: its correction assumes SELU activations."
    hint = "use SELU before AlphaDropout, or plain Dropout"

    def check_model(self, ctx):

        g = ctx.graph

        def is_selu(n):
            return (
                isinstance(g.module_of(n), L.SELU)
                or (n.op == "call_function" and n.target in L.FUNCTIONAL_SELU)
                or (n.op == "call_method" and n.target in ("selu", "selu_"))
            )

        def producer(node):
            """The value producer, skipping identities and other dropouts."""
            while True:
                ins = [p for p in node.all_input_nodes]
                if not ins:
                    return None
                node = ins[0]
                m = g.module_of(node)
                if isinstance(m, L.DROPOUT) or type(m).__name__ == "Identity":
                    continue
                return node

        alphas = [(n, m) for n, m in g.calls(L.ALPHA_DROPOUT)]
        alphas += [(n, None) for n in g.function_calls(L.FUNCTIONAL_ALPHA_DROPOUT)]
        for node, module in alphas:
            src = producer(node)
            if src is None or src.op in ("placeholder", "get_attr") or g.is_opaque(src) or is_selu(src):
                continue
            src_mod = g.module_of(src)
            fed_by = (
                f"{type(src_mod).__name__} '{g.qualname(src_mod)}'" if src_mod is not None
                else L.call_name(src.target)
            )
            what = (
                f"{type(module).__name__} '{g.qualname(module)}'" if module is not None
                else f"{L.call_name(node.target)}(...)"
            )
            yield ctx.report(
                self,
                f"{what} is fed by {fed_by}, not SELU: alpha dropout keeps mean and variance "
                "only for self-normalizing (SELU) activations",
                module=g.qualname(module) if module is not None else None,
                node=node,
                at_call=module is None,
            )

    invalid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.AlphaDropout(0.1), nn.Linear(16, 2))
            """,
            at="@2",
            message="is fed by ReLU '1', not SELU",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(16, 16), nn.SELU(), nn.AlphaDropout(0.1), nn.Linear(16, 2))
            """
        ),
    )
