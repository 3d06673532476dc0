"""The expression side of the walk (mypy's expression checker): what an
expression evaluates to as far as models go (:class:`~bnlint.source.flow.Val`),
and what calls do -- ``model(x)``, ``.eval()``/``.train()``, calls that
return the same module (``.to()``, ``DDP(...)``, ``torch.compile``),
constructors and builders (:mod:`~bnlint.source.builds`), exports, training
steps, freezes, and calls of the file's own functions, whose summaries apply
at the call site."""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from bnlint.source import vocabulary as V
from bnlint.source.builds import Builds, local_table, new_model, passed
from bnlint.source.facts import CallOf, Export, ForeignCall, ModeSet, ModelCall, Step, Thaw
from bnlint.source.flow import ENTRY, EITHER, EVAL, EVALUATING, TRAIN, TRAINING, Flow, Mode, Summary, Val, substitute
from bnlint.source.structure import Func
from bnlint.source.syntax import argument, assignments, const, dotted

if TYPE_CHECKING:  # pragma: no cover
    from bnlint.source.walker import Walker

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _passed_constant(e: ast.Call, callee: Func, param: str):
    """The literal a call passes for a parameter (``...`` when none is known)."""
    return const(passed(e, callee, param))


def _passed_name(e: ast.Call, callee: Func, param: str) -> str | None:
    """The plain name a call passes for a parameter, if any."""
    arg = passed(e, callee, param)
    return arg.id if isinstance(arg, ast.Name) else None


class Expressions(Builds):
    """Evaluates the expressions of one walk, in the flow state given;
    records what it finds through the walker."""

    def __init__(self, walk: "Walker"):
        self.walk = walk
        self.structure = walk.structure
        self.imports = walk.structure.imports

    def expr(self, e: ast.AST | None, flow: Flow) -> Val | None:
        if e is None:
            return None
        return self._BY_TYPE.get(type(e), Expressions._children)(self, e, flow)

    # -- expressions that are not calls ----------------------------------------------
    def _children(self, e: ast.AST, flow: Flow) -> None:
        for child in ast.iter_child_nodes(e):
            if isinstance(child, (ast.expr, ast.comprehension, ast.keyword)):
                self.expr(child, flow)
        return None

    def _name(self, e: ast.Name | ast.Attribute, flow: Flow) -> Val | None:
        key = self.walk.key_of(e, flow)
        if key is not None and self.walk.is_model(key, flow):
            if isinstance(e, ast.Name) and self.walk.is_member_name(e.id, flow):
                return Val(key=key, member=True)  # `m` of `for m in model.modules()`: a part of the model
            return Val(key=key)
        if isinstance(e, ast.Attribute):
            self.expr(e.value, flow)
        return None

    def _if_exp(self, e: ast.IfExp, flow: Flow) -> Val | None:
        self.expr(e.test, flow)
        a, b = flow.fork(), flow.fork()
        va, vb = self.expr(e.body, a), self.expr(e.orelse, b)
        flow.become(Flow.join(a, b))  # type: ignore[arg-type]
        return va if va == vb else None

    def _bool_op(self, e: ast.BoolOp, flow: Flow) -> None:
        self.expr(e.values[0], flow)
        for v in e.values[1:]:  # each further operand may not run
            branch = flow.fork()
            self.expr(v, branch)
            flow.become(Flow.join(flow, branch))  # type: ignore[arg-type]
        return None

    def _lambda(self, e: ast.Lambda, flow: Flow) -> None:
        return None

    def _comprehension(self, e: ast.AST, flow: Flow) -> Val | None:
        """``[m(x) for m in ensemble]``: ``m`` is the comprehension's own; but
        over a list of models (``[net.eval() for net in nets]``) it names
        them. ``[Net() for _ in range(k)]`` is a list of new models."""
        walk = self.walk
        generators = e.generators  # type: ignore[attr-defined]
        elements = [pair for g in generators for pair in walk.elements(g.target, g.iter, flow)]
        named = {var for var, _ in elements}
        names = {n.id for g in generators for n in ast.walk(g.target) if isinstance(n, ast.Name)} - named
        outer, saved = walk.shadowed, {var: flow.aliases.get(var) for var in named}
        walk.shadowed = outer | names
        try:
            for g in generators:
                self.expr(g.iter, flow)
                for var, key in elements:
                    flow.aliases[var] = key
                for cond in g.ifs:
                    self.expr(cond, flow)
            vals = [self.expr(child, flow) for child in (getattr(e, "key", None), getattr(e, "elt", None),
                                                           getattr(e, "value", None)) if child is not None]
        finally:
            walk.shadowed = outer
            for var, before in saved.items():
                if before is None:
                    flow.aliases.pop(var, None)
                else:
                    flow.aliases[var] = before
        new = new_model(vals[-1]) if isinstance(e, ast.ListComp) and vals else None
        return replace(new, many=True) if new is not None else None

    def _sequence(self, e: ast.List | ast.Tuple, flow: Flow) -> Val | None:
        """``[Net(), Net(bn=True)]``: a list of new models, when every element is
        one (each element's value kept, for ``a, b = Net(), Net()``)."""
        vals = tuple(self.expr(elt, flow) for elt in e.elts)
        if not vals or any(isinstance(elt, ast.Starred) for elt in e.elts):
            return None
        if any(new_model(v) is None for v in vals):
            return Val(parts=vals) if any(v is not None for v in vals) else None
        archs = {v.arch for v in vals}  # type: ignore[union-attr]
        return Val(mode=TRAINING, arch=archs.pop() if len(archs) == 1 else None,
                   live=any(v.live for v in vals), many=True, parts=vals)  # type: ignore[union-attr]

    def _dict(self, e: ast.Dict, flow: Flow) -> Val | None:
        """``{"G": Generator(), "D": Discriminator()}``: models held by key,
        when every value is a new model."""
        for k in e.keys:
            self.expr(k, flow)
        vals = [self.expr(v, flow) for v in e.values]
        if not vals or None in e.keys or any(new_model(v) is None for v in vals):
            return None
        return Val(mode=TRAINING, live=any(v.live for v in vals), many=True)  # type: ignore[union-attr]

    def _bin_op(self, e: ast.AST, flow: Flow) -> None:
        operands = []  # a + b + c + ...: a chain, walked without recursion
        while isinstance(e, ast.BinOp):
            operands.append(e.right)
            e = e.left
        operands.append(e)
        for operand in reversed(operands):
            self.expr(operand, flow)
        return None

    def _subscript(self, e: ast.Subscript, flow: Flow) -> Val | None:
        """``{"fcn8s": fcn8s, "unet": unet, ...}[name]``: a registry of model
        classes or builder functions (of the checked tree, of torchvision),
        written there or assigned once to a module-level name
        (``__model_factory[name]``) or to a local name of the function that
        changes it no further, picked from by name -- what calling the
        pick builds is one of them (in train mode; may hold BatchNorm or
        Dropout when one of them may). An element of a collection of models
        (``self.models["encoder"]``, ``nets[0]``) is that collection's."""
        held = self.walk.key_of(e.value, flow) if dotted(e.value) is not None else None
        if self.walk.is_collection(held):
            self.expr(e.slice, flow)
            return Val(key=held, member=True)
        self._children(e, flow)
        table = e.value
        func = self.walk.func
        module = None  # the module of the checked tree the table was imported from
        if isinstance(table, ast.Name) and table.id not in flow.modes and not func.is_module and (
            table.id in func.locals and table.id not in func.params
        ):  # `models = {...}; return models[name](**kwargs)`: a table of the function's own
            table = local_table(func.node, table.id)
        elif isinstance(table, ast.Name) and table.id not in flow.modes and (
            func.is_module or (table.id not in func.locals and table.id not in func.params)
        ):  # the module's own name, not a local or a parameter of the same name
            qual = self.imports.qualify(table)
            if qual is None:
                table = self.structure.module_value(table.id)
            else:  # `from models import model_dict`: a table of models/__init__.py
                module, _, name = qual.rpartition(".")
                other = self.structure.module_structure(module) if module else None
                table = other.module_value(name) if other is not None else None
        if not isinstance(table, ast.Dict) or not table.values or None in table.keys:
            return None
        built = []
        for v in table.values:
            if module is not None:  # a name of that module, as this file reaches it
                fresh = self._made_by_name(f"{module}.{v.id}") if isinstance(v, ast.Name) else None
            else:
                fresh = self._made_by(v) if isinstance(v, (ast.Name, ast.Attribute)) else None
            if fresh is None:
                return None
            built.append(fresh)
        archs = {b.arch for b in built}
        return Val(makes=Val(
            mode=frozenset().union(*(b.mode for b in built)),
            arch=archs.pop() if len(archs) == 1 else self.structure.any_of(archs),
            live=any(b.live for b in built),
        ))

    def _named(self, e: ast.NamedExpr, flow: Flow) -> Val | None:
        val = self.expr(e.value, flow)
        self.walk.assign(e.target, val, flow, e)
        return val

    # -- calls -----------------------------------------------------------------------
    def _call(self, e: ast.Call, flow: Flow) -> Val | None:
        walk = self.walk
        f = e.func
        recv: Val | None = None
        if isinstance(f, ast.Name) and f.id in walk.makers and f.id not in flow.modes and f.id not in flow.aliases:
            self._children(e, flow)  # `model = model(n_classes=...)`: the class picked earlier, built
            return walk.makers[f.id]
        if isinstance(f, ast.Attribute):
            recv = self.expr(f.value, flow)
        elif not isinstance(f, ast.Name):
            built = self.dynamic_build(f)
            if built is not None:  # getattr(models, name)(), models.__dict__[arch]()
                self._children(e, flow)
                return built
            made = self.expr(f, flow)  # `Net()(x)`, `model.eval()(x)`, `{"unet": UNet}[name](...)`
            if made is not None and made.makes is not None:
                self._children(e, flow)
                return made.makes
            if made is not None and made.key is not None:  # `self.models["encoder"](x)`, `model.eval()(x)`
                for a in e.args:
                    self.expr(a, flow)
                self.model_call(e, made.key, flow, walk.gradients_off(flow))
                return None
            if made is not None:
                for a in e.args:
                    self.expr(a, flow)
                key = made.key or self.structure.source_of(f)
                mode = flow.mode(made.key) if made.key else made.mode
                if mode is not None:
                    live = walk.liveness(made.key) if made.key else made.live
                    walk.emit(ModelCall(e, walk.func, key, mode, walk.gradients_off(flow), live))
                return None
        args = [self.expr(a, flow) for a in e.args]
        kwargs = {kw.arg: self.expr(kw.value, flow) for kw in e.keywords}
        qual = self.imports.qualify(f)
        if qual is None and isinstance(f, ast.Name) and f.id in self.structure.classes:
            qual = f.id
        attr = f.attr if isinstance(f, ast.Attribute) else None
        grad_off = walk.gradients_off(flow)
        plain = self.structure.plain_class(qual) if qual else None
        if plain is not None:  # `trainer = Trainer(model, ...)`
            return self._instance(e, qual, plain, args, kwargs)  # type: ignore[arg-type]
        # `trainer.validate(loader)`: one of its methods; `evaluator(net, loader)`: its __call__
        obj, name = (f.value, f.attr) if isinstance(f, ast.Attribute) else (f, "__call__")
        if isinstance(obj, ast.Name) and obj.id in walk.instances and obj.id not in flow.aliases:
            owner, cls = self.structure.plain_class(walk.instances[obj.id]) or (None, None)
            method = cls.method(name) if cls is not None else None
            if method is not None and owner is self.structure:
                return self.call_function(e, method, args, kwargs, flow, grad_off, receiver=obj.id)
            if method is not None:
                return self.call_function(e, method, args, kwargs, flow, grad_off, walk.foreign(owner, method),
                                          foreign_path=owner.path, receiver=obj.id)

        if recv is not None and attr is not None:  # model.eval() / model.train(...) / model.to(...) ...
            done, val = self._method(e, attr, recv, flow, grad_off)
            if done:
                return val
        if isinstance(f, (ast.Name, ast.Attribute)) and attr not in ("eval", "train"):  # model(x)
            key = walk.key_of(f, flow)
            if (
                key is not None and walk.is_model(key, flow) and self.structure.callee(f, walk.func) is None
                and not (attr is not None and not e.args and not e.keywords)
            ):  # a submodule runs on an input: `m.print_network()` is one of the model's methods
                self.model_call(e, key, flow, grad_off or self._volatile_input(e))
                return None
        # training steps
        if attr == "backward" or qual == "torch.autograd.backward":
            self.step(e, flow)
            return None
        if attr == "step" and isinstance(f, ast.Attribute) and V.looks_like_optimizer(dotted(f.value) or ""):
            self.step(e, flow)
            return None
        if qual is not None:
            if qual in V.EXPORTS:
                self._export(e, qual, args, kwargs, flow)
                return None
            if V.is_wrapper(qual) and args:
                return args[0]
            if V.deep_copied(e, self.imports) is not None:
                return self._copy_of(args[0], flow) if args[0] is not None else None
            if qual == "copy.copy" and args and len(e.args) == 1:
                return args[0]  # a shallow copy shares the submodules: their modes are the original's
            fresh = self.structure.fresh(qual, e)
            if fresh is not None and fresh.mode == TRAINING:
                fresh = self._holding(fresh, qual, e, args, kwargs, flow)
            if fresh is not None:
                # timm.create_model("resnet50"), torch.hub.load(repo, "resnet50")
                pos = V.ARCH_ARGUMENT.get(qual)
                if pos is not None and len(e.args) > pos and isinstance(const(e.args[pos]), str):
                    fresh = Val(mode=fresh.mode, arch=f"{qual}({e.args[pos].value!r})")  # type: ignore[attr-defined]
                return fresh
        if attr == "from_pretrained" and recv is None:
            owner_qual = self.imports.qualify(f)
            if owner_qual and V.is_pretrained_loader(owner_qual):
                return Val(mode=EVALUATING, arch=owner_qual)
        callee = self.structure.callee(f, walk.func)
        if callee is not None:  # a call of another function of this file
            val = self.call_function(e, callee, args, kwargs, flow, grad_off)
            return val if val is not None else self._picked_through(e, callee)
        if qual is not None:  # a function of another module of the checked tree
            found = self.structure.foreign(qual)
            func = None
            if found is not None and found[1] in found[0].functions:
                other, name = found
                func = other.functions[name]
            elif isinstance(f, ast.Attribute):  # `ModelBuilder.build_encoder()`, the class imported
                owner = self.structure.foreign_class(qual.rpartition(".")[0])
                if owner is not None:
                    other = owner[0]
                    func = other.callee(ast.Attribute(ast.Name(owner[1]), f.attr), walk.func)
            if func is not None:
                val = self.call_function(
                    e, func, args, kwargs, flow, grad_off, walk.foreign(other, func), foreign_path=other.path,
                )
                return val if val is not None else self._picked_through(e, func)
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and recv is None and qual is None:
            return self._picked_by_method(e, f)
        return None

    def _instance(self, e: ast.Call, qual: str, plain, args: list, kwargs: dict) -> Val:
        """An object of a plain class, with what its constructor stores of
        what this call passes (``self.model = model``) and the models it
        builds itself, in the mode its ``__init__`` leaves them
        (``self.model = Net()``: in train mode)."""
        owner, cls = plain
        holds = []
        starred = next((i for i, a in enumerate(e.args) if isinstance(a, ast.Starred)), len(e.args))
        for attr, pos, param in cls.stored_parameters():
            val = args[pos] if pos < starred else None
            holds.append((attr, kwargs.get(param, val)))
        init = cls.method("__init__")
        if init is not None:
            summary = self.walk.summary(init) if owner is self.structure else self.walk.foreign(owner, init)
            stored = {attr for attr, _ in holds}
            for k, mode in ((summary.exit or {}).items() if summary is not None else ()):
                attr = k[len("self."):] if k.startswith("self.") and k.count(".") == 1 else None
                if attr is not None and attr not in stored and mode and ENTRY not in mode:
                    holds.append((attr, Val(mode=mode, live=owner.attribute_live(cls, attr) is not False)))
        return Val(instance=qual, holds=tuple(holds))

    def _volatile_input(self, e: ast.Call) -> str | None:
        """``G(z)`` with ``z = Variable(noise, volatile=True)``: before torch
        0.4, volatile inputs were how a forward ran without gradients (what
        ``torch.no_grad()`` is now). A name counts by its last assignment
        before the call in the function, or -- a global read in a function --
        by its last assignment in the module's top-level code."""
        for arg in e.args:
            if self._is_volatile(arg):
                return _VOLATILE
            if not isinstance(arg, ast.Name):
                continue
            func = self.walk.func
            if not func.is_module and arg.id in func.locals:
                found = _last_assignment(ast.walk(func.node), arg.id, e.lineno)
            else:
                before = e.lineno if func.is_module else None
                found = _last_assignment(self.structure.tree.body, arg.id, before)
            if found is not None and self._is_volatile(found):
                return _VOLATILE
        return None

    def _is_volatile(self, value: ast.AST) -> bool:
        return (
            isinstance(value, ast.Call)
            and self.imports.qualify(value.func) == "torch.autograd.Variable"
            and any(k.arg == "volatile" and const(k.value) is True for k in value.keywords)
        )

    def _method(self, e: ast.Call, attr: str, recv: Val, flow: Flow, grad_off: str | None) -> tuple[bool, Val | None]:
        """A method called on a value: (whether it was one of a module's, its value)."""
        key = recv.key
        switched = _switched(e, attr)
        if recv.member and key and attr in ("eval", "train"):
            # one of the models held (`self.models["pose"].eval()`): the others keep
            # theirs, so the collection may be in either mode now
            flow.modes[key] = flow.mode(key) | (switched or EVALUATING)
            return True, recv
        if attr == "eval" and switched and key:
            return True, self.set_mode(e, key, EVALUATING, flow)
        if attr == "eval" and switched and recv.mode is not None:  # `Wrap(inception_v3().eval())`
            return True, replace(recv, mode=EVALUATING)
        if attr == "train" and key:
            mode = switched
            saved = self.walk.saved_modes.get(e.args[0].id) if len(e.args) == 1 and isinstance(e.args[0], ast.Name) else None
            if saved is not None and saved[0] == key:  # `model.train(training_mode)`: the mode it had
                mode = saved[1]
            out = self.set_mode(e, key, mode, flow)  # type: ignore[arg-type]
            if mode == TRAINING:
                self.walk.trained_on_purpose.add(key)
            return True, out
        if attr == "requires_grad_" and key and not recv.member:
            arg = argument(e, 0, "requires_grad")
            if const(arg) is False:
                self.walk.freeze(e, key)
            elif arg is None or const(arg) is True:
                self.walk.emit(Thaw(e, self.walk.func, key))
            return True, recv
        if attr in V.SELF_RETURNING:
            return True, recv
        if attr == "forward" and key:
            self.model_call(e, key, flow, grad_off)
            return True, None
        if key and self._method_freezes(e, key, attr):
            return True, None
        return False, None

    def _method_freezes(self, e: ast.Call, key: str, attr: str) -> bool:
        """``encoder.fine_tune(False)`` where the model's class (of the
        checked tree) freezes a part of itself in that method -- ``for p in
        self.resnet.parameters(): p.requires_grad = False`` or
        ``self.resnet.requires_grad_(False)`` -- is that freeze, here. The
        method is read, not walked: models' methods are not analyzed for modes."""
        arch = self.walk.built.get(key.split(".", 1)[0])
        if arch is None:
            return False
        found = self.structure.arch_class(arch)
        if found is None:
            return False
        other, name = found
        method = next((n for n in other.classes[name].node.body
                       if isinstance(n, ast.FunctionDef) and n.name == attr), None)
        parts = _frozen_parts(method) if method is not None else []
        for part in parts:
            self.walk.freeze(e, f"{key}.{part}" if part else key, via=f"{name}.{attr}")
        return bool(parts)

    def _export(self, e: ast.Call, qual: str, args: list, kwargs: dict, flow: Flow) -> None:
        walk = self.walk
        name = next((k for k in V.EXPORTED if k in kwargs), None)
        node = argument(e, 0, name)  # type: ignore[arg-type]
        val = args[0] if e.args else kwargs.get(name)
        if val is None and isinstance(node, ast.Attribute):  # `torch.jit.trace(model.layer1, x)`: a part of a model
            val = self._part(node, flow)
        legacy_onnx = qual == "torch.onnx.export" and any(
            k.arg == "dynamo" and const(k.value) is False for k in e.keywords
        )
        if val is None or node is None or legacy_onnx:
            return
        mode = flow.mode(val.key) if val.key else val.mode
        if mode is not None:
            walk.emit(Export(
                e, walk.func, val.key or self.structure.source_of(node), mode, qual,
                walk.liveness(val.key) if val.key else val.live,
            ))

    def _part(self, node: ast.Attribute, flow: Flow) -> Val | None:
        """``model.layer1`` of a model built as a class of the checked tree
        whose ``self.layer1`` may hold BatchNorm or Dropout (every assignment
        of it read): that part, in the model's mode. A part of a library's
        model is not known to hold any (``resnet18().fc`` is a Linear)."""
        walk = self.walk
        d = dotted(node)
        if d is None or d.count(".") < 1:
            return None
        root, attr = d.split(".")[:2]
        key = walk.key_of(ast.Name(root), flow) or root
        arch = walk.built.get(key)
        found = self.structure.arch_class(arch) if arch and walk.is_model(key, flow) else None
        if found is None or found[0].attribute_live(found[0].classes[found[1]], attr) is not True:
            return None
        return Val(key=walk.canon(d, flow))

    def set_mode(
        self, node: ast.AST, key: str, mode: Mode, flow: Flow, via: str | None = None, evals: bool = False,
    ) -> Val:
        walk = self.walk
        flow.modes[key] = mode
        walk.trained_on_purpose.discard(key)
        guards = tuple(walk.guards)
        evals = evals or mode == EVALUATING
        for target in flow.ambiguous.get(key, ()):  # it may be any of them: a weak update
            flow.modes[target] = flow.mode(target) | mode
            # on the path where `key` is `target` (`test_model = ema if use_ema
            # else model`), the switch is target's: recorded as such, in the
            # joined mode, so that what follows that path can be asked about
            walk.emit(ModeSet(node, walk.func, target, flow.modes[target], via, walk.gradients_off(flow), evals, guards))
        flow.models.add(key)
        # a submodule's mode changes with its parent's, and vice versa for
        # what we track: `model.eval()` makes `model.backbone` eval too
        prefix = key + "."
        for k in [k for k in flow.modes if k.startswith(prefix)]:
            flow.modes[k] = mode
        walk.emit(ModeSet(node, walk.func, key, mode, via, walk.gradients_off(flow), evals, guards))
        return Val(key=key)

    def model_call(self, e: ast.Call, key: str, flow: Flow, grad_off: str | None) -> None:
        walk = self.walk
        walk.emit(ModelCall(
            e, walk.func, key, flow.mode(key), grad_off, walk.liveness(key), walk.deliberate(key, dotted(e.func)),
        ))
        if grad_off is None and walk.sink is not None:
            walk.trained.add(key)

    def step(self, e: ast.AST, flow: Flow, trains: dict[str, Mode] | None = None, guards: tuple = ()) -> None:
        walk = self.walk
        walk.trained_on_purpose.clear()
        if walk.sink is None:
            return
        if trains is None:
            trains = {k: flow.mode(k) for k in walk.trained}
        walk.emit(Step(e, walk.func, trains, (*walk.guards, *guards)))

    # -- calls of the file's own functions ---------------------------------------------
    def call_function(
        self, e: ast.Call, callee: Func, args: list[Val | None], kwargs: dict[str | None, Val | None],
        flow: Flow, grad_off: str | None, foreign: Summary | None = None, foreign_path: str | None = None,
        receiver: str | None = None,
    ) -> Val | None:
        """Bind what the call passes (models as arguments, and the globals and
        ``self`` attributes the callee uses -- for a method called on an
        object, ``receiver``, its ``self.model`` is the caller's
        ``receiver.model``), record the call, and apply the callee's summary:
        its training steps, the modes it leaves, its freezes, what it
        returns. A function of another module (``foreign``: its summary) is
        bound by its parameters only and is no call of this file's call
        graph."""
        walk = self.walk
        summary = walk.summary(callee) if foreign is None else foreign
        call = CallOf(e, walk.func, callee, {}, grad_off, in_step=walk.in_step(e))
        if foreign is None:
            self._bind(call, e, args, kwargs, flow, summary.uses if summary is not None else (), receiver)
            walk.emit(call)
        else:  # by its parameters, and for a method of an object, the object's models
            self._bind(call, e, args, kwargs, flow, summary.uses if receiver and summary else (), receiver)
            call.binding = {
                k: v for k, v in call.binding.items() if k in callee.params or receiver and k.startswith("self.")
            }
            if call.binding and foreign_path is not None:
                walk.emit(ForeignCall(call, foreign_path))
        if summary is None:
            return None

        def caller_key(k: str) -> str | None:
            bound = call.bound(k)
            return bound[1] if bound and bound[1] else None

        for k in summary.freezes:  # `freeze_layers(net.backbone)`
            ck = caller_key(k)
            if ck is not None:
                walk.freeze(e, ck, via=callee.qualname)
        if grad_off is None and walk.sink is not None:  # `loss = compute_loss(model, batch)`: it ran the model
            for k in summary.runs:
                ck = caller_key(k)
                if ck is not None:
                    walk.trained.add(ck)

        if summary.trains and not any(
            (val := _passed_constant(e, callee, p)) is not ... and bool(val) != holds
            for p, holds in summary.train_if.items()
        ):  # `run_epoch(model, loader, None)` runs no step of `if optimizer: optimizer.step()`
            trains = {}
            for k, m in summary.trains.items():
                ck = caller_key(k)
                if ck is not None:
                    trains[ck] = substitute(m, flow.mode(ck))
            # a condition handed on (`self._step(x, y, training=training)`): the caller's steps are under it too
            self.step(e, flow, trains, tuple(
                ("test", passed, holds) for p, holds in summary.train_if.items()
                if (passed := _passed_name(e, callee, p)) is not None and passed in walk.func.params
            ))
        if summary.exit is None:
            return None
        for k, m in summary.exit.items():
            ck = caller_key(k)
            if ck is None:
                continue
            if callee.generator:
                # `with evaluating(model):` -- eval() before the yield, train()
                # after: the block runs in the modes at the yield, and the
                # modes on exit hold after it (see Walker._with); called any
                # other way, the mode is unknown from here
                inside = summary.at_yield.get(k) if summary.at_yield is not None and walk.entering is e else None
                if inside is None:
                    self.set_mode(e, ck, EITHER, flow, via=callee.qualname)
                    continue
                before = flow.mode(ck)
                walk.on_exit.setdefault(id(e), {})[ck] = substitute(m, before)
                entered = substitute(inside, before)
                if entered != before:
                    self.set_mode(e, ck, entered, flow, via=callee.qualname,
                                  evals=EVAL in inside and TRAIN not in inside)
                continue
            new = substitute(m, flow.mode(ck))
            if new != flow.mode(ck) or k in summary.evals:
                self.set_mode(e, ck, new, flow, via=callee.qualname, evals=EVAL in m and TRAIN not in m)
        def returned(ret: Val | None) -> Val | None:
            if ret is not None and ret.key is not None:
                ck = caller_key(ret.key)
                return Val(key=ck) if ck else None
            return ret

        ret = summary.returns
        if ret is not None and ret.parts is not None:
            return Val(parts=tuple(returned(p) for p in ret.parts))
        return returned(ret)

    def _bind(self, call: CallOf, e: ast.Call, args: list, kwargs: dict, flow: Flow, uses,
              receiver: str | None = None) -> None:
        walk = self.walk
        callee = call.callee
        params = callee.params

        def bind(param: str, val: Val) -> None:
            if val.instance is not None:
                return  # an object that holds models is none
            if val.key:
                call.binding[param] = (val.key, flow.mode(val.key))
                call.live[param] = walk.liveness(val.key)
                arch = walk.built.get(val.key.split(".", 1)[0])  # `net.layer1` is part of what `net` was built as
                if arch is not None:
                    call.archs[param] = arch
            else:
                call.binding[param] = ("", val.mode or EITHER)
                call.live[param] = val.live
                if val.arch:
                    call.archs[param] = val.arch

        def submodule(arg: ast.AST) -> Val | None:
            # `freeze(net.layer1)`: an attribute of a model, handed over
            d = dotted(arg) if isinstance(arg, ast.Attribute) else None
            if d is None:
                return None
            root = walk.key_of(ast.Name(d.split(".", 1)[0]), flow) or ""
            return Val(key=walk.canon(d, flow)) if root and walk.is_model(root, flow) else None

        for i, (arg, val) in enumerate(zip(e.args, args)):
            if isinstance(arg, ast.Starred) or i >= len(callee.positional):
                break  # *args: which parameter gets what is unknown from here on
            val = val or submodule(arg)
            if val is not None:
                bind(callee.positional[i], val)
        for name, val in kwargs.items():
            if name in params and val is not None:
                bind(name, val)
        # `self.model` is the caller's own when it calls its own method; any
        # other name the callee does not take as a parameter is a global.
        func = walk.func
        shared = func.cls is not None and callee.cls is not None and func.cls.is_a(callee.cls)
        for k in uses:
            root = k.split(".", 1)[0]
            if receiver is not None and root == "self" and k != "self":  # `trainer.model` for `self.model`
                ck = walk.canon(receiver + k[len("self"):], flow)
                if walk.is_model(ck, flow):
                    call.binding[k] = (ck, flow.mode(ck))
                    call.live[k] = walk.liveness(ck)
                continue
            if root in params or (k.startswith("self.") and not shared):
                continue
            if (
                root != "self" and not func.is_module and (root in func.locals or root in func.params)
                and not callee.nested_in(func)
            ):
                continue  # the callee's global, not the caller's own variable of that name
            call.binding.setdefault(k, (k, flow.mode(k)))
            call.live.setdefault(k, walk.liveness(k))
            if root in walk.built:  # a global the caller built
                call.archs.setdefault(k, walk.built[root])

    _BY_TYPE: dict[type, Callable] = {
        ast.Call: _call,
        ast.Subscript: _subscript,
        ast.Name: _name,
        ast.Attribute: _name,
        ast.IfExp: _if_exp,
        ast.BoolOp: _bool_op,
        ast.Lambda: _lambda,
        ast.BinOp: _bin_op,
        ast.NamedExpr: _named,
        **dict.fromkeys(_COMPREHENSIONS, _comprehension),
        ast.List: _sequence,
        ast.Tuple: _sequence,
        ast.Dict: _dict,
    }


def _switched(e: ast.Call, attr: str) -> Mode | None:
    """The mode ``x.eval()`` or ``x.train(...)`` puts a module in (a
    ``train(flag)`` of unknown value: either); None for other calls."""
    if attr == "eval":
        return EVALUATING if not e.args else None
    if attr == "train":
        arg = argument(e, 0, "mode")
        value = True if arg is None else const(arg)
        return TRAINING if value is True else EVALUATING if value is False else EITHER
    return None


_VOLATILE = "a volatile input (Variable(..., volatile=True): no gradients, the pre-0.4 no_grad)"


def _last_assignment(nodes, name: str, before: int | None) -> ast.AST | None:
    """The value of the last ``name = ...`` among ``nodes`` (before line ``before``, if given)."""
    found = [a for a in assignments(nodes, name) if before is None or a.lineno < before]
    return max(found, key=lambda a: a.lineno).value if found else None


def _frozen_parts(method: ast.FunctionDef) -> list[str]:
    """What a model's method freezes of the model: ``"resnet"`` for ``for p
    in self.resnet.parameters(): p.requires_grad = False`` (or
    ``named_parameters``) and ``self.resnet.requires_grad_(False)``; ``""``
    for the whole model (``self.parameters()``)."""
    parts: list[str] = []

    def part_of(expr: ast.AST) -> str | None:
        d = dotted(expr)
        if d == "self":
            return ""
        return d[len("self."):] if d and d.startswith("self.") else None

    for node in ast.walk(method):
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Attribute) \
                and node.iter.func.attr in ("parameters", "named_parameters"):
            owner = part_of(node.iter.func.value)
            var = node.target.elts[-1] if isinstance(node.target, ast.Tuple) and node.target.elts else node.target
            if owner is None or not isinstance(var, ast.Name):
                continue
            if any(
                isinstance(st, ast.Assign) and const(st.value) is False and any(
                    isinstance(t, ast.Attribute) and t.attr == "requires_grad"
                    and isinstance(t.value, ast.Name) and t.value.id == var.id for t in st.targets
                )
                for st in ast.walk(node)
            ) and owner not in parts:
                parts.append(owner)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "requires_grad_" \
                and node.args and const(node.args[0]) is False:
            owner = part_of(node.func.value)
            if owner is not None and owner not in parts:
                parts.append(owner)
    return parts
