import ast
from typing import Iterator

from bnlint.findings import FixSafety, Severity
from bnlint.engine.rule import Example, Rule
from bnlint.model import layers as L
from bnlint.source.syntax import FUNCTIONS, statements

# Functional dropouts read from source: qualified name -> (training keyword,
# its position, its default).
_TRAINING_ARGUMENT = {
    "torch.nn.functional.dropout": ("training", 2, True),
    "torch.nn.functional.dropout1d": ("training", 2, True),
    "torch.nn.functional.dropout2d": ("training", 2, True),
    "torch.nn.functional.dropout3d": ("training", 2, True),
    "torch.nn.functional.alpha_dropout": ("training", 2, False),
    "torch.nn.functional.feature_alpha_dropout": ("training", 2, False),
    "torch.dropout": ("train", 2, None),
    "torch.alpha_dropout": ("train", 2, None),
    "torch.feature_dropout": ("train", 2, None),
    "torch.feature_alpha_dropout": ("train", 2, None),
}


class FunctionalDropoutAlwaysOn(Rule):
    """
    What it does
        Finds ``F.dropout`` (and ``dropout1d/2d/3d``, ``torch.dropout``) called in
        ``forward`` without ``training=self.training``, so that it still drops
        in ``eval()``.

    Why is this bad?
        Unlike ``nn.Dropout``, the functional form does not know the module's
        mode: ``F.dropout``'s ``training`` argument defaults to ``True``.
        ``model.eval()`` then changes nothing, predictions are random, and
        validation accuracy is silently lower than the model's real accuracy.

    Example
        ::

            def forward(self, x):
                return self.fc(F.dropout(x, p=0.5))

    Use instead
        ::

            def forward(self, x):
                return self.fc(F.dropout(x, p=0.5, training=self.training))

        or an ``nn.Dropout(0.5)`` submodule, which follows ``train()``/``eval()``.

    Fix safety
        Safe: training is unchanged, and ``eval()`` now means what it says.

    References
        - torch.nn.functional.dropout documentation (``training=True`` default)
        - torchvision DenseNet: ``F.dropout(x, p, training=self.training)``
    """

    code = "BN203"
    name = "functional-dropout-always-on"
    severity = Severity.ERROR
    needs = ("graph", "source")
    summary = "Functional dropout without training=self.training keeps dropping in eval()."
    hint = "pass training=self.training"
    fix = "add training=self.training to the call"
    fix_safety = FixSafety.SAFE

    def check_model(self, ctx):
        # The model is traced in eval(), so `training=self.training` resolved
        # to False; anything still True is on in eval.

        g = ctx.graph
        for node in g.function_calls(L.FUNCTIONAL_DROPOUT):
            if L.functional_dropout_training(node) is not True or not L.dropout_p(node):
                continue
            owner = g.qualname(node)
            where = f"forward of '{owner}'" if owner else "forward"
            yield ctx.report(
                self,
                f"{L.call_name(node.target)}(...) in {where} runs with training=True even in "
                "eval(): pass training=self.training",
                module=owner or None,
                node=node,
                at_call=True,
            )

    def check_source(self, ctx):
        # The same mistake read from the source: in any class's `forward`, a
        # functional dropout whose `training` is missing (F.dropout* default
        # to True) or the constant True. Files that are also imported report
        # it once: the engine keeps the model finding at the same line.
        if "dropout" not in ctx.text:
            return
        for cls_node, forward in _forward_methods(ctx.tree):
            guarded = _training_guarded(forward)
            for call in ast.walk(forward):
                if not isinstance(call, ast.Call) or id(call) in guarded:
                    continue
                qual = ctx.imports.qualify(call.func)
                if qual not in _TRAINING_ARGUMENT:
                    continue
                name, pos, default = _TRAINING_ARGUMENT[qual]
                arg = next((k.value for k in call.keywords if k.arg == name), None)
                if arg is None and len(call.args) > pos:
                    arg = call.args[pos]
                training = default if arg is None else (arg.value if isinstance(arg, ast.Constant) else None)
                p = next((k.value for k in call.keywords if k.arg == "p"), call.args[1] if len(call.args) > 1 else None)
                if training is not True or (isinstance(p, ast.Constant) and p.value == 0):
                    continue
                if p is not None and _mentions_training(p):  # p=0.5 if self.training else 0.0
                    continue
                written = ast.get_source_segment(ctx.text, call.func) or qual
                explicit = arg is not None
                yield ctx.report(
                    self,
                    f"{written}(...) in forward of {cls_node.name} runs with training=True even in "
                    + (
                        "eval(), as written: if this is Monte-Carlo dropout, say so with "
                        "`# bnlint: ignore[BN203]`; otherwise pass training=self.training"
                        if explicit else "eval(): pass training=self.training"
                    ),
                    call,
                    **({"fix": None, "fix_safety": None} if explicit else {}),
                )

    invalid = (
        Example(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(16, 4)

                def forward(self, x):
                    return self.fc(F.dropout(x, 0.5))

            model = Net()
            """,
            at="F.dropout(x, 0.5)",
            message="runs with training=True even in eval(): pass training=self.training",
        ),
        Example(
            """
            import torch
            from torch.nn import functional as nnf

            class Head(torch.nn.Module):
                def forward(self, x):
                    x = nnf.dropout2d(x, p=0.1)
                    return torch.dropout(x, 0.5, True)
            """,
            kind="source",
            at=("nnf.dropout2d(x", "torch.dropout(x, 0.5, True)"),
            message="(...) in forward of Head runs with training=True even in eval()",
        ),
    )
    valid = (
        Example(
            """
            import torch
            import torch.nn.functional as F

            class Head(torch.nn.Module):
                def forward(self, x):
                    x = F.dropout(x, 0.5, self.training)
                    x = F.dropout(x, p=0.0)           # p=0: nothing to drop
                    return torch.dropout(x, 0.5, train=self.training)

            class Gated(torch.nn.Module):
                def forward(self, x):
                    if self.training:
                        x = F.dropout(x, 0.5)
                    x = F.dropout(x, p=0.2 if self.training else 0.0)
                    x = x if not self.training else F.dropout(x, 0.3)
                    return F.dropout(x, 0.1) if self.training else x

            class EarlyOut(torch.nn.Module):
                def forward(self, x):
                    if not self.training:
                        return x
                    return F.dropout(x, 0.5)

            def augment(x):
                return F.dropout(x, 0.1)              # not a forward: a deliberate choice
            """,
            kind="source",
        ),
        Example(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(16, 4)

                def forward(self, x):
                    return self.fc(F.dropout(x, 0.5, training=self.training))

            model = Net()
            """
        ),
    )


def _forward_methods(tree: ast.Module) -> Iterator[tuple[ast.ClassDef, ast.FunctionDef]]:
    for node in statements(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, FUNCTIONS) and item.name == "forward":
                    yield node, item


def _mentions_training(expr: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and n.attr == "training")
        or (isinstance(n, ast.Name) and n.id in ("training", "is_training"))
        for n in ast.walk(expr)
    )


def _training_guarded(forward: ast.AST) -> set[int]:
    """Nodes that run only in one mode, as the forward decides from
    ``self.training``: both branches of ``if self.training:`` (or of
    ``x if not self.training else ...``), and whatever follows an ``if`` on
    the mode that returns (``if not self.training: return x``)."""
    guarded: set[int] = set()

    def mark(nodes) -> None:
        for node in nodes:
            guarded.update(id(n) for n in ast.walk(node))

    for g in ast.walk(forward):
        if isinstance(g, ast.IfExp) and _mentions_training(g.test):
            mark([g.body, g.orelse])
        elif isinstance(g, ast.If) and _mentions_training(g.test):
            mark([*g.body, *g.orelse])
        for block in ("body", "orelse", "finalbody"):
            stmts = getattr(g, block, None)
            if not isinstance(stmts, list):
                continue
            for i, st in enumerate(stmts):
                if (
                    isinstance(st, ast.If) and _mentions_training(st.test) and st.body
                    and isinstance(st.body[-1], (ast.Return, ast.Raise))
                ):
                    mark(stmts[i + 1 :])
                    break
    return guarded
