"""Analyze one live model in-process: snapshot its train-mode state, trace it,
build the graph and run the model rules. This is also the Python API:

    >>> from bnlint.analyze import check_model
    >>> findings = check_model(my_model)            # doctest: +SKIP

The model is put back in the mode it was in; nothing else is changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch.fx as fx
import torch.nn as nn

from bnlint.findings import Finding, Location, Severity
from bnlint.graph import ModelGraph
from bnlint.paths import display_path
from bnlint.rule import Rule
from bnlint.shapes import InputSpec, ShapeInfo, propagate
from bnlint.sites import SiteRecorder
from bnlint.trace import trace_model


@dataclass(frozen=True)
class ModuleState:
    training: bool
    frozen: bool | None  # all parameters requires_grad=False; None without parameters


def _train_mode_snapshot(model: nn.Module) -> dict[str, ModuleState]:
    """Put the model in training mode the way a training loop does (honouring
    an overridden ``train()``), record every module's state, restore."""
    before = {id(m): m.training for m in model.modules()}
    try:
        model.train()
        snap = {}
        for name, m in model.named_modules():
            params = list(m.parameters(recurse=False))
            frozen = all(not p.requires_grad for p in params) if params else None
            snap[name] = ModuleState(m.training, frozen)
        return snap
    finally:
        for m in model.modules():
            m.training = before.get(id(m), m.training)


@dataclass
class ModelContext:
    """What a model rule sees."""

    name: str
    model: nn.Module
    graph: ModelGraph
    train_state: dict[str, ModuleState]
    anchor: Location | None = None  # where the model is defined
    shapes: ShapeInfo | None = None  # None: no example inputs were declared
    notes: list[str] = field(default_factory=list)

    @property
    def batch_size(self) -> int | None:
        """The training batch size, when example inputs are known."""
        return self.shapes.spec.batch_size if self.shapes and not self.shapes.error else None

    def input_shape(self, qualname: str) -> tuple[int, ...] | None:
        """The input shape of a module's first call, when shapes are known."""
        if self.shapes is None or self.shapes.error:
            return None
        return self.shapes.input_shape(qualname)

    def report(
        self,
        rule: Rule | type[Rule],
        message: str,
        *,
        module: str | None = None,
        node: fx.Node | None = None,
        at_call: bool = False,
        **fields: Any,
    ) -> Finding:
        """A finding located at ``module``'s construction line (or, with
        ``at_call``, at ``node``'s forward line), falling back to the other,
        then to where the model is defined."""
        built = self.graph.site(module) if module is not None else None
        called = self.graph.forward_site(node) if node is not None else None
        primary = (called or built) if at_call else (built or called)
        primary = primary or self.anchor
        call_site = called if called != primary else None
        return rule.make(
            message,
            path=display_path(primary.path) if primary else None,
            line=primary.line if primary else None,
            col=primary.col if primary else None,
            model=self.name,
            module=module,
            call_site=(
                Location(display_path(call_site.path), call_site.line) if call_site else None
            ),
            **fields,
        )


def build_context(
    model: nn.Module,
    name: str = "model",
    *,
    sites: SiteRecorder | None = None,
    anchor: Location | None = None,
    inputs: InputSpec | None = None,
) -> ModelContext:
    """Snapshot the train-mode state, trace, and (with example inputs)
    propagate shapes; the model is left in the mode it was in."""
    train_state = _train_mode_snapshot(model)
    was_training = {id(m): m.training for m in model.modules()}
    model.eval()  # trace in eval: `training=self.training` resolves to False
    try:
        traced = trace_model(model)
    finally:
        for m in model.modules():
            m.training = was_training[id(m)]
    shapes = propagate(model, inputs) if inputs is not None else None
    return ModelContext(name, model, ModelGraph(model, traced, sites), train_state, anchor, shapes)


class RuleError(Exception):
    """A rule crashed: a bnlint bug, reported as an internal error."""

    def __init__(self, rule: type[Rule], model: str, exc: BaseException):
        super().__init__(f"rule {rule.code} crashed on model {model!r}: {type(exc).__name__}: {exc}")
        self.rule, self.model, self.exc = rule, model, exc


def run_rules(ctx: ModelContext, rules: Iterable[type[Rule]]) -> tuple[list[Finding], list[RuleError]]:
    findings: list[Finding] = []
    errors: list[RuleError] = []
    for cls in rules:
        if not cls.analyzes_models():
            continue
        try:
            findings.extend(cls().check_model(ctx))
        except Exception as exc:  # noqa: BLE001 -- one broken rule must not hide the others
            errors.append(RuleError(cls, ctx.name, exc))
    return findings, errors


def check_model(
    model: nn.Module,
    name: str | None = None,
    *,
    input_shapes: Sequence[Sequence[int]] | None = None,
    dtypes: Sequence[str] | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
) -> list[Finding]:
    """Run the model rules on a live ``nn.Module`` and return sorted findings.
    ``input_shapes`` (one shape per forward argument, the first dimension the
    training batch size) enables the shape rules (BN3xx).

    Construction lines are unknown for a model built before bnlint was
    imported, so findings then carry the module path but no file:line. Raises
    :class:`RuleError` if a rule crashes."""
    from bnlint.engine import finalize
    from bnlint.registry import select_rules

    rules = select_rules(select, ignore)
    inputs = None
    if input_shapes:
        shapes = tuple(tuple(int(d) for d in s) for s in input_shapes)
        inputs = InputSpec(shapes, tuple(dtypes or ["float32"] * len(shapes)), "check_model()")
    ctx = build_context(model, name or type(model).__name__, inputs=inputs)
    findings, errors = run_rules(ctx, rules)
    if errors:
        raise errors[0]
    return finalize(findings, [r.code for r in rules], honour_suppressions=False)


__all__ = ["ModelContext", "ModuleState", "build_context", "check_model", "run_rules", "Severity"]
