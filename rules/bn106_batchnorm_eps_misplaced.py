import ast

from bnlint.findings import FixSafety, Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L

# eps is there to keep the division finite: 1e-5 (PyTorch), 1e-3 (Keras,
# TensorFlow), 1e-6 at the most cautious. Anything above this is a value
# meant for another argument.
EPS_LIMIT = 0.01

# BatchNorm classes whose signature is (num_features, eps, momentum, ...).
_BATCHNORMS = {
    f"torch.nn.{name}" for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm",
                                    "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d")
}
_BATCHNORMS |= {q.replace("torch.nn.", "torch.nn.modules.batchnorm.") for q in _BATCHNORMS}


def _surely_not_eps(call: ast.Call, second: ast.AST, written: str, text: str) -> bool:
    """A variable in eps's place is reported only when it cannot be an eps:
    the channel count again (``BatchNorm2d(n, n)``) or a name that says
    momentum. ``module.eps``, ``bn_eps`` or ``cfg.norm_eps`` are eps passed
    where eps goes (torch's own ``convert_sync_batchnorm`` does that)."""
    first = ast.get_source_segment(text, call.args[0])
    words = written.lower()
    return written == first or ("mom" in words and "eps" not in words)


class BatchNormEpsMisplaced(Rule):
    """
    What it does
        Finds a BatchNorm whose ``eps`` is above 0.01, far above any numerical
        purpose, and, in source, a BatchNorm construction call whose second
        positional argument -- ``eps`` -- is such a constant, the channel count
        again, or a name that says momentum (``nn.BatchNorm2d(c, 0.8)``,
        ``nn.BatchNorm2d(n, n)``, ``nn.BatchNorm2d(c, bn_momentum)``). A small
        constant there (``BatchNorm2d(c, 1e-3)``) is a deliberate eps and is
        not reported.

    Why is this bad?
        BatchNorm's signature is ``(num_features, eps=1e-5, momentum=0.1,
        ...)``: the second positional argument is ``eps``, not the momentum.
        ``nn.BatchNorm2d(c, 0.8)`` (40 times in one popular GAN collection,
        confirmed upstream) sets eps to 0.8 and ``nn.BatchNorm2d(n, n)`` sets it
        to n. The layer then divides by ``sqrt(var + eps)``: every normalized
        value shrinks toward zero and the layer is silently damped, while the
        momentum meant is not applied at all.

    Example
        ::

            nn.BatchNorm2d(128, 0.8)       # meant: momentum=0.8

    Use instead
        ::

            nn.BatchNorm2d(128, momentum=0.8)   # and check the convention: see BN103

    Fix safety
        Unsafe: passing the value as ``momentum=`` and restoring the default
        eps changes what the layer computes (and how its running statistics
        evolve); a model trained with the large eps must be retrained or
        fine-tuned.

    References
        - torch.nn.BatchNorm2d documentation (the signature)
        - eriklindernoren/PyTorch-GAN, issue "BatchNorm2d(out_feat, 0.8)"
    """

    code = "BN106"
    name = "batchnorm-eps-misplaced"
    severity = Severity.WARNING
    needs = ("model", "source")
    summary = "BatchNorm eps far above any numerical purpose: a momentum passed positionally?"
    hint = "BatchNorm's second positional argument is eps; pass momentum= by keyword"
    fix = "pass the value as momentum= and restore the default eps"
    fix_safety = FixSafety.UNSAFE

    def check_model(self, ctx):
        for qual, bn in ctx.graph.modules(L.BATCHNORM):
            eps = getattr(bn, "eps", None)
            if not isinstance(eps, (int, float)) or eps <= EPS_LIMIT:
                continue
            yield ctx.report(
                self,
                f"{type(bn).__name__} '{qual}' has eps={eps:g}, far above any numerical purpose "
                f"(default 1e-05): every normalized value is damped; the second positional "
                f"argument of BatchNorm is eps -- did you mean momentum={eps:g}?",
                module=qual,
            )

    def check_source(self, ctx):
        if "BatchNorm" not in ctx.text:
            return
        for call in ast.walk(ctx.tree):
            if not isinstance(call, ast.Call) or len(call.args) < 2:
                continue
            if ctx.imports.qualify(call.func) not in _BATCHNORMS:
                continue
            second = call.args[1]
            if isinstance(second, ast.Starred):
                continue
            written = ast.get_source_segment(ctx.text, second) or "..."
            if isinstance(second, ast.Constant):
                value = second.value
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= EPS_LIMIT:
                    continue  # a deliberate small eps
            elif not _surely_not_eps(call, second, written, ctx.text):
                continue  # `module.eps`, `bn_eps`, `self.eps`: an eps passed where eps goes
            cls = ast.get_source_segment(ctx.text, call.func) or "BatchNorm"
            yield ctx.report(
                self,
                f"{cls}(..., {written}) passes {written} as eps (BatchNorm's second positional "
                f"argument), not as momentum: pass momentum={written} by keyword",
                call,
            )

    invalid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16, 0.8), nn.ReLU())
            """,
            at="@1",
            message="has eps=0.8",
        ),
        Example(
            """
            import torch.nn as nn

            def block(n):
                return nn.Sequential(nn.Conv2d(n, n, 3, bias=False), nn.BatchNorm2d(n, n))
            """,
            kind="source",
            at="nn.BatchNorm2d(n, n)",
            message="passes n as eps",
        ),
    )
    valid = (
        Example(
            """
            import torch.nn as nn

            model = nn.Sequential(
                nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16, momentum=0.01),
                nn.Conv2d(16, 16, 3, bias=False), nn.BatchNorm2d(16, 1e-3),   # a deliberate eps
            )
            """
        ),
        Example(
            """
            import torch.nn as nn

            def block(n, eps=1e-3):
                return nn.Sequential(nn.Conv2d(n, n, 3, bias=False), nn.BatchNorm2d(n, 1e-4))
            """,
            kind="source",
        ),
        Example(
            """
            import torch.nn as nn

            def as_sync(module):  # torch's own convert_sync_batchnorm passes eps positionally
                return nn.SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine)

            def block(n, bn_eps):
                return nn.BatchNorm2d(n, bn_eps)
            """,
            kind="source",
        ),
    )
