import ast
from typing import Callable

from bnlint.findings import Severity
from bnlint.engine.rule import Example, Rule
from bnlint.source import EVALUATING, FROM_CALLER, CycleMemo, Func, ModelCall, ModeSet, SourceAnalysis
from bnlint.source.syntax import assignments, dotted, identifiers, name_words, own_nodes


class InferenceWithoutEval(Rule):
    """
    What it does
        Reads scripts as source and finds a model run for inference -- under
        ``torch.no_grad()`` / ``torch.inference_mode()`` (or their decorators),
        or in a predict/evaluate/validate/test function -- while it is still in
        training mode: no ``model.eval()`` reaches the call on any path. A
        freshly built module is in training mode; ``eval()`` may come from the
        same function, from a helper it calls, or from every caller in the
        file. An evaluation function that takes the model as a parameter, never
        calls ``eval()`` itself and has no caller in the file is reported too:
        it leaves the mode to whoever calls it, which is how this bug happens.
        Not reported: a mode that depends on a flag or a branch, a model that
        certainly holds no BatchNorm or Dropout, and a forward right after an
        explicit ``model.train()`` with no training step in between (Monte-Carlo
        dropout, recomputing BatchNorm statistics).

    Why is this bad?
        ``torch.no_grad()`` does not switch modes. In training mode dropout
        keeps dropping and BatchNorm normalizes with the statistics of the
        current batch -- and *overwrites its running statistics with the
        validation data*. Metrics are noisy and pessimistic, predictions depend
        on the batch, and the model itself is contaminated.

    Example
        ::

            def validate(model, loader):
                with torch.no_grad():
                    for x, y in loader:
                        correct += (model(x).argmax(1) == y).sum()

    Use instead
        ::

            def validate(model, loader):
                model.eval()
                with torch.no_grad():
                    ...

        and ``model.train()`` again before training resumes (BN403).

    References
        - torch.nn.Module.eval documentation ("This has an effect only on certain modules ... Dropout, BatchNorm")
        - PyTorch docs, "Autograd mechanics: no_grad vs eval mode"
    """

    code = "BN402"
    name = "inference-without-eval"
    severity = Severity.ERROR
    needs = ("source",)
    summary = "A model runs for inference (no_grad / evaluation function) while still in training mode."
    hint = "call model.eval() before inference (and model.train() before training resumes)"

    def check_source(self, ctx):
        an = ctx.flow
        if an is None:
            return
        inference_reason = _inference_reasons(an)
        seen = set()
        for call in an.of(ModelCall):
            func = call.func
            reason = inference_reason(func, call.grad_off)
            if (
                reason is None
                or (call.node.lineno, call.key) in seen
                or call.deliberate
                or not an.is_live(func, call.key, call.live)
                or (not call.grad_off and not func.grad_off and _smoke_test(func, call.key))
                or _shape_check(an, func, call)
            ):
                continue
            path = an.train_path(func, call.key, call.mode)
            if path:
                why = f"{func.qualname}() is called at {an.site(path[0])} with it in training mode"
            elif path is not None:
                why = "no .eval() reaches it"
            elif (
                call.mode == FROM_CALLER
                and call.key.split(".", 1)[0] in func.params
                and is_inference_name(func.name)
                and not an.has_callers(func)
                and not an.given_in_eval(func, call.key)  # a caller in another file passes it in eval
                and not _callable_beside_a_model(an, func, call.key)
            ):
                why = f"{func.qualname}() never calls {call.key}.eval() and leaves the mode to its callers"
            elif call.mode == FROM_CALLER and handed_over_closure(an, func, call.key):
                why = (f"{func.name}() never calls {call.key}.eval(), nor does {func.parent.qualname}() "  # type: ignore[union-attr]
                       "that makes it, and it is handed over to be run")
            else:
                continue
            seen.add((call.node.lineno, call.key))
            yield ctx.report(
                self,
                f"'{call.key}' runs {reason} in training mode: {why}, so BatchNorm uses batch "
                "statistics (and overwrites its running stats) and dropout stays on",
                call.node,
                hint=f"call {call.key}.eval() before this (and {call.key}.train() before training resumes)",
            )

    invalid = (
        Example(
            """
            import torch

            def validate(model, loader):
                correct = 0
                with torch.no_grad():
                    for x, y in loader:
                        correct += (model(x).argmax(1) == y).sum().item()
                return correct
            """,
            kind="source",
            at="correct += (model(x)",
            message="'model' runs under torch.no_grad() in training mode: validate() never calls model.eval() "
            "and leaves the mode to its callers",
        ),
        Example(
            """
            import torch
            import torch.nn as nn

            net = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Dropout(0.5))

            def run_validation(loader):
                with torch.no_grad():
                    return [net(x) for x in loader]

            for epoch in range(10):
                net.train()
                run_validation([torch.randn(4, 8)])
            """,
            kind="source",
            at="return [net(x)",
            message="'net' runs under torch.no_grad() in training mode: run_validation() is called at line 12 "
            "with it in training mode",
        ),
        Example(
            """
            import torch
            from torchvision import models

            model = models.resnet50(weights="DEFAULT")

            @torch.inference_mode()
            def predict(batch):
                return model(batch).softmax(1)

            print(predict(torch.randn(2, 3, 224, 224)))
            """,
            kind="source",
            at="return model(batch)",
            message="'model' runs under @torch.inference_mode() in training mode: predict() is called at line 10",
        ),
        Example(
            # functions defined under `if __name__ == "__main__":` count too
            """
            import torch
            import torch.nn as nn

            if __name__ == "__main__":
                def evaluate(model, loader):
                    with torch.no_grad():
                        return [model(x) for x in loader]

                net = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
                evaluate(net, [])
            """,
            kind="source",
            at="return [model(x)",
            message="'model' runs under torch.no_grad() in training mode: evaluate() is called at line 10 "
            "with it in training mode",
        ),
        Example(
            # torch.set_grad_enabled(False) as a statement: gradients are off from there on
            """
            import torch
            from torchvision.models import resnet18

            model = resnet18()
            torch.set_grad_enabled(False)
            y = model(x)
            """,
            kind="source",
            at="y = model(x)",
            message="'model' runs under torch.set_grad_enabled(False) in training mode: no .eval() "
            "reaches it",
        ),
        Example(
            # a module built and run in one expression
            """
            import torch
            import torch.nn as nn

            with torch.no_grad():
                y = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))(torch.randn(2, 4))
            """,
            kind="source",
            at="nn.Sequential(",
            message="'nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))' runs under torch.no_grad() in "
            "training mode",
        ),
        Example(
            # a parameter is a model when a caller passes one, whatever its name
            """
            import torch
            from torchvision.models import resnet18

            def train(args, generator, g_ema):
                for i in range(10):
                    generator(torch.randn(2, 3)).sum().backward()
                    with torch.no_grad():
                        sample = g_ema(torch.randn(2, 3))

            train(None, resnet18(), resnet18())
            """,
            kind="source",
            at="sample = g_ema(",
            message="'g_ema' runs under torch.no_grad() in training mode: train() is called at line 10 "
            "with it in training mode",
        ),
        Example(
            # a model passed down three helpers by unnamed parameters; another run under no_grad
            """
            import torch
            import torch.nn as nn

            def level3(c, x):
                return c(x)

            def level2(b, x):
                return level3(b, x)

            def level1(a, x):
                return level2(a, x)

            model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
            level1(model, torch.randn(2, 4))

            net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
            with torch.no_grad():
                net(torch.randn(2, 4))
            """,
            kind="source",
            at="net(torch.randn",
            message="'net' runs under torch.no_grad() in training mode: no .eval() reaches it",
        ),
        Example(
            # an inference class that never puts its model in eval()
            """
            import torch
            from torchvision import models

            class Detector:
                def __init__(self):
                    self.model = models.resnet50(weights=None)

                def process(self, images):
                    with torch.no_grad():
                        return self.model(images)
            """,
            kind="source",
            at="return self.model(images)",
            message="'self.model' runs under torch.no_grad() in training mode: no .eval() reaches it",
        ),
    )
    valid = (
        Example(
            """
            import torch

            def validate(model, loader):
                model.eval()
                with torch.no_grad():
                    return [model(x) for x, _ in loader]
            """,
            kind="source",
        ),
        Example(
            # eval() inside the no_grad block, before the call
            """
            import torch

            def validate(model, loader):
                with torch.no_grad():
                    model.eval()
                    return [model(x) for x, _ in loader]
            """,
            kind="source",
        ),
        Example(
            # eval through a helper
            """
            import torch

            def prepare(model):
                model.eval()
                return model

            def validate(model, loader):
                prepare(model)
                with torch.no_grad():
                    return [model(x) for x, _ in loader]
            """,
            kind="source",
        ),
        Example(
            # the caller puts the model in eval
            """
            import torch
            import torch.nn as nn

            def evaluate(model, loader):
                with torch.no_grad():
                    return [model(x) for x, _ in loader]

            model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
            model.eval()
            evaluate(model, [])
            """,
            kind="source",
        ),
        Example(
            # one function for both: the branch decides the mode
            """
            import torch

            def run_epoch(model, loader, optimizer, train=True):
                model.train() if train else model.eval()
                with torch.set_grad_enabled(train):
                    for x, y in loader:
                        loss = model(x).sum()
                        if train:
                            loss.backward()
                            optimizer.step()

            def validate(model, loader):
                with torch.no_grad():
                    run_epoch(model, loader, None, train=False)
            """,
            kind="source",
        ),
        Example(
            # Lightning-style: the framework switches modes; a module calls itself
            """
            import torch
            import pytorch_lightning as pl

            class LitNet(pl.LightningModule):
                def validation_step(self, batch, batch_idx):
                    x, y = batch
                    return self(x)

                @torch.no_grad()
                def predict(self, x):
                    return self.model(x)
            """,
            kind="source",
        ),
        Example(
            # a criterion is not a model; a model without BatchNorm or Dropout
            # computes the same in both modes
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 6, 5)
                    self.fc = nn.Sequential(nn.Linear(6 * 14 * 14, 10), nn.ReLU())

                def forward(self, x):
                    return self.fc(torch.flatten(F.max_pool2d(F.relu(self.conv(x)), 2), 1))

            net = Net()
            criterion = nn.CrossEntropyLoss()
            with torch.no_grad():
                loss = criterion(net(images), labels)
            """,
            kind="source",
        ),
        Example(
            # eval() on each of the models, through a loop over them
            """
            import torch
            import torch.nn as nn

            netG = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
            netD = nn.Sequential(nn.Linear(8, 1), nn.Dropout(0.3))
            for net in (netG, netD):
                net.eval()
            with torch.no_grad():
                netD(netG(torch.randn(4, 8)))
            """,
            kind="source",
        ),
        Example(
            # train() on purpose without gradients: recomputing BatchNorm statistics
            """
            import torch

            @torch.no_grad()
            def update_bn(loader, model):
                model.train()
                for x in loader:
                    model(x)
            """,
            kind="source",
        ),
        Example(
            # Hugging Face's from_pretrained() returns the model in eval mode
            """
            import torch
            from transformers import AutoModelForSequenceClassification

            model = AutoModelForSequenceClassification.from_pretrained("bert-base-uncased")
            with torch.no_grad():
                logits = model(**batch).logits
            """,
            kind="source",
        ),
        Example(
            # predict() runs the global model, which is in eval; the model
            # finetune() trains before calling it is its own local
            """
            import torch
            from torchvision import models

            model = models.resnet18(weights="DEFAULT")
            model.eval()

            def predict(x):
                with torch.no_grad():
                    return model(x)

            def finetune(loader):
                model = models.resnet18()
                for x, y in loader:
                    model(x).sum().backward()
                    opt.step()
                return predict(x)
            """,
            kind="source",
        ),
    )



_INFERENCE_WORDS = {
    "predict", "prediction", "predictions", "evaluate", "evaluation", "eval", "validate",
    "validation", "val", "valid", "test", "testing", "infer", "inference", "detect",
}
_TRAINING_WORDS = {"train", "training", "fit", "finetune", "step"}


_WEIGHTS = {"load_state_dict", "load", "from_pretrained", "pretrained", "weights", "load_checkpoint", "checkpoint", "resume"}


def _smoke_test(func: Func, key: str) -> bool:
    """A ``test()`` that builds a model and runs it without loading any
    weights (``net = ResNet18(); print(net(x).size())`` in a model file):
    an untrained model's outputs are no inference, its shapes are checked."""
    root = key.split(".", 1)[0]
    if func.is_module or root not in func.locals or root in func.params:
        return False
    return not (identifiers(func.node) & _WEIGHTS)


_RANDOM = {"torch.rand", "torch.randn", "torch.zeros", "torch.ones", "torch.empty", "torch.randint", "torch.full"}


_SHAPES = {"shape", "size", "dim", "ndim"}


def _shape_check(an: SourceAnalysis, func: Func, call: ModelCall) -> bool:
    """A model built right here, never loaded nor trained, run on a random
    tensor, and its outputs used for their shapes only (``net =
    MobileNetV2(); x = torch.rand(1, 3, 224, 224); with torch.no_grad(): y
    = net(x); print(y.shape)`` in a model file's ``__main__`` block): what
    it computes means nothing in either mode, and nothing reads it."""
    root = call.key.split(".", 1)[0]
    if root in func.params or root not in func.locals or not isinstance(call.node, ast.Call) or not call.node.args:
        return False
    nodes = list(own_nodes(func.node))
    words = set().union(*(name_words(n.id) for n in nodes if isinstance(n, ast.Name)),
                        *(name_words(n.attr) for n in nodes if isinstance(n, ast.Attribute)),
                        *(name_words(n.arg) for n in nodes if isinstance(n, ast.keyword) and n.arg))
    if words & _WEIGHTS or an.trains(func):
        return False  # loaded (`load_weights(net)`, `pretrained=True`) or trained: a real inference
    imports = an.structure.imports

    def random(e: ast.AST) -> bool:
        return isinstance(e, ast.Call) and imports.qualify(e.func) in _RANDOM

    first = call.node.args[0]
    if isinstance(first, ast.Name):  # `x = torch.rand(...)`: every assignment of it in this scope
        values = [n.value for n in assignments(nodes, first.id)]
        if not values or not all(random(v) for v in values):
            return False
    elif not random(first):
        return False
    return _only_shapes(call, nodes)


def _only_shapes(call: ModelCall, nodes: list) -> bool:
    """Whether what the call returns (the names it is assigned to) is read for
    its shapes only -- ``y.shape``, ``[s.shape for s in state]`` -- or handed
    back to the same model (a recurrent state), and read at least once."""
    results: set[str] = set()
    for n in nodes:
        if isinstance(n, ast.Assign) and n.value is call.node:
            for t in n.targets:
                results |= {e.id for e in (t.elts if isinstance(t, ast.Tuple) else [t]) if isinstance(e, ast.Name)}
    if not results:
        return False
    parents = {id(child): n for n in nodes for child in ast.iter_child_nodes(n)}
    shapes = 0
    for n in nodes:
        if not (isinstance(n, ast.Name) and n.id in results and isinstance(n.ctx, ast.Load)):
            continue
        up = parents.get(id(n))
        if isinstance(up, ast.Starred):
            up = parents.get(id(up))
        if isinstance(up, ast.Attribute) and up.attr in _SHAPES:
            shapes += 1
        elif isinstance(up, ast.Call) and n is not up.func and dotted(up.func) == call.key:
            continue  # handed back to the model
        elif isinstance(up, ast.comprehension) and up.iter is n and isinstance(up.target, ast.Name):
            comp = parents.get(id(up))
            elt = getattr(comp, "elt", None)
            var = up.target.id
            uses = [m for m in ast.walk(elt) if isinstance(m, ast.Name) and m.id == var] if elt is not None else []
            if not uses or not all(isinstance(parents.get(id(m)), ast.Attribute) and parents[id(m)].attr in _SHAPES
                                   for m in uses):
                return False
            shapes += 1
        else:
            return False
    return shapes > 0


def _callable_beside_a_model(an: SourceAnalysis, func: Func, key: str) -> bool:
    """``def evaluate(self, model, decoder=None): model = model.eval(); ...
    decoder(outputs)`` (YOLOX's evaluators, given ``model.head.decode_outputs``
    or None): a parameter taken for a model by its name alone -- nothing in
    the file uses it as a module (``.eval()``, ``.parameters()``, ``.to()``)
    -- in a function that puts another of its parameters in eval() itself.
    That function sets the mode of the model it runs; what it only calls
    beside it is a function, not a second model left to its callers."""
    if key in an.structure.module_keys or key.split(".", 1)[0] in an.structure.module_keys:
        return False
    return any(
        isinstance(e, ModeSet) and e.mode == EVALUATING and e.key.split(".", 1)[0] in func.params
        and e.key.split(".", 1)[0] != key.split(".", 1)[0]
        for e in an.events_of(func)
    )


def handed_over_closure(an: SourceAnalysis, func: Func, key: str) -> bool:
    """An inference-named closure over a model its enclosing function is
    given (``def _inference(engine, batch): ... model(data)`` inside
    ``create_evaluator(model)``, returned as ``Engine(_inference)``): run by
    whoever it is handed to, in whatever mode the model is then -- when
    neither it nor the enclosing function puts the model in eval, and no
    caller of the enclosing function in another file hands it over in eval."""
    parent = func.parent
    root = key.split(".", 1)[0]
    if parent is None or root in func.params or root in func.locals or root not in parent.params:
        return False
    if not is_inference_name(func.name) or an.has_callers(func):
        return False
    if any(isinstance(e, ModeSet) and e.key.split(".", 1)[0] == root for e in an.events_of(parent)):
        return False
    return not an.given_in_eval(parent, root)


def is_inference_name(name: str) -> bool:
    """``validate``, ``evaluate_model``, ``run_test``, ``predict``; not
    pytest's ``test_something`` nor anything that also says train/fit."""
    words = name_words(name)
    if name.lower().lstrip("_").startswith("test_"):
        return False
    return bool(words & _INFERENCE_WORDS) and not words & _TRAINING_WORDS


def _inference_reasons(an: SourceAnalysis) -> Callable[[Func, "str | None"], "str | None"]:
    """Why a call in a function is an inference: gradients are off where it
    is, the function is named for inference (and trains nothing), or every
    caller in the file calls it for inference."""
    memo = CycleMemo()

    def reason(func: Func, grad_off: str | None) -> str | None:
        if grad_off:
            return f"on {grad_off}" if grad_off.startswith("a volatile") else f"under {grad_off}"
        if func.grad_off:
            return f"under @{func.grad_off}"

        def compute():
            if not func.is_module and is_inference_name(func.name) and not an.trains(func) \
                    and not in_training(func):
                return f"in {func.qualname}()"
            first = None
            for c in an.callers_of(func):
                why = reason(c.caller, c.grad_off)
                if why is None:
                    return None
                first = first or why
            return f"in {func.qualname}(), called {first}" if first else None

        return memo(("why", id(func)), None, compute)

    def in_training(func: Func) -> bool:
        """Whether a call of ``func`` is part of a training step: made by the
        statements of one (see :attr:`CallOf.in_step`), or from a function
        that is itself so called (monodepth2's ``predict_poses()``, called by
        ``process_batch()`` in the batch loop that steps, predicts no more
        than it trains). A ``test()`` called between epochs is not."""
        def compute():
            return any(not c.grad_off and (c.in_step or in_training(c.caller)) for c in an.callers_of(func))

        return memo(("training", id(func)), False, compute)

    return reason
