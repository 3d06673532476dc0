from typing import Iterator

from bnlint.findings import Severity
from bnlint.engine.rule import Example, Rule
from bnlint.source import EVALUATING, Freeze, ModeSet, Reentry, Step, Thaw


class TrainNotRestoredAfterEval(Rule):
    """
    What it does
        Reads scripts as source and finds a training loop that puts a model in
        ``eval()`` for validation -- directly or through a helper such as
        ``validate(model, ...)`` -- and reaches the next iteration's training
        step with the model still in eval mode: no ``model.train()`` (in the
        loop, or in the training helper it calls) comes in between. Reported
        at the ``eval()`` that is never undone. Only a certain miss is
        reported: a ``train()`` on some paths, or a mode set from a variable,
        counts as restored; a model frozen whole, on every path, where the
        loop runs (a linear probe: ``requires_grad=False`` on all of it, its
        head re-enabled) trains in eval mode on purpose.

    Why is this bad?
        From the second epoch on the model trains in eval mode: dropout is
        off (no regularization) and BatchNorm normalizes with its frozen
        running statistics instead of the batch's and stops updating them.
        Training still "works", the loss still falls, and the model is
        silently worse -- often only the first epoch was real training.

    Example
        ::

            model.train()
            for epoch in range(epochs):
                for x, y in train_loader:
                    loss_fn(model(x), y).backward()
                    optimizer.step()
                model.eval()                  # validation
                with torch.no_grad():
                    evaluate(model, val_loader)

    Use instead
        Call ``model.train()`` at the top of every epoch (or at the start of
        the training function)::

            for epoch in range(epochs):
                model.train()
                ...

    References
        - PyTorch tutorial "Training a classifier" / ImageNet example: ``model.train()`` in ``train()``, ``model.eval()`` in ``validate()``
        - torch.nn.Module.train documentation
    """

    code = "BN403"
    name = "train-not-restored-after-eval"
    severity = Severity.ERROR
    needs = ("source",)
    summary = "An epoch loop calls eval() for validation and never train() again before the next training step."
    hint = "call model.train() at the start of each epoch (or of the training function)"

    def check_source(self, ctx):
        an = ctx.flow
        if an is None:
            return
        seen = set()
        for loop in an.of(Reentry):
            # a model frozen whole in the loop's function, on every path (all
            # but a head re-enabled: a linear probe), trains in eval() on purpose
            frozen = {e.key for e in an.events_of(loop.func) if isinstance(e, Freeze) and not e.guards}
            frozen -= {e.key for e in an.events_of(loop.func) if isinstance(e, Thaw)}
            for first, key, step in _unrestored(loop):
                if (id(first.node), key) in seen or not an.is_live(loop.func, key, loop.live[key]) or key in frozen:
                    continue
                seen.add((id(first.node), key))
                what = f"{first.via}() puts '{key}' in eval()" if first.via else f"'{key}' is put in eval() here"
                yield ctx.report(
                    self,
                    f"{what} inside the training loop, and nothing calls {key}.train() before the next "
                    f"iteration's training step (line {step.node.lineno}): every later iteration trains in "
                    "eval mode (dropout off, BatchNorm frozen on its running statistics)",
                    first.node,
                    hint=f"call {key}.train() at the start of each epoch, before training",
                )
        # the epoch loop of a base class of another file, which runs this file's
        # methods (`self._valid_epoch()` of `class Trainer(BaseTrainer)`): reported
        # at the eval() of this file's method it calls
        for loop, call, method in an.inherited_loops():
            for first, key, step in _unrestored(loop):
                evals = [e for e in an.events_of(method) if isinstance(e, ModeSet) and e.evals and e.key == key]
                if call is not first or not evals or (id(evals[0].node), key) in seen:
                    continue
                if not an.is_live(loop.func, key, loop.live[key]):
                    continue
                seen.add((id(evals[0].node), key))
                yield ctx.report(
                    self,
                    f"'{key}' is put in eval() here, and the epoch loop of the inherited {loop.func.name}() "
                    f"({an.line_of(loop.func, loop.node)}) reaches the next iteration's training step "
                    f"({an.line_of(loop.func, step.node)}) with nothing calling {key}.train(): every later "
                    "iteration trains in eval mode (dropout off, BatchNorm frozen on its running statistics)",
                    evals[0].node,
                    hint=f"call {key}.train() at the start of each training epoch",
                )

    invalid = (
        Example(
            """
            import torch

            def fit(model, train_loader, val_loader, optimizer, epochs):
                model.train()
                for epoch in range(epochs):
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        loss = torch.nn.functional.cross_entropy(model(x), y)
                        loss.backward()
                        optimizer.step()
                    model.eval()
                    with torch.no_grad():
                        acc = sum((model(x).argmax(1) == y).sum() for x, y in val_loader)
            """,
            kind="source",
            at="model.eval()",
            message="'model' is put in eval() here inside the training loop, and nothing calls model.train() "
            "before the next iteration's training step (line 9)",
        ),
        Example(
            # the eval() comes from a helper, the training step from another
            """
            import torch

            def train_one_epoch(model, loader, optimizer):
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()

            def validate(model, loader):
                model.eval()
                with torch.no_grad():
                    return [model(x) for x, _ in loader]

            def main(model, train_loader, val_loader, optimizer):
                for epoch in range(90):
                    train_one_epoch(model, train_loader, optimizer)
                    validate(model, val_loader)
            """,
            kind="source",
            at="validate(model, val_loader)",
            message="validate() puts 'model' in eval() inside the training loop, and nothing calls model.train() "
            "before the next iteration's training step (line 15)",
        ),
        Example(
            # the helper's eval() is inside its own loop over the batches
            """
            import torch
            from torchvision.models import resnet18

            def train(loader, model, optimizer):
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()

            def test(loader, model):
                with torch.no_grad():
                    for x, _ in loader:
                        model.eval()
                        model(x)

            def main():
                model = resnet18()
                model.train()
                for epoch in range(10):
                    train(loader, model, optimizer)
                    test(val_loader, model)
            """,
            kind="source",
            at="test(val_loader, model)",
            message="test() puts 'model' in eval() inside the training loop, and nothing calls "
            "model.train() before the next iteration's training step (line 19)",
        ),
        Example(
            # a context manager handed the model that leaves its mode alone (accelerate's accumulate)
            """
            def fit(model, loader, optimizer, accelerator):
                model.train()
                for epoch in range(10):
                    for x, y in loader:
                        with accelerator.accumulate(model):
                            accelerator.backward(model(x).sum())
                            optimizer.step()
                    model.eval()
            """,
            kind="source",
            at="model.eval()",
            message="'model' is put in eval() here inside the training loop, and nothing calls "
            "model.train() before the next iteration's training step (line 6)",
        ),
    )
    valid = (
        Example(
            # a linear probe: the backbone frozen whole, trained in eval() on purpose
            """
            import torch
            from torchvision import models

            model = models.resnet50()
            model.requires_grad_(False)
            model.fc.requires_grad_(True)
            optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.1)
            for epoch in range(10):
                for x, y in train_loader:
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    acc = [model(x) for x, _ in val_loader]
            """,
            kind="source",
        ),
        Example(
            """
            import torch

            def fit(model, train_loader, val_loader, optimizer, epochs):
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        model(x).sum().backward()
                        optimizer.step()
                    model.eval()
                    with torch.no_grad():
                        acc = [model(x) for x, _ in val_loader]
            """,
            kind="source",
        ),
        Example(
            # the training helper restores the mode itself
            """
            import torch

            def train_one_epoch(model, loader, optimizer):
                model.train()
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()

            def validate(model, loader):
                model.eval()
                with torch.no_grad():
                    return [model(x) for x, _ in loader]

            for epoch in range(90):
                train_one_epoch(net, train_loader, optimizer)
                validate(net, val_loader)
            """,
            kind="source",
        ),
        Example(
            # one function for both phases, the mode set from a flag
            """
            def run_epoch(model, loader, optimizer, train):
                model.train(train)
                for x, y in loader:
                    loss = model(x).sum()
                    if train:
                        loss.backward()
                        optimizer.step()

            for epoch in range(10):
                run_epoch(model, train_loader, optimizer, True)
                run_epoch(model, val_loader, optimizer, False)
            """,
            kind="source",
        ),
        Example(
            # an EMA copy is evaluated; the trained model never leaves train mode
            """
            import copy
            import torch

            ema_model = copy.deepcopy(model)
            for epoch in range(10):
                model.train()
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()
                ema_model.eval()
                with torch.no_grad():
                    ema_model(x)
            """,
            kind="source",
        ),
    )


def _unrestored(loop: Reentry) -> Iterator[tuple[ModeSet, str, Step]]:
    """The models a training loop puts in eval and still trains, only in
    eval, at the next iteration's training step: (the first eval() of each
    in the loop, its key, that step)."""
    evals = [e for e in loop.first if isinstance(e, ModeSet) and e.evals]
    # Only models this loop trains in train mode at least once: a teacher
    # put in eval() at the top of every epoch is not a training model.
    trained = {k for e in loop.first if isinstance(e, Step) for k, m in e.trains.items() if m - EVALUATING}
    reported = set()
    for step in loop.again:
        for key, mode in step.trains.items():
            if mode != EVALUATING or key in reported or key not in trained:
                continue
            first = next((e for e in evals if e.key == key), None)
            if first is None:
                continue
            reported.add(key)
            yield first, key, step
