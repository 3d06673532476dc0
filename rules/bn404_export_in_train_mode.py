import ast

from bnlint.findings import Severity
from bnlint.engine.rule import Example, Rule
from bnlint.rules.bn402_inference_without_eval import handed_over_closure, is_inference_name
from bnlint.source import EVALUATING, FROM_CALLER, Export, ModeSet


class ExportInTrainMode(Rule):
    """
    What it does
        Reads scripts as source and finds a model exported or traced while it
        is certainly in training mode (built and never put in ``eval()`` on
        any path): ``torch.jit.trace``, ``torch.jit.trace_module``,
        ``torch.export.export``, ``torch._dynamo.export`` and
        ``torch.onnx.export``. Left alone: ``torch.onnx.export(...,
        dynamo=False)`` (the legacy exporter switches to eval itself),
        ``torch.jit.script`` (keeps ``training`` as a flag that ``eval()``
        still switches) and ``torch.jit.freeze`` (refuses a training-mode
        module).

    Why is this bad?
        Tracing and export record the module as it runs: a training-mode model
        bakes active dropout and batch-statistics BatchNorm into the artifact,
        and calling ``eval()`` on the result does not undo it. The deployed
        model is random (dropout) and batch-dependent (BN); a batch of one may
        even fail. Since torch 2.9, ``torch.onnx.export`` only warns, and its
        ``training=TrainingMode.EVAL`` argument is ignored unless
        ``dynamo=False``.

    Example
        ::

            net = Net()
            net.load_state_dict(torch.load("ckpt.pt", weights_only=True))
            traced = torch.jit.trace(net, torch.randn(1, 3, 224, 224))

    Use instead
        ::

            net.eval()
            traced = torch.jit.trace(net, torch.randn(1, 3, 224, 224))

    References
        - torch.jit.trace documentation (records the operations run on the example inputs)
        - torch.onnx.export (dynamo=True, the default since 2.9): "Exporting a model while it is in training mode" warning
        - torch.export documentation
    """

    code = "BN404"
    name = "export-in-train-mode"
    severity = Severity.ERROR
    needs = ("source",)
    summary = "torch.jit.trace / torch.export / torch.onnx.export of a model that was never put in eval()."
    hint = "call model.eval() before tracing or exporting"

    def check_source(self, ctx):
        an = ctx.flow
        if an is None:
            return
        seen = set()
        for ex in an.of(Export):
            if (ex.node.lineno, ex.key) in seen:  # a loop's first iteration and the later ones
                continue
            path = an.train_path(ex.func, ex.key, ex.mode)
            if path is None and _evaluated_after(an, ex):
                how = (f"{ex.func.qualname}() puts it in eval() only after the export and leaves the mode "
                       "it gets to its callers") if ex.key.split(".", 1)[0] in ex.func.params else (
                       f"{ex.func.name}() puts it in eval() only after the export, and it is handed over "
                       "to be run in whatever mode the model is in then")
            elif path is None and ex.mode == FROM_CALLER and handed_over_closure(an, ex.func, ex.key):
                how = (f"{ex.func.name}() never puts it in eval() before the export, nor does "
                       f"{ex.func.parent.qualname}() that makes it, and it is handed over to be run")
            elif path is None:
                continue
            else:
                how = (
                    f"{ex.func.qualname}() is called at {an.site(path[0])} with it in training mode"
                    if path else "no .eval() reaches it"
                )
            if not an.is_live(ex.func, ex.key, ex.live):
                continue
            seen.add((ex.node.lineno, ex.key))
            if ex.api == "torch.onnx.export" and any(k.arg == "training" for k in ex.node.keywords):
                how += "; its training= argument is ignored by the default (dynamo) exporter since torch 2.9"
            yield ctx.report(
                self,
                f"{ex.api}() records '{ex.key}' in training mode ({how}): the exported model "
                "keeps dropout on and normalizes BatchNorm with batch statistics",
                ex.node,
                hint=(
                    f"call {ex.key}.eval() before {ex.api}()" if ex.key.isidentifier() or "(" not in ex.key
                    else f"put the model in eval() before {ex.api}()"
                ),
            )

    invalid = (
        Example(
            """
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Dropout(0.2))

                def forward(self, x):
                    return self.body(x)

            net = Net()
            traced = torch.jit.trace(net, torch.randn(1, 3, 32, 32))
            """,
            kind="source",
            at="torch.jit.trace(net",
            message="torch.jit.trace() records 'net' in training mode (no .eval() reaches it)",
        ),
        Example(
            """
            import torch
            from torchvision.models import resnet18

            def export(path):
                model = resnet18(weights=None)
                model.load_state_dict(torch.load(path, weights_only=True))
                torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), "model.onnx")
                return torch.export.export(model, (torch.randn(1, 3, 224, 224),))
            """,
            kind="source",
            at=("torch.onnx.export(model", "torch.export.export(model"),
            message="records 'model' in training mode (no .eval() reaches it)",
        ),
        Example(
            # the model passed by keyword, built in the call
            """
            import torch
            from torchvision.models import resnet18

            torch.onnx.export(model=resnet18(), args=(torch.randn(1, 3, 224, 224),), f="m.onnx")
            """,
            kind="source",
            at="torch.onnx.export(",
            message="torch.onnx.export() records 'resnet18()' in training mode (no .eval() reaches "
            "it)",
        ),
    )
    valid = (
        Example(
            """
            import torch
            from torchvision.models import resnet18

            model = resnet18(weights=None)
            model.eval()
            traced = torch.jit.trace(model, torch.randn(1, 3, 224, 224))
            program = torch.export.export(model.eval(), (torch.randn(1, 3, 224, 224),))
            """,
            kind="source",
        ),
        Example(
            # the legacy ONNX exporter switches to eval itself; scripting keeps the flag
            """
            import torch
            from torchvision.models import resnet18

            model = resnet18(weights=None)
            torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), "m.onnx", dynamo=False)
            scripted = torch.jit.script(model)
            """,
            kind="source",
        ),
        Example(
            # the mode comes from the caller, which is not in this file
            """
            import torch

            def export(model, example):
                return torch.jit.trace(model, example)
            """,
            kind="source",
        ),
    )


def _evaluated_after(an, ex) -> bool:
    """An export of a model the function is given (or, for a closure handed
    over to be run, that the function making it is given), in the mode its caller
    left it, in a function named for inference (``detect_image(model,
    image)``) that puts that model in eval() itself in a later statement of
    its body (the export one of its body's statements too, no return
    between), and that nothing in its file calls, nor anything in the run
    with the model in eval: the function does not count on an eval-mode
    model, and the export comes first."""
    func = ex.func
    if ex.mode != FROM_CALLER or not is_inference_name(func.name):
        return False
    if ex.key.split(".", 1)[0] not in func.params and not handed_over_closure(an, func, ex.key):
        return False  # neither its own parameter nor one of the function that makes it and hands it over
    if an.has_callers(func) or an.given_in_eval(func, ex.key):
        return False  # its callers decide the mode it gets (one in another file passes it in eval)
    body = getattr(func.node, "body", [])

    def statement(node) -> int | None:  # the function's own simple statement holding ``node``
        for i, st in enumerate(body):
            if st.lineno <= node.lineno <= st.end_lineno:
                return i if isinstance(st, (ast.Expr, ast.Assign, ast.AnnAssign)) else None
        return None

    at = statement(ex.node)
    if at is None:
        return False  # under a branch: `if export_path: trace(...); return`
    for e in an.events_of(func):
        later = statement(e.node) if isinstance(e, ModeSet) and e.key == ex.key and e.mode == EVALUATING else None
        if later is not None and later > at and not any(
            isinstance(st, (ast.Return, ast.Raise)) for st in body[at + 1:later]
        ):
            return True
    return False
