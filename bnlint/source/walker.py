"""The statement walker (mypy's statement checker): a flow-sensitive walk
of one function, started with every model it shares with its callers in
mode ``entry``. It carries a :class:`~bnlint.source.flow.Flow` along each
path -- forked at a branch, joined where paths meet -- and records facts
(:mod:`bnlint.source.facts`) as it goes; expressions are evaluated by
:class:`~bnlint.source.expressions.Expressions`.

Branches join (``model.train() if t else model.eval()`` is "either"); a loop
body is walked from the join of the loop's entry and what one pass of the
body leaves (the state every iteration starts from: modes only ever grow by
one step here); ``return``/``raise`` end a path and ``finally`` runs on the
way out. Besides the flow state, a walk keeps what holds in walk order, not
per path: which models ran outside no_grad so far (they feed the next
training step), which were put in train() on purpose since the last step,
and what each name was last built as."""

from __future__ import annotations

import ast
import functools
from typing import Callable, Sequence

from bnlint.source import vocabulary as V
from bnlint.source.expressions import Expressions
from bnlint.source.facts import CallOf, Export, Freeze, ModeSet, ModelCall, Step, Thaw
from bnlint.source.flow import EITHER, EVALUATING, FROM_CALLER, Flow, Mode, Summary, Val
from bnlint.source.loops import LoopWalk, trained_in
from bnlint.source.structure import FileStructure, Func
from bnlint.source.syntax import DEFINITIONS, const, dotted, name_words

# What code that runs a model in train mode on purpose says; what evaluation says.
_ON_PURPOSE_WORDS = {
    "bn", "batchnorm", "recalibrate", "recalibration", "calibrate", "calibration", "stats", "statistics",
    "swa", "precise", "mc", "monte", "carlo", "mcdropout", "uncertainty", "bayesian", "stochastic",
}
_EVALUATION_WORDS = {
    "val", "valid", "validate", "validation", "test", "testing", "eval", "evaluate", "evaluation", "accuracy",
}
_RECALIBRATION = {"reset_running_stats", "running_mean", "running_var", "momentum"}


def _keys(fact) -> list[str]:
    """The keys a fact is about."""
    if isinstance(fact, Step):
        return list(fact.trains)
    if isinstance(fact, CallOf):
        return [ck for ck, _ in fact.binding.values() if ck]
    key = getattr(fact, "key", None)
    return [key] if key else []


def first_bindings(stmts: Sequence[ast.stmt]) -> dict[str, int]:
    """The first line at which statements bind each name, in their own
    scope (nested functions and classes have theirs)."""
    first: dict[str, int] = {}

    def note(name: str, line: int) -> None:
        if line < first.get(name, 1 << 30):
            first[name] = line

    stack: list[ast.AST] = list(stmts)
    while stack:
        node = stack.pop()
        line = getattr(node, "lineno", 0)
        if isinstance(node, (*DEFINITIONS, ast.Lambda)):
            if not isinstance(node, ast.Lambda):
                note(node.name, line)  # type: ignore[attr-defined]
            continue  # a scope of its own
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            note(node.id, line)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                note((alias.asname or alias.name).split(".", 1)[0], line)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                note(name, 0)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            note(node.name, line)
        stack.extend(ast.iter_child_nodes(node))
    return first


def _iterated(loop: ast.stmt) -> ast.AST | None:
    it = getattr(loop, "iter", None)
    while isinstance(it, ast.Call) and it.args:  # enumerate(val_loader), tqdm(test_loader)
        it = it.args[0]
    return it


def _passed_back(stmt: ast.AST, name: str) -> bool:
    """``name = f(..., name, ...)`` (or ``name, other = f(name, other)``,
    ``self.model = prepare(self.model)``): ``name`` is handed to the call whose
    result it is bound to."""
    value = getattr(stmt, "value", None)
    if not isinstance(value, ast.Call):
        return False
    args = [*value.args, *(k.value for k in value.keywords)]
    return any(dotted(a) == name for a in args)  # `model`, or `self.model`


def _recalibrates(func: Func) -> bool:
    return any(
        isinstance(n, ast.Attribute) and n.attr in _RECALIBRATION for n in ast.walk(func.node)
    ) if not func.is_module else False


def guard(test: ast.expr, holds: bool) -> tuple:
    """A branch condition in a form two conditions can be compared in:
    ``("eq", "args.weights", "freeze", True)`` for ``args.weights ==
    "freeze"`` holding, else ``("test", <the test>, holds)``."""
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, holds = test.operand, not holds
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.NotEq)):
        left, right = test.left, test.comparators[0]
        if isinstance(left, ast.Constant):
            left, right = right, left
        subject = dotted(left)
        if subject is not None and isinstance(right, ast.Constant):
            return ("eq", subject, right.value, holds == isinstance(test.ops[0], ast.Eq))
    # any other test: by what it names (`if args.freeze:`), else only itself
    name = dotted(test)
    if name is None and isinstance(test, ast.Call) and not test.args and not test.keywords:
        name = (dotted(test.func) or "?") + "()"
    return ("test", name if name is not None else (test.lineno, test.col_offset), holds)


def exclusive(a: tuple, b: tuple) -> bool:
    """Whether no path is under both lists of conditions: one tests what the
    other tests with the opposite outcome, or one needs ``x == 1`` where the
    other needs ``x == 2``."""
    for ga in a:
        for gb in b:
            if ga[0] != gb[0] or ga[1] != gb[1]:
                continue
            if ga[0] == "test" and ga[2] != gb[2]:
                return True
            if ga[0] == "eq":
                if ga[2] == gb[2] and ga[3] != gb[3]:
                    return True
                if ga[2] != gb[2] and ga[3] and gb[3]:
                    return True
    return False


class Walker(LoopWalk):
    def __init__(
        self, structure: FileStructure, summary: Callable[[Func], Summary | None], func: Func,
        foreign: Callable[[FileStructure, Func], Summary | None] | None = None,
    ):
        self.structure = structure
        self.summary = summary  # a callee's summary (None: unknown, or recursion)
        # the summary of a function of another module of the checked tree
        self.foreign = foreign or (lambda structure, func: None)
        self.func = func
        self.exprs = Expressions(self)
        self.main: list = []  # the function's facts
        self.sink: list | None = self.main  # where facts go now: None in a dry pass
        # lexical context
        self.grad_off: list[str] = [f"@{func.grad_off}"] if func.grad_off else []  # enclosing no_grad
        self.shadowed: frozenset[str] = frozenset()  # comprehension variables in scope
        # `for p in x.parameters()`: p -> (x, how many branch conditions enclose the
        # loop: those inside it pick parameters, not paths)
        self.loop_params: dict[str, tuple[str, int]] = {}
        # the conditions of the enclosing branches, each (what it tests, whether
        # it holds here): facts carry them, so that a rule can tell that two
        # facts under contradictory conditions are on no common path
        self.guards: list[tuple] = []
        self.loops: list[ast.stmt] = []  # the enclosing loops, innermost last
        self.jumps: list[tuple[list[Flow], list[Flow]]] = []  # per enclosing loop: (breaks, continues)
        # every `return` reached: (on the real pass?, state, value); a
        # `finally` rewrites the states of the returns it encloses
        self.exits: list[tuple[bool, Flow, Val | None]] = []
        self.yields: list[Flow] = []  # the states at its `yield`s (a context manager's: inside the block)
        # `was = model.training`: was -> (the model, its mode there), for `model.train(was)`
        self.saved_modes: dict[str, tuple[str, Mode]] = {}
        self.member_names: dict[str, str] = {}  # a loop variable naming each submodule of a model -> the model
        self.entering: ast.expr | None = None  # the context expression of the `with` being entered
        self.on_exit: dict[int, dict[str, Mode]] = {}  # a context manager's call -> the modes it leaves on exit
        self._dry: dict[tuple, tuple[Flow | None, list[Flow]]] = {}  # (loop, state) -> one pass of its body
        self._probing = 0  # inside a reentry or first-iteration pass (see _probe)
        # in walk order
        self.trained: set[str] = set()  # models run outside no_grad so far (feeding a step)
        self.trained_on_purpose: set[str] = set()  # explicit .train(), no training step since
        self.live: dict[str, bool] = {}  # key -> may hold BatchNorm/Dropout (any assignment)
        self.built: dict[str, str] = {}  # key -> what it was last built as
        self._built_under: dict[str, tuple] = {}  # key -> the branch conditions it was built under
        self.copies: dict[str, str] = {}  # `teacher = copy.deepcopy(student)`: teacher -> student
        self.collections: set[str] = set()  # names of lists of new models (`nets = [Net(), Net()]`)
        # parameters bound to another object (`model = copy.deepcopy(model)`), each
        # with the number of facts recorded before: later facts are not the caller's
        self.rebound: dict[str, int] = {}
        # a name assigned a model class -> what calling it builds; until the
        # name holds a model on the path (`model = model(n_classes)`)
        self.makers: dict[str, Val] = {}
        # a name assigned an object of a plain class of the file -> the class's name
        self.instances: dict[str, str] = {}
        self._first_lines: dict[str, int] = {}  # name -> the first line binding it (see _bound_before)
        self._chain_start: int | None = None  # walking an `elif`: the line of its `if`

    def start(self) -> Flow:
        models = {
            p for p in self.func.params
            if V.looks_like_model_name(p) or self.func.annotations.get(p, "") in self.structure.model_type_names
            or p in self.func.passed
        }
        return Flow(self.default, models=models)

    # -- keys and models -------------------------------------------------------------
    def default(self, key: str) -> Mode:
        return FROM_CALLER if (self.func.is_nonlocal(key) and not self.func.is_module) else EITHER

    def canon(self, key: str, flow: Flow) -> str:
        """The key of the object an expression names: aliases followed (also
        of a prefix: ``ddp.module`` with ``ddp = DDP(model)``), and
        ``DDP(model).module`` is ``model`` -- they share one mode."""
        aliases = flow.aliases
        for _ in range(8):
            before = key
            parts = key.split(".")
            for i in range(len(parts), 0, -1):
                target = aliases.get(".".join(parts[:i]) if i > 1 else parts[0])
                if target is not None:
                    key = ".".join([target, *parts[i:]])
                    break
            while key.endswith(".module") and self.is_model(key[: -len(".module")], flow):
                key = key[: -len(".module")]
            if key == before:
                break
        return key

    def is_model(self, key: str, flow: Flow) -> bool:
        if key in ("self", "cls") or key.startswith("super") or key.split(".", 1)[0] in self.shadowed:
            return False
        if key in flow.models or key in self.structure.module_keys:
            return True
        if key.split(".", 1)[0] in self.structure.imports.table:
            return False  # `models.resnet18`, `torch.nn`: modules, not models
        if key in self.structure.classes or key in self.structure.functions:
            return False  # `class generator(nn.Module)` of a GAN: a class, named like a model
        if key.startswith("self.") and self.func.cls is not None:
            if key in self.structure.model_attrs.get(self.func.cls.name, ()):
                return True
        return V.looks_like_model_name(key)

    def key_of(self, expr: ast.AST, flow: Flow) -> str | None:
        d = dotted(expr)
        return self.canon(d, flow) if d is not None else None

    def is_member_name(self, name: str, flow: Flow) -> bool:
        """``m`` of ``for m in model.modules()``, still naming a part of that model."""
        return name in self.member_names and self.member_names[name] == flow.aliases.get(name)

    def model_key(self, e: ast.AST, flow: Flow) -> str | None:
        key = self.key_of(e, flow)
        return key if key is not None and self.is_model(key, flow) else None

    def liveness(self, key: str) -> bool | None:
        if key in self.live:
            return self.live[key]
        cls = self.func.cls
        if cls is not None and key.startswith("self.") and key.count(".") == 1 and not cls.managed:
            live = self.structure.attribute_live(cls, key.split(".", 1)[1])
            if live is False:
                return False  # every assignment of the attribute in the class builds inert layers
        return None if self.func.is_nonlocal(key) and not self.func.is_module else True

    def in_step(self, call: ast.Call) -> bool:
        """Whether ``call`` is one of a training step's: the innermost loop
        around it (or, outside loops, this function) runs a backward or an
        optimizer step of its own and makes the call with gradients on."""
        where = self.loops[-1] if self.loops else self.func.node
        name = dotted(call.func)
        return name is not None and name in trained_in(where, self.structure.imports)  # type: ignore[arg-type]

    def gradients_off(self, flow: Flow) -> str | None:
        """Why gradients are off here: a `with torch.no_grad():` around, a
        decorator, or `torch.set_grad_enabled(False)` earlier on every path."""
        if self.grad_off:
            return self.grad_off[-1]
        return flow.grad_off()

    def deliberate(self, key: str, name: str | None) -> bool:
        """A forward in training mode on purpose, not an inference: part of
        a training step (the innermost loop around it -- or, outside loops,
        its function -- runs a backward or an optimizer step of its own, and
        runs the same model -- ``name``, as the call spells it -- with
        gradients: label guessing, a DQN's target values), or
        after an explicit ``train()`` with no step since in code that says it
        recalibrates BatchNorm (resets running statistics, changes momentum,
        ``update_bn``) or samples with dropout on (``mc_dropout``) -- and does
        not say it evaluates (a validation/test loader, an evaluation name)."""
        if self.loops and name in trained_in(self.loops[-1], self.structure.imports):
            return True
        if self.loops and self.copies.get(name) in trained_in(self.loops[-1], self.structure.imports):
            return True  # a copy of the model the loop trains: a mean teacher, a momentum encoder (BYOL, MoCo)
        if not self.loops and not self.func.is_module and name in trained_in(self.func.node, self.structure.imports):
            return True  # a one-step function (a DQN's optimize_model(): the target network's forward, then the step)
        if key not in self.trained_on_purpose:
            return False
        funcs = []
        f: Func | None = self.func
        while f is not None:
            funcs.append(f)
            f = f.parent
        words = set().union(*(name_words(g.name) for g in funcs))
        loaders = set().union(*(name_words(dotted(_iterated(loop)) or "") for loop in self.loops))
        if loaders & _EVALUATION_WORDS or words & _EVALUATION_WORDS:
            return False
        return bool(words & _ON_PURPOSE_WORDS) or any(_recalibrates(g) for g in funcs)

    def emit(self, fact) -> None:
        if self.sink is not None:
            self.sink.append(fact)

    def freeze(self, node: ast.AST, key: str, via: str | None = None, depth: int | None = None) -> None:
        """A freeze of ``key``, under the enclosing branch conditions (the
        first ``depth`` of them: ``if name not in ("fc.weight", ...)`` inside
        a loop over the parameters chooses parameters, not a path)."""
        guards = tuple(self.guards if depth is None else self.guards[:depth])
        self.emit(Freeze(node, self.func, key, self.built.get(key.split(".", 1)[0]), via, guards))

    def forget_build(self, key: str) -> None:
        """``key`` is bound to something not known to be built as anything.
        What it was built as is forgotten when every path that built it
        rebinds it (the same branch, or an enclosing one) -- not when only
        another branch does (``if resume: model = torch.load(path)`` after
        ``model = Net()``, or in the ``else`` of the build): on some path the
        model is still what it was built as."""
        under = self._built_under.get(key, ())
        if key in self.built and tuple(self.guards) == under[:len(self.guards)]:
            del self.built[key]

    # -- bindings --------------------------------------------------------------------
    def _instance(self, name: str, val: Val, flow: Flow) -> None:
        """``trainer = Trainer(model)``: an object whose methods the walk
        follows, its attributes the models its constructor stored
        (``trainer.model``, the caller's ``model`` itself when it has a key)."""
        self.rebind(name, flow)
        for alias in [a for a in flow.aliases if a.startswith(name + ".")]:
            del flow.aliases[alias]
        self.instances[name] = val.instance  # type: ignore[assignment]
        for attr, held in val.holds:
            key = f"{name}.{attr}"
            if held is None or held.instance is not None:
                continue
            if held.key is not None and self.is_model(held.key, flow):
                flow.aliases[key] = held.key
                flow.models.add(key)
            elif held.key is None and held.mode is not None:
                flow.modes[key] = held.mode
                flow.models.add(key)
                self.live[key] = held.live

    def rebind(self, name: str, flow: Flow) -> None:
        """``name`` is about to name something else: names that aliased the
        old object keep its mode, and what was known of its attributes goes."""
        prefix = name + "."
        for alias, target in list(flow.aliases.items()):
            if target == name or target.startswith(prefix):
                flow.modes[alias] = flow.mode(target)
                del flow.aliases[alias]
        for k in [k for k in flow.modes if k.startswith(prefix)]:
            del flow.modes[k]
        flow.aliases.pop(name, None)
        flow.ambiguous.pop(name, None)
        self.collections.discard(name)

    def assign(self, target: ast.AST, val: Val | None, flow: Flow, stmt: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            parts = val.parts if val is not None and val.parts is not None else ()
            if len(parts) != len(target.elts) or any(isinstance(e, ast.Starred) for e in target.elts):
                parts = (None,) * len(target.elts)
            for elt, part in zip(target.elts, parts):  # `model, classifier = set_model(opt)`
                self.assign(elt, part, flow, stmt)
            return
        if isinstance(target, ast.Subscript):  # `self.models["encoder"] = Encoder()`: one more model held by key
            self._add_member(target, val, flow)
            return
        if isinstance(target, ast.Attribute) and target.attr == "requires_grad":
            value = const(stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None)
            # `p.requires_grad = False` (or True again) inside `for p in x.parameters()`
            var = dotted(target.value)
            owner, depth = self.loop_params.get(var, (None, 0)) if var else (None, 0)
            if owner is not None and value is False:
                self.freeze(stmt, owner, depth=depth)
            elif owner is not None and value is True:
                self.emit(Thaw(stmt, self.func, owner))
        d = dotted(target)
        if d is None:
            return
        self.saved_modes.pop(d, None)  # no longer the saved `model.training` ...
        self.member_names.pop(d, None)  # ... nor the variable of a loop over a model's submodules
        unknown = val is None or (val.key is None and val.mode is None and val.makes is None)
        if d in self.func.params and d not in self.rebound and not (
            val is not None and val.key is not None and (val.key == d or val.key.startswith(d + "."))
            or unknown and d in flow.models and _passed_back(stmt, d)
        ):  # `model = model.to(device)`, `model = accelerator.prepare(model)`, `model = model.backbone`:
            # the caller's object (or a part of it) still
            self.rebound[d] = len(self.main)
        copied = dotted(V.deep_copied(getattr(stmt, "value", None), self.structure.imports))
        if copied:
            self.copies[d] = copied
        else:
            self.copies.pop(d, None)
        if val is not None and val.makes is not None:  # `model = _get_model_instance(name)`: a class
            self.makers[d] = val.makes
            return
        self.instances.pop(d, None)
        if val is not None and val.instance is not None and "." not in d:
            self._instance(d, val, flow)
            return
        if val is not None and val.key is not None and self.is_model(val.key, flow):
            if d == val.key:  # model = model.to(device)
                return
            if val.key.startswith(d + "."):  # model = model.backbone: another object
                mode, live = flow.mode(val.key), self.liveness(val.key)
                self.rebind(d, flow)
                flow.modes[d] = mode
                flow.models.add(d)
                self.live[d] = True if live is None else live
                return
            self.rebind(d, flow)
            flow.aliases[d] = val.key
            flow.models.add(d)
            return
        self.rebind(d, flow)
        if val is not None and val.mode is not None:
            flow.modes[d] = val.mode
            flow.models.add(d)
            if val.many:
                self.collections.add(d)
            self.live[d] = self.live.get(d, False) or val.live
            if val.arch:
                self.built[d] = val.arch
                self._built_under[d] = tuple(self.guards)
            else:
                self.forget_build(d)
        else:  # something we cannot follow
            if d in flow.modes or self.func.is_nonlocal(d):
                flow.modes[d] = EITHER
            self.live[d] = True
            if d in flow.models and (_passed_back(stmt, d) or self._unpickled(stmt)):
                # `model, opt = amp.initialize(model, opt)`, `model = accelerator.prepare(model)`:
                # the same model handed back (wrapped, patched), in a mode not known from here;
                # `model = torch.load(f)`: a pickled model in place of the model, in the mode it was saved in
                flow.modes[d] = EITHER
                if self._unpickled(stmt):
                    self.forget_build(d)
                return
            flow.models.discard(d)
            self.forget_build(d)

    def _unpickled(self, stmt: ast.AST) -> bool:
        """``x = torch.load(f)`` (or ``torch.jit.load``): what was pickled."""
        value = stmt.value if isinstance(stmt, ast.Assign) else None
        return isinstance(value, ast.Call) and self.structure.imports.qualify(value.func) in V.UNPICKLERS

    # -- statements ------------------------------------------------------------------
    def block(self, stmts: Sequence[ast.stmt], flow: Flow | None) -> Flow | None:
        for stmt in stmts:
            if flow is None:
                return None
            flow = self._BY_TYPE.get(type(stmt), Walker._other)(self, stmt, flow)
        return flow

    def _other(self, s: ast.stmt, flow: Flow) -> Flow:
        # Expr, Assert, Delete, Global, Pass, Import ...
        for child in ast.iter_child_nodes(s):
            if isinstance(child, ast.expr):
                self.exprs.expr(child, flow)
        return flow

    def _definition(self, s: ast.stmt, flow: Flow) -> Flow:
        return flow

    def _return(self, s: ast.Return, flow: Flow) -> None:
        if isinstance(s.value, ast.Tuple) and not any(isinstance(e, ast.Starred) for e in s.value.elts):
            parts = tuple(self.exprs.expr(e, flow) for e in s.value.elts)  # `return model, classifier`
            val = Val(parts=parts) if any(p is not None for p in parts) else None
        else:
            val = self.exprs.expr(s.value, flow)
        self.exits.append((self.sink is self.main, flow, val))
        return None

    def _raise(self, s: ast.Raise, flow: Flow) -> None:
        self.exprs.expr(s.exc, flow)
        return None

    def _assign(self, s: ast.Assign, flow: Flow) -> Flow:
        val = self.exprs.expr(s.value, flow)
        for t in s.targets:
            self.assign(t, val, flow, s)
        if isinstance(s.value, ast.Attribute) and s.value.attr == "training" and len(s.targets) == 1 \
                and isinstance(s.targets[0], ast.Name):
            key = self.model_key(s.value.value, flow)  # `training_mode = model.training`, to restore
            if key is not None:
                self.saved_modes[s.targets[0].id] = (key, flow.mode(key))
        return flow

    def _ann_assign(self, s: ast.AnnAssign, flow: Flow) -> Flow:
        self.assign(s.target, self.exprs.expr(s.value, flow), flow, s)
        return flow

    def _aug_assign(self, s: ast.AugAssign, flow: Flow) -> Flow:
        self.exprs.expr(s.value, flow)
        self.assign(s.target, None, flow, s)
        return flow

    def _expr(self, s: ast.Expr, flow: Flow) -> Flow | None:
        call = s.value
        if isinstance(call, (ast.Yield, ast.YieldFrom)):
            self._other(s, flow)
            if self.sink is self.main:
                self.yields.append(flow.fork())
            return flow
        if isinstance(call, ast.Call) and call.args:
            q = self.structure.imports.qualify(call.func)
            if q in V.SET_GRAD:  # torch.set_grad_enabled(False) as a statement
                flow.set_grad(f"{q}(False)" if const(call.args[0]) is False else None)
                return flow
        if isinstance(call, ast.Call) and self._never_returns(call.func):
            self._other(s, flow)
            return None  # like a raise: `else: print("unknown net"); sys.exit()` in a factory
        return self._other(s, flow)

    def _never_returns(self, func: ast.expr) -> bool:
        """``sys.exit()``, ``os._exit()``, ``os.abort()``; ``exit()`` and
        ``quit()`` unless the file binds those names itself."""
        q = self.structure.imports.qualify(func)
        if q is not None:
            return q in V.NO_RETURN
        return isinstance(func, ast.Name) and func.id in ("exit", "quit") and func.id not in self.structure.functions

    def _if(self, s: ast.If, flow: Flow) -> Flow | None:
        self.exprs.expr(s.test, flow)
        outs: list[Flow | None] = []
        start = self._chain_start or s.lineno  # an `elif` is part of the `if` it follows
        for block, holds in ((s.body, True), (s.orelse, False)):
            # `if training and duplicates:` holding: each of its terms holds too
            terms = s.test.values if holds and isinstance(s.test, ast.BoolOp) and isinstance(s.test.op, ast.And) else []
            pushed = [guard(s.test, holds), *(guard(t, True) for t in terms)]
            self.guards.extend(pushed)
            elif_ = not holds and len(block) == 1 and isinstance(block[0], ast.If)
            self._chain_start = start if elif_ else None
            try:
                outs.append(self.block(block, flow.fork()))
            finally:
                del self.guards[len(self.guards) - len(pushed):]
                self._chain_start = None
        self._first_bound(start, flow, outs, [s.body, s.orelse])
        merged: Flow | None = None
        for out in outs:
            merged = out if merged is None else Flow.join(merged, out)
        return merged

    def _first_bound(self, line: int, before: Flow, outs: list[Flow | None], blocks: list[list[ast.stmt]]) -> None:
        """``if a: cnn = ResNet18() / elif b: cnn = WideResNet()`` with no
        ``else``: a local name first bound in this statement, on some of its
        paths, is unbound on the others (whose blocks never bind it) --
        nothing there can run it. Those paths take the model's binding, so
        that the join keeps it (where it is used, it is one of the models
        bound)."""
        known = before.models | before.modes.keys() | before.aliases.keys()
        bound = [first_bindings(block) for block in blocks]
        for out in outs:
            if out is None:
                continue
            for key in out.models - known:
                if "." in key or key in self.func.params or self._bound_before(key, line):
                    continue
                for other, binds in zip(outs, bound):
                    if other is None or other is out or key in binds or key in other.models or key in other.modes \
                            or key in other.aliases:
                        continue
                    if key in out.aliases:
                        other.aliases[key] = out.aliases[key]
                    else:
                        other.modes[key] = out.mode(key)
                    other.models.add(key)

    def _bound_before(self, name: str, line: int) -> bool:
        """Whether the function's own code binds ``name`` before ``line``
        (an assignment, a loop or ``with`` target, an import, a definition, a
        ``global`` statement...), not counting nested functions' scopes."""
        first = self._first_lines.get(name)
        if first is None:
            self._first_lines = first_bindings(self.func.body)
            first = self._first_lines.get(name, 1 << 30)
        return first < line

    def _match(self, s: ast.AST, flow: Flow) -> Flow | None:
        self.exprs.expr(s.subject, flow)  # type: ignore[attr-defined]
        return self.branches(flow, [case.body for case in s.cases] + [[]])  # type: ignore[attr-defined]  # no case may match

    def _jump(self, s: ast.stmt, flow: Flow) -> Flow | None:
        if not self.jumps:
            return flow
        self.jumps[-1][0 if isinstance(s, ast.Break) else 1].append(flow)
        return None

    def branches(self, flow: Flow, blocks: list[list[ast.stmt]]) -> Flow | None:
        """Walk alternative blocks from one state and join where they meet."""
        merged: Flow | None = None
        for block in blocks:
            out = self.block(block, flow.fork())
            merged = out if merged is None else Flow.join(merged, out)
        return merged

    def _with(self, s: ast.With | ast.AsyncWith, flow: Flow) -> Flow | None:
        pushed = 0
        handed: dict[str, Mode] = {}  # models handed to a context manager we cannot see
        for item in s.items:
            ce = item.context_expr
            self.entering = ce
            try:
                self.exprs.expr(ce, flow)
            finally:
                self.entering = None
            reason = V.grad_off(self.structure.imports, ce)
            if reason:
                self.grad_off.append(reason)
                pushed += 1
            elif (
                isinstance(ce, ast.Call)
                and self.structure.callee(ce.func, self.func) is None
                and name_words((dotted(ce.func) or "").rsplit(".", 1)[-1]) & V.MODE_CONTEXT_WORDS
            ):
                # `with inference_context(model):` may switch modes (detectron2)
                for arg in (*ce.args, *(k.value for k in ce.keywords)):
                    key = self.model_key(arg, flow)
                    if key is not None:
                        handed[key] = flow.mode(key)
                        flow.modes[key] = EITHER
            if item.optional_vars is not None:
                self.assign(item.optional_vars, None, flow, s)
        mark = len(self.exits)
        try:
            out = self.block(s.body, flow)
        finally:
            del self.grad_off[len(self.grad_off) - pushed:]
        # a context manager of the file's: the modes it leaves after its yield, also on
        # the returns from inside the block (they leave through its exit)
        exiting = [(item.context_expr, self.on_exit.pop(id(item.context_expr), {})) for item in s.items]
        leaving = {key: mode for _, modes in exiting for key, mode in modes.items()}
        for i in range(mark, len(self.exits) if leaving else mark):
            real, state, val = self.exits[i]
            state = state.fork()
            state.modes.update(leaving)
            self.exits[i] = (real, state, val)
        if out is not None:
            out.modes.update(handed)  # such context managers restore the mode on exit
            for ce, modes in exiting:
                for key, mode in modes.items():
                    if out.mode(key) != mode:
                        self.exprs.set_mode(ce, key, mode, out)
        return out

    def _try(self, s: ast.stmt, flow: Flow) -> Flow | None:
        mark = len(self.exits)
        # a handler may start after any statement of the body
        anywhere = flow.fork()
        body: Flow | None = flow.fork()
        for st in s.body:  # type: ignore[attr-defined]
            if body is None:
                break
            body = self.block((st,), body)
            anywhere = Flow.join(anywhere, body)  # type: ignore[assignment]
        for _, state, _ in self.exits[mark:]:
            anywhere = Flow.join(anywhere, state)  # type: ignore[assignment]
        out = self.block(s.orelse, body) if body is not None else None  # type: ignore[attr-defined]
        for h in s.handlers:  # type: ignore[attr-defined]
            out = Flow.join(out, self.block(h.body, anywhere.fork()))
        if s.finalbody:  # type: ignore[attr-defined]
            # the returns inside run the finally block on their way out
            sink, self.sink = self.sink, None
            try:
                for i in range(mark, len(self.exits)):
                    real, state, val = self.exits[i]
                    after = self.block(s.finalbody, state.fork())  # type: ignore[attr-defined]
                    self.exits[i] = (real, after if after is not None else state, val)
            finally:
                self.sink = sink
            end = self.block(s.finalbody, (out or anywhere).fork())  # type: ignore[attr-defined]
            out = end if out is not None else None  # after a return in `try`, still gone
        return out

    # -- the whole function ------------------------------------------------------------
    def run(self) -> Summary:
        """Walk the function; what it does to the models it shares with its callers."""
        func = self.func
        end = self.block(func.body, self.start())
        returns = [(state, val) for real, state, val in self.exits if real]
        out: Flow | None = None
        for state in [state for state, _ in returns] + ([end] if end is not None else []):
            out = Flow.join(out, state)
        keep = {
            k: v for k, v in (out.modes.items() if out is not None else ())
            if func.is_nonlocal(k) and self.is_model(k, out) and k.split(".", 1)[0] not in self.rebound  # type: ignore[arg-type]
        }
        trains: dict[str, Mode] = {}
        evals: set[str] = set()
        uses: set[str] = set()
        for i, fact in enumerate(self.main):
            if self.rebound and any(  # about the object a parameter was rebound to, not the caller's
                self.rebound.get(k.split(".", 1)[0], i + 1) <= i for k in _keys(fact)
            ):
                continue
            if isinstance(fact, Step):
                for k, m in fact.trains.items():
                    if func.is_nonlocal(k):
                        trains[k] = trains.get(k, frozenset()) | m
                uses.update(fact.trains)
            elif isinstance(fact, ModeSet):
                uses.add(fact.key)
                if fact.mode == EVALUATING and func.is_nonlocal(fact.key):
                    evals.add(fact.key)
            elif isinstance(fact, (ModelCall, Export)):
                uses.add(fact.key)
            elif isinstance(fact, CallOf):
                uses.update(ck for ck, _ in fact.binding.values() if ck)
        uses = {k for k in uses if func.is_nonlocal(k)}
        freezes = {
            f.key for i, f in enumerate(self.main) if isinstance(f, Freeze)
            and f.key.split(".", 1)[0] in func.params and self.rebound.get(f.key.split(".", 1)[0], i + 1) > i
        }
        steps = [f for f in self.main if isinstance(f, Step)]
        train_if: dict[str, bool] = {}
        if steps:  # conditions on a parameter that every step is under
            common = set(steps[0].guards).intersection(*(s.guards for s in steps[1:]))
            train_if = {g[1]: g[2] for g in common if g[0] == "test" and g[1] in func.params}
        vals = {val for _, val in returns}
        ret = vals.pop() if len(vals) == 1 else None
        if len(vals) > 1 and all(v is not None and v.key is None and v.mode is not None for v in vals):
            # a factory returning one of several new models (`if name == "vgg": return VGG()` ...)
            ret = Val(mode=frozenset().union(*(v.mode for v in vals)), live=any(v.live for v in vals))
        if ret is not None and ret.parts is not None:
            ret = Val(parts=tuple(self._returned(p, out) for p in ret.parts))
        runs = {k for k in self.trained if func.is_nonlocal(k) and k.split(".", 1)[0] not in self.rebound}
        at_yield = None
        if func.generator and self.yields:
            inside = functools.reduce(Flow.join, self.yields)
            at_yield = {k: inside.mode(k) for k in {*inside.modes, *keep}  # a key it never set there: the caller's
                        if func.is_nonlocal(k) and self.is_model(k, inside) and k.split(".", 1)[0] not in self.rebound}
        return Summary(
            None if out is None else keep, trains, evals, uses, self._returned(ret, out), freezes, train_if, runs,
            at_yield,
        )

    def _returned(self, val: Val | None, out: Flow | None) -> Val | None:
        """A value the function returns, as its callers see it: a model of
        its own (a local) becomes a new model in its mode at the exit."""
        if val is not None and val.key is not None and not self.func.is_nonlocal(val.key):
            mode = out.mode(val.key) if out is not None else self.default(val.key)
            return Val(mode=mode, arch=self.built.get(val.key), live=self.liveness(val.key) is not False)
        return val

    _BY_TYPE: dict[type, Callable] = {
        **dict.fromkeys(DEFINITIONS, _definition),
        ast.Return: _return,
        ast.Raise: _raise,
        ast.Assign: _assign,
        ast.AnnAssign: _ann_assign,
        ast.AugAssign: _aug_assign,
        ast.Expr: _expr,
        ast.If: _if,
        ast.For: LoopWalk._loop,
        ast.AsyncFor: LoopWalk._loop,
        ast.While: LoopWalk._loop,
        ast.With: _with,
        ast.AsyncWith: _with,
        ast.Try: _try,
        ast.Break: _jump,
        ast.Continue: _jump,
        **({ast.TryStar: _try} if hasattr(ast, "TryStar") else {}),  # Python 3.11+
        **({ast.Match: _match} if hasattr(ast, "Match") else {}),
    }
