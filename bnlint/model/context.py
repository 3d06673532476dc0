"""What a model rule sees: one live model with its train-mode snapshot, its
graph (traced only when a selected rule needs it) and, with example inputs,
the input shape of every module call (only when a rule needs shapes).

Building a context puts the model back in the mode it was in; nothing else is
changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection

import torch.fx as fx
import torch.nn as nn

from bnlint.engine.rule import Rule
from bnlint.findings import Finding, Location
from bnlint.model.graph import ModelGraph
from bnlint.model.shapes import InputSpec, ShapeInfo, propagate_in_eval, set_modes
from bnlint.model.sites import SiteRecorder
from bnlint.model.trace import TraceResult, trace_model


@dataclass(frozen=True)
class ModuleState:
    training: bool
    frozen: bool | None  # all parameters requires_grad=False; None without parameters


def _train_mode_snapshot(model: nn.Module, named: list[tuple[str, nn.Module]]) -> dict[str, ModuleState]:
    """Put the model in training mode the way a training loop does (honouring
    an overridden ``train()``), record every module's state, restore."""
    before = [m.training for _, m in named]
    try:
        model.train()
        snap = {}
        for name, m in named:
            params = [p for p in m._parameters.values() if p is not None]  # parameters(recurse=False), cheaper
            frozen = all(not p.requires_grad for p in params) if params else None
            snap[name] = ModuleState(m.training, frozen)
        return snap
    finally:
        set_modes(named, before)


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
        library = self.graph.library_site(module) if module is not None and primary is not called else None
        return rule.make(
            message,
            path=primary.path if primary else None,
            line=primary.line if primary else None,
            col=primary.col if primary else None,
            model=self.name,
            module=module,
            call_site=Location(call_site.path, call_site.line) if call_site else None,
            built_at=Location(library.path, library.line) if library else None,
            **fields,
        )


def build_context(
    model: nn.Module,
    name: str = "model",
    *,
    sites: SiteRecorder | None = None,
    anchor: Location | None = None,
    inputs: InputSpec | None = None,
    needs: Collection[str] = ("graph", "shapes"),
) -> ModelContext:
    """Snapshot the train-mode state; trace when ``needs`` has ``"graph"``,
    propagate shapes when it has ``"shapes"`` and inputs are known. The model
    is left in the mode it was in."""
    named = list(model.named_modules())
    train_state = _train_mode_snapshot(model, named)
    traced = TraceResult()
    notes: list[str] = []
    shapes = None
    wants_shapes = inputs is not None and "shapes" in needs
    if "graph" in needs or wants_shapes:
        flags = [m.training for _, m in named]
        model.eval()  # trace in eval (`training=self.training` resolves to False), and run shapes in eval
        try:
            if "graph" in needs:
                traced = trace_model(model)
                if not traced.complete:
                    traced = _trace_by_running(model, traced, inputs, notes)
            if wants_shapes:
                shapes = propagate_in_eval(model, inputs, named)
        finally:
            set_modes(named, flags)
    stand_ins = traced.stand_ins or (shapes.stand_ins if shapes is not None else "")
    if stand_ins:
        notes.append(
            f"the forward reads results that depend on the data ({stand_ins}); on meta tensors they were given "
            "stand-ins so the run goes on past them, and shapes after the first of them are not used"
        )
    if traced.ended_early:
        notes.append(
            f"the run stopped after the model's last layer ({traced.ended_early}): the graph ends there, "
            "and every value computed by then counts as an output"
        )
    return ModelContext(name, model, ModelGraph(model, traced, sites), train_state, anchor, shapes, notes)


def _trace_by_running(model: nn.Module, traced: TraceResult, inputs: InputSpec | None,
                      notes: list[str]) -> TraceResult:
    """torch.fx could not trace all of the model: with example inputs
    (declared, else inferred from the first layer), record the graph from a
    run on meta tensors instead. The symbolic, partial graph is kept when the
    forward cannot run on shape-only tensors (it branches on values)."""
    from bnlint.model.runtrace import RunFailed, infer_inputs, run_trace

    spec = inputs if inputs is not None else infer_inputs(model)
    if spec is None:
        return traced
    try:
        ran, _ = run_trace(model, spec)
    except RunFailed as exc:
        for op in traced.opaque:
            op.run_failure = str(exc)
        return _run_pieces(model, traced, exc.calls)
    if inputs is None:
        notes.append(
            f"graph recorded from a run on an input {spec.describe()} {spec.origin} (torch.fx cannot trace "
            f"it: {traced.opaque[0].reason}); for the graph only, not for the batch-size rules"
        )
    return ran


def _run_pieces(model: nn.Module, traced: TraceResult, calls: dict) -> TraceResult:
    """The whole model could not run on meta tensors (a data-dependent op
    further on: ``nonzero``, NMS): each untraceable part that was called
    before the failure is run on its own, with the arguments it got. A part
    recorded that way replaces the symbolic fragments and opaque parts inside
    it."""
    from bnlint.model.runtrace import RunFailed, run_piece

    done: list[str] = []
    fragments = list(traced.fragments)
    for op in sorted(traced.opaque, key=lambda o: o.qualname.count(".") if o.qualname else -1):
        if not op.qualname or any(op.qualname.startswith(p + ".") for p in done):
            continue
        module = model.get_submodule(op.qualname)
        if id(module) not in calls:
            continue
        args = calls[id(module)]
        try:
            piece = run_piece(module, op.qualname, args)
        except RunFailed:
            continue
        done.append(op.qualname)
        fragments = [f for f in fragments if not _inside(f.prefix, op.qualname)]
        fragments.append(piece)
    if not done:
        return traced
    opaque = [o for o in traced.opaque if not any(_inside(o.qualname, p) for p in done)]
    return TraceResult(fragments, opaque, tracer="fx+run")


def _inside(qualname: str, prefix: str) -> bool:
    return qualname == prefix or qualname.startswith(prefix + ".")


def needs_of(rules) -> set[str]:
    """What the selected rules need the analysis to compute."""
    return {need for r in rules for need in r.needs}


__all__ = ["ModelContext", "ModuleState", "build_context", "needs_of"]
