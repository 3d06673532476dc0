"""The facts a walk records, in walk order, and the rules read: where a
model runs and in which modes, where a mode is set, exported, frozen, where
training steps are, which functions of the file call which, and what a
training loop's next iteration starts from."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from bnlint.source.flow import Mode
from bnlint.source.structure import Func


@dataclass(eq=False)
class _AtModel:
    """Something done to one model (``key``) at one node, in the modes it may be in there."""

    node: ast.AST
    func: Func
    key: str
    mode: Mode


@dataclass(eq=False)
class ModelCall(_AtModel):
    """``model(x)`` (or ``model.forward(x)``)."""

    grad_off: str | None  # "torch.no_grad()" etc. when gradients are off there
    live: bool | None = True  # may hold BatchNorm/Dropout; None: as the callers' model
    # the model was put in train() explicitly, with no training step since:
    # a forward in training mode on purpose (MC dropout, BN recalibration)
    deliberate: bool = False


@dataclass(eq=False)
class ModeSet(_AtModel):
    """``model.eval()``, ``model.train(flag)``, or a helper of the file that sets the mode (to ``mode``)."""

    via: str | None = None  # the helper that set it, for a call of one
    grad_off: str | None = None  # set while gradients are off
    # puts the model in eval whenever it sets anything: `.eval()`, or a
    # helper that calls it (perhaps in a loop or a branch) and never train()
    evals: bool = False
    guards: tuple = ()  # the branch conditions it is under (see Walker.guards)


@dataclass(eq=False)
class Export(_AtModel):
    """``torch.jit.trace(model, ...)``, ``torch.export.export(model, ...)`` ..."""

    api: str
    live: bool | None = True


@dataclass(eq=False)
class Step:
    """A training step, with the modes of the models it trains."""

    node: ast.AST
    func: Func
    trains: dict[str, Mode]
    guards: tuple = ()  # the branch conditions it is under (see Walker.guards)


@dataclass(eq=False)
class Freeze:
    """``x.requires_grad_(False)`` or ``for p in x.parameters(): p.requires_grad = False``."""

    node: ast.AST
    func: Func
    key: str
    arch: str | None = None  # what the frozen model was built as, where known here
    via: str | None = None  # the helper that froze it, for a call of one
    guards: tuple = ()  # the branch conditions it is under (see Walker.guards)


@dataclass(eq=False)
class Thaw:
    """``x.requires_grad_(True)`` or ``for p in x.parameters(): p.requires_grad = True``:
    a freeze undone (a GAN freezes its discriminator for the generator's step only)."""

    node: ast.AST
    func: Func
    key: str


@dataclass(eq=False)
class CallOf:
    """A call of another function of the file, with what it binds."""

    node: ast.Call
    caller: Func
    callee: Func
    binding: dict[str, tuple[str, Mode]]  # callee key -> (caller key, caller's mode)
    grad_off: str | None
    live: dict[str, bool | None] = field(default_factory=dict)  # callee key -> the caller's liveness
    archs: dict[str, str] = field(default_factory=dict)  # callee key -> what the caller built
    # made by the statements of a training step: the innermost loop around the
    # call (or, outside loops, the caller) also runs a backward or an optimizer step
    in_step: bool = False

    def bound(self, key: str) -> tuple[str, str] | None:
        """How the callee's ``key`` is bound here: (the binding's callee key,
        the caller's key for ``key`` -- "" for a new model passed in), or
        None. A parameter binds its attributes too (``model.backbone``)."""
        root, dot, rest = key.partition(".")
        if root in self.binding:
            ck = self.binding[root][0]
            return root, (ck + dot + rest if ck else "")
        if key in self.binding:
            return key, self.binding[key][0]
        return None


@dataclass(eq=False)
class ForeignCall:
    """A call of a function of another module of the checked tree
    (``evaluate(loader, model)`` with ``from engine import evaluate``): what
    it binds, for that module's questions about its callers
    (:meth:`~bnlint.source.interproc.SourceAnalysis.train_path`). No part of
    this file's own call graph."""

    call: CallOf
    path: str  # the file the callee is defined in

    @property
    def node(self) -> ast.Call:
        return self.call.node


@dataclass(eq=False)
class Reentry:
    """A loop that puts a model in eval and trains: its body walked once
    more from where the next iteration starts -- the end of this one, with
    each eval() after which the body sets that model's mode no more taken as
    run (``if epoch % 5 == 0: model.eval()`` is in force whenever it ran)."""

    node: ast.AST  # the loop
    func: Func
    first: list  # the facts of one pass of the body
    again: list[Step]  # the training steps of the next pass
    live: dict[str, bool | None]  # liveness of the models the body puts in eval
    entry: list[Step] = field(default_factory=list)  # the training steps of the first iteration
