"""Loops in the statement walk (a part of :class:`~bnlint.source.walker.Walker`,
which mixes this in): a loop body walked from the join of the loop's entry
and what one pass leaves, the passes that ask what the first and the next
iteration do (:class:`~bnlint.source.facts.Reentry`), the loops over a
literal tuple of models walked once per model, and the collections of models
-- a list (``nets = [Net(), Net(bn=True)]``) or models held by key
(``self.models["encoder"] = ...``) -- whose loops name their elements."""

from __future__ import annotations

import ast

from bnlint.source import vocabulary as V
from bnlint.source.facts import CallOf, Export, ForeignCall, ModelCall, ModeSet, Reentry, Step
from bnlint.source.flow import EITHER, EVAL, EVALUATING, Flow, Val
from bnlint.source.syntax import DEFINITIONS, dotted, statements

_LOOPS = (ast.For, ast.AsyncFor, ast.While)




def _modes(fact) -> object:
    """The modes a fact saw its models in (for a call of a function: each bound model's)."""
    if isinstance(fact, ForeignCall):
        return fact.call.binding
    return fact.binding if isinstance(fact, CallOf) else fact.mode


def trained_in(loop: ast.stmt, imports) -> frozenset:
    """The names a loop's own statements (not those of loops inside it)
    call outside ``no_grad`` blocks, when they also run a training step
    (``loss.backward()``, ``optimizer.step()``); else nothing."""
    known = getattr(loop, "_bnlint_trained", None)
    if known is not None:
        return known
    called: set[str] = set()
    steps = False
    stack = [(st, False) for st in getattr(loop, "body", [])]
    while stack:
        st, off = stack.pop()
        if isinstance(st, (*_LOOPS, *DEFINITIONS)):
            continue
        if isinstance(st, (ast.With, ast.AsyncWith)):
            off = off or any(V.grad_off(imports, item.context_expr) for item in st.items)
        for part in ast.iter_child_nodes(st):
            if not isinstance(part, (ast.expr, ast.withitem)):
                continue
            for node in ast.walk(part):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                if isinstance(f, ast.Attribute) and (
                    f.attr == "backward" or f.attr == "step" and V.looks_like_optimizer(dotted(f.value) or "")
                ):
                    steps = True
                elif not off and dotted(f):
                    called.add(dotted(f))  # type: ignore[arg-type]
        for block in ("body", "orelse", "finalbody", "handlers"):
            stack.extend((child, off) for child in getattr(st, block, None) or [])
    known = frozenset(called) if steps else frozenset()
    loop._bnlint_trained = known  # type: ignore[attr-defined]
    return known


def _methods_called(loop: ast.stmt) -> set[str]:
    """The names of the methods called anywhere in a loop (``loss.backward()``: backward)."""
    return {n.func.attr for n in ast.walk(loop) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}


def _trains(loop: ast.stmt) -> bool:
    """A loop whose body runs a backward pass and an optimizer step."""
    return {"backward", "step"} <= _methods_called(loop)


_SUBMODULES = frozenset({"modules", "children", "named_modules", "named_children"})


def _held(it: ast.AST) -> ast.AST | None:
    """``x.values()`` / ``x.items()``: ``x`` (what may hold models by key)."""
    if (
        isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in ("values", "items")
        and not it.args and not it.keywords
    ):
        return it.func.value
    return None


class LoopWalk:
    """The loop half of the walker (see the module's docstring)."""

    def _loop(self, s: ast.For | ast.AsyncFor | ast.While, flow: Flow) -> Flow | None:
        outer_params = self.loop_params
        try:
            unrolled = self._unroll(s, flow)
            if unrolled is not False:
                return unrolled
            if isinstance(s, ast.While):
                self.exprs.expr(s.test, flow)
            else:
                self.exprs.expr(s.iter, flow)
                self.assign(s.target, None, flow, s)
                pairs = self.elements(s.target, s.iter, flow)
                for var, key in pairs:  # `for net, opt in zip(nets, opts)`
                    flow.aliases[var] = key
                member = self.submodule_of(s.target, s.iter, flow)
                if member is not None:  # `for name, m in model.named_modules()`: m is a part of model
                    flow.aliases[member[0]] = self.member_names[member[0]] = member[1]
                if pairs and _held(s.iter) is not None and not any(isinstance(n, (*_LOOPS, ast.Break, ast.Continue)) for n in statements(s)) \
                        and not _methods_called(s) & {"backward", "step"}:
                    # a loop that switches the models held by key (`for m in
                    # self.models.values(): m.eval()`) does so for each of them, all
                    # alike: its body, once (the collection has models: the loop is not
                    # skipped). One that trains them stays a loop (training steps are
                    # read per loop), and so do loops over lists of models.
                    out = self.block(s.body, flow)
                    return self.block(s.orelse, out) if s.orelse and out is not None else out
                owner = self._parameters_of(s.iter, flow)
                if owner is not None:
                    var = s.target.elts[-1] if isinstance(s.target, ast.Tuple) and s.target.elts else s.target
                    if isinstance(var, ast.Name):
                        self.loop_params = {**self.loop_params, var.id: (owner, len(self.guards))}
            self.loops.append(s)
            try:
                return self._iterate(s, flow)
            finally:
                self.loops.pop()
        finally:
            self.loop_params = outer_params

    def _iterate(self, s: ast.For | ast.AsyncFor | ast.While, flow: Flow) -> Flow | None:
        # A dry pass finds what the loop body does; the loop head is where
        # the first and every later iteration start. Its answer is kept: a
        # loop nested in loops is reached again in the same state.
        memo = (id(s), flow.signature())
        if memo not in self._dry:
            sink, self.sink = self.sink, None
            try:
                self._dry[memo] = self.body(s, flow.fork())
            finally:
                self.sink = sink
        head = Flow.join(flow, self._dry[memo][0])
        assert head is not None
        mark = len(self.sink) if self.sink is not None else 0
        end, breaks = self.body(s, head.fork())
        if self.sink is not None and not self._probing:
            facts = self.sink[mark:]
            # the first iteration, walked from the state before the loop (the
            # head joins it with where each iteration ends)
            first = self._probe(s, flow.fork()) if head.signature() != flow.signature() else None
            if end is not None:
                self.reentry(s, end, facts, first if first is not None else facts)
            if first is not None:
                self.first_iteration(facts, first)
        # A loop over the batches that trains on them is taken to run at least
        # once (`for x in loader: model.train(); ... optimizer.step()` leaves the
        # model in training mode): zero batches is no training at all
        after = end.fork() if end is not None and _trains(s) else Flow.join(head, end)
        if s.orelse:  # runs when the loop ends without a break
            after = self.block(s.orelse, after)
        for state in breaks:
            after = Flow.join(after, state)
        return after

    def body(self, loop: ast.stmt, flow: Flow) -> tuple[Flow | None, list[Flow]]:
        """One pass of a loop body: the state the next iteration starts from
        (its end joined with every `continue`), and the states at `break`s."""
        self.jumps.append(([], []))
        try:
            end = self.block(loop.body, flow)  # type: ignore[attr-defined]
        finally:
            breaks, continues = self.jumps.pop()
        for state in continues:
            end = Flow.join(end, state)
        return end, breaks

    def _unroll(self, s: ast.stmt, flow: Flow):
        """``for net in (netG, netD): net.eval()``: the body once per model,
        with the loop variable naming it. False when not such a loop."""
        if not (
            isinstance(s, (ast.For, ast.AsyncFor))
            and isinstance(s.target, ast.Name)
            and isinstance(s.iter, (ast.Tuple, ast.List))
            and 0 < len(s.iter.elts) <= 8
            and not any(isinstance(n, _LOOPS) for n in statements(s))
        ):
            return False
        keys = [self.model_key(e, flow) for e in s.iter.elts]
        if None in keys:
            return False
        var = s.target.id
        out: Flow | None = flow
        for key in keys:
            if out is None:
                break
            out.aliases[var] = key  # type: ignore[assignment]
            out = self.block(s.body, out)
        if out is not None:
            out.aliases.pop(var, None)
        return self.block(s.orelse, out) if s.orelse and out is not None else out

    def is_collection(self, key: str | None) -> bool:
        """A list of new models, or an attribute holding models by key."""
        if key is None:
            return False
        cls = self.func.cls
        return key in self.collections or (
            cls is not None and key in self.structure.collection_attrs.get(cls.name, ())
        )

    def _add_member(self, target: ast.Subscript, val: Val | None, flow: Flow) -> None:
        """``models[k] = Net()``: ``models`` holds models by key, in one mode
        (what it held joined with the new one's); anything else stored there
        makes it a table of unknown things."""
        d = dotted(target.value)
        if d is None:
            return
        if val is None or val.key is not None or val.mode is None or val.makes is not None:
            if self.is_collection(d):
                flow.modes[d] = EITHER
            return
        known = d in flow.models
        flow.modes[d] = (flow.mode(d) | val.mode) if known else val.mode
        flow.models.add(d)
        self.collections.add(d)
        self.live[d] = self.live.get(d, False) or val.live

    def elements(self, target: ast.AST, it: ast.AST, flow: Flow) -> list[tuple[str, str]]:
        """The loop variables that name the elements of a list of models (or
        of models held by key), each with that collection's key: ``for net in
        nets``, ``for i, net in enumerate(nets)``, ``for net, opt in zip(nets,
        opts)``, ``for m in self.models.values()``, ``for name, m in
        self.models.items()``."""
        held = _held(it)
        if held is not None:
            var = target if it.func.attr == "values" else (  # type: ignore[attr-defined]
                target.elts[1] if isinstance(target, ast.Tuple) and len(target.elts) == 2 else None
            )
            key = self.key_of(held, flow)
            return [(var.id, key)] if isinstance(var, ast.Name) and self.is_collection(key) else []  # type: ignore[list-item]
        if isinstance(target, ast.Name):
            key = self.key_of(it, flow)
            return [(target.id, key)] if key in self.collections else []  # type: ignore[list-item]
        if not (isinstance(target, ast.Tuple) and isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                and self.structure.imports.qualify(it.func) is None and not it.keywords):
            return []
        if it.func.id == "enumerate" and len(target.elts) == 2 and len(it.args) == 1:
            return self.elements(target.elts[1], it.args[0], flow)
        if it.func.id == "zip" and len(target.elts) == len(it.args):
            return [pair for t, a in zip(target.elts, it.args) for pair in self.elements(t, a, flow)]
        return []

    def submodule_of(self, target: ast.AST, it: ast.AST, flow: Flow) -> tuple[str, str] | None:
        """The loop variable that names each submodule of a model in turn,
        with the model's key: ``for m in model.modules()``, ``for name, m in
        model.named_children()``. A part of the model is in the model's
        mode; switching it switches part of the model (see ``Val.member``)."""
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in _SUBMODULES):
            return None
        var = target
        if it.func.attr.startswith("named_"):
            var = target.elts[1] if isinstance(target, ast.Tuple) and len(target.elts) == 2 else None
        key = self.model_key(it.func.value, flow)
        return (var.id, key) if isinstance(var, ast.Name) and key is not None and key != "self" else None

    def _parameters_of(self, it: ast.AST, flow: Flow) -> str | None:
        if (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Attribute)
            and it.func.attr in ("parameters", "named_parameters")
        ):
            owner = it.func.value
            if isinstance(owner, ast.Name) and self.is_member_name(owner.id, flow):
                return None  # a part of a model (`for m in model.modules()`): not the model's freeze
            key = self.key_of(owner, flow)
            if key is not None and key != "self":
                return key
        return None

    def reentry(self, loop: ast.stmt, end: Flow, facts: list, first: list) -> None:
        """A loop that puts a model in eval and trains: walk its body once
        more from where the *next* iteration starts (the end of this one),
        taking each eval() after which the body sets that model's mode no
        more as run, and record that pass's training steps, with those of the
        first iteration (``first``: its facts), in a
        :class:`~bnlint.source.facts.Reentry`. The pass changes nothing else."""
        evals = [f for f in facts if isinstance(f, ModeSet) and f.evals]
        if not evals or not any(isinstance(f, Step) for f in facts):
            return
        start = end.fork()
        last: dict[str, ModeSet] = {}
        for f in facts:
            if isinstance(f, ModeSet):
                last[f.key] = f
        start.modes.update({k: EVALUATING for k, f in last.items() if f.evals and EVAL in end.mode(k)})
        live = {f.key: self.liveness(f.key) for f in evals}
        probe = self._probe(loop, start)
        self.emit(Reentry(
            loop, self.func, list(facts), [f for f in probe if isinstance(f, Step)], live,
            [f for f in first if isinstance(f, Step)],
        ))

    def first_iteration(self, facts: list, first: list) -> None:
        """The loop head joins the state before the loop with where each
        iteration ends, so a model the body puts in eval is "train or eval"
        at the head, and a forward, an export or a helper call before that
        eval() is not certainly in training mode -- though on the first
        iteration it is (``for f in files: predict(net=net, ...)`` where
        ``predict`` exports, then calls ``net.eval()``). Of the body's pass
        from the state before the loop (``first``, its facts), add each model
        call, export and call of a file's function whose modes differ from
        the joined pass's (``facts``)."""
        kinds = (ModelCall, Export, CallOf, ForeignCall)
        joined = {(id(f.node), type(f)): f for f in facts if isinstance(f, kinds)}
        for f in first:
            twin = joined.get((id(f.node), type(f))) if isinstance(f, kinds) else None
            if twin is not None and _modes(f) != _modes(twin):
                self.emit(f)

    def _probe(self, loop: ast.stmt, start: Flow) -> list:
        """One more pass of a loop's body from ``start``, for what it records
        (the facts are returned, not kept); everything else the walk keeps is
        as it was before the pass. No probe runs inside another: its facts
        would be dropped with the outer one's."""
        probe: list = []
        saved = self.sink, self.trained, set(self.trained_on_purpose), dict(self.live), dict(self.built)
        self.sink, self.trained = probe, set()
        self._probing += 1
        try:
            self.body(loop, start)
        finally:
            self._probing -= 1
            self.sink, self.trained, self.trained_on_purpose, self.live, self.built = saved
        return probe
