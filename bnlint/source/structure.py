"""The file's structure, before any flow: its classes (which are models,
which may hold BatchNorm or Dropout -- :mod:`~bnlint.source.liveness` --,
which manage their own modes), its
functions and methods with their parameters and locals, what a call of a
plain name or ``self.method`` resolves to, and what a constructor builds --
also for classes imported from a file beside this one, which is parsed (never
imported) for that. What a file finds in the rest of the tree (packages,
registries, plain classes) is in :mod:`~bnlint.source.lookups`."""

from __future__ import annotations

import ast
import functools
import os
from dataclasses import dataclass, field

from bnlint.source import vocabulary as V
from bnlint.source.flow import TRAINING, Val
from bnlint.source.liveness import Liveness
from bnlint.source.lookups import TreeLookups
from bnlint.source.syntax import FUNCTIONS, Imports, const, definitions, dotted, identifiers, own_nodes, self_calls
from bnlint.source.syspath import sys_path_additions


@dataclass(eq=False)
class ClassInfo:
    name: str
    node: ast.ClassDef
    bases: list[str]
    is_model: bool = False  # derives from nn.Module / LightningModule: a fresh one is in train mode
    managed: bool = False  # its methods' modes are its parent's or a framework's to set
    live: bool | None = None  # may hold BatchNorm/Dropout; computed on demand
    method_names: set[str] = field(default_factory=set)
    methods: dict[str, "Func"] = field(default_factory=dict)  # walked methods (not of managed classes)
    parents: list["ClassInfo"] = field(default_factory=list)  # bases defined in the file
    foreign_parents: list["ClassInfo"] = field(default_factory=list)  # plain bases of other files
    _names: set[str] | None = None
    _given: list[tuple[int, str]] | None = None

    @property
    def names(self) -> set[str]:
        """The identifiers its body uses (computed when first asked)."""
        if self._names is None:
            self._names = identifiers(self.node)
        return self._names

    def method(self, name: str) -> "Func | None":
        """``self.name`` as Python resolves it among the file's classes."""
        if name in self.methods:
            return self.methods[name]
        for parent in self.parents:
            found = parent.method(name)
            if found is not None:
                return found
        return None

    def is_a(self, other: "ClassInfo") -> bool:
        return self is other or any(p.is_a(other) for p in self.parents)

    def _constructor(self) -> tuple[ast.FunctionDef | None, list[str]]:
        """The class's own ``__init__`` and its positional parameters after ``self``."""
        init = next((n for n in self.node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        return init, [a.arg for a in (*init.args.posonlyargs, *init.args.args)][1:] if init is not None else []

    def stored_parameters(self, _depth: int = 0) -> list[tuple[str, int, str]]:
        """What the constructor stores as it is given: (attribute, position
        after ``self``, parameter) for each ``self.model = model`` of its
        body's top level -- and for what it hands on to its base class's
        constructor (``super().__init__(model, loss, config)``, the base
        class of this file or another), what that one stores of it."""
        init, params = self._constructor()
        if init is None:
            return []
        found = []
        for st in init.body:
            if isinstance(st, ast.Assign) and isinstance(st.value, ast.Name) and st.value.id in params:
                for t in st.targets:
                    if isinstance(t, ast.Attribute) and dotted(t.value) == "self":
                        found.append((t.attr, params.index(st.value.id), st.value.id))
            elif isinstance(st, ast.Expr) and _depth < 4:
                found += self._handed_to_base(st.value, params, _depth)
        return found

    def _handed_to_base(self, call: ast.expr, params: list[str], depth: int) -> list[tuple[str, int, str]]:
        """For ``super().__init__(...)``, ``super(Cls, self).__init__(...)``
        or ``Base.__init__(self, ...)``: what the base's constructor stores
        of the parameters passed on by name, as this constructor's."""
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "__init__"):
            return []
        owner, args = call.func.value, list(call.args)
        bases = [*self.parents, *self.foreign_parents]
        if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
            first = self.bases[0].rpartition(".")[2] if self.bases else None  # what super() reaches first
            base = next((b for b in bases if b.name == first), None)
        elif isinstance(owner, ast.Name) and args and isinstance(args[0], ast.Name) and args[0].id == "self":
            base, args = next((b for b in bases if b.name == owner.id), None), args[1:]
        else:
            return []
        if base is None:
            return []
        starred = next((i for i, a in enumerate(args) if isinstance(a, ast.Starred)), len(args))
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        found = []
        for attr, pos, param in base.stored_parameters(depth + 1):
            arg = args[pos] if pos < starred else keywords.get(param)
            if isinstance(arg, ast.Name) and arg.id in params:
                found.append((attr, params.index(arg.id), arg.id))
        return found

    def given_modules(self) -> list[tuple[int, str]]:
        """The constructor's parameters (position after ``self``, name) that
        end up as a submodule the class calls: ``self.backbone =
        backbone["backbone"]`` with ``self.backbone(x)`` in a method. An
        instance holds what it is given there. (Read once per class.)"""
        if self._given is None:
            self._given = self._given_modules()
        return self._given

    def _given_modules(self) -> list[tuple[int, str]]:
        init, positional = self._constructor()
        if init is None:
            return []
        params = positional + [a.arg for a in init.args.kwonlyargs]
        called = {  # `self.backbone(x)`, `self.net.fc(x)`
            (dotted(n.func) or "").split(".")[1] for n in ast.walk(self.node)
            if isinstance(n, ast.Call) and (dotted(n.func) or "").startswith("self.")
        }
        found = []
        for st in ast.walk(init):
            if not isinstance(st, ast.Assign):
                continue
            stored = [t.attr for t in st.targets if isinstance(t, ast.Attribute) and dotted(t.value) == "self"]
            if not any(a in called for a in stored):
                continue
            value = st.value  # the parameter itself, or a part of it: `backbone["backbone"]`, `net.features`
            while isinstance(value, (ast.Subscript, ast.Attribute)):
                value = value.value
            if isinstance(value, ast.Name):
                found += [(i, p) for i, p in enumerate(params) if p == value.id and (i, p) not in found]
        return found


@dataclass(eq=False)
class Func:
    """A function, a method, or the module's top-level code (``<module>``)."""

    name: str
    node: ast.AST
    body: list[ast.stmt]
    cls: ClassInfo | None = None
    parent: "Func | None" = None
    params: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    locals: set[str] = field(default_factory=set)
    nested: dict[str, "Func"] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)  # parameters a positional argument can bind
    # parameters some caller passes a model to (found by the file-level rounds)
    passed: set[str] = field(default_factory=set)
    generator: bool = False  # yields: a context manager, perhaps, whose effect splits at the yield
    calls: list[ast.expr] = field(default_factory=list)  # what its calls call, unresolved
    grad_off: str | None = None  # "@torch.no_grad()" decorator
    # the file whose code this is, for a method inherited from a class of another
    # file (see FileStructure._inherit); None: this file's own
    origin: str | None = None

    @property
    def qualname(self) -> str:
        if self.cls is not None:
            return f"{self.cls.name}.{self.name}"
        return self.name

    def nested_in(self, other: "Func") -> bool:
        """Defined inside ``other`` (its free names are ``other``'s)."""
        f = self.parent
        while f is not None:
            if f is other:
                return True
            f = f.parent
        return False

    @property
    def is_module(self) -> bool:
        return self.name == "<module>"

    def is_nonlocal(self, key: str) -> bool:
        """A key whose value comes from outside: a parameter, ``self.x``, a global."""
        root = key.split(".", 1)[0]
        return root in self.params or root == "self" or (not self.is_module and root not in self.locals)


class FileStructure(Liveness, TreeLookups):
    """One file's classes and functions, and what its names build."""

    def __init__(self, path: str, text: str, tree: ast.Module, imports: Imports | None = None):
        self.path = path
        self.text = text
        self.tree = tree
        self.imports = imports or Imports(tree)
        self._star_imports()
        self.classes: dict[str, ClassInfo] = {}
        self.functions: dict[str, Func] = {}  # module-level functions
        self.funcs: list[Func] = []  # every function to walk, module code first
        self.module_keys: set[str] = set()  # names used like modules anywhere: `x.eval()`, `x.parameters()`
        self.model_attrs: dict[str, set[str]] = {}  # class -> `self.x` attributes built as models
        # class -> `self.x` attributes holding models by key (`self.models["encoder"] = Encoder()`)
        self.collection_attrs: dict[str, set[str]] = {}
        self._constants: dict[str, object] | None = None
        self._module_values: dict[str, ast.expr] | None = None
        self._plain_classes: list | None = None  # TreeLookups.plain_classes(), once asked
        self._registered: dict[str, list] = {}  # registry name -> the classes registered in it (registered_classes)
        self._collect()
        self.model_type_names = {
            "torch.nn.Module", "nn.Module", "Module", *(c.name for c in self.classes.values() if c.is_model)
        }

    def _star_imports(self) -> None:
        """``from .parts import *`` of a module of the checked tree binds
        that module's public names here (its ``__all__`` when it has a literal
        one): its classes and functions, and the names it imports -- the
        ``nn`` of ``class UNet(nn.Module)`` often comes from there. Names
        this file imports itself win."""
        for node in self.tree.body:
            if not (isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)):
                continue
            base = "." * node.level + (node.module or "")
            other = self.module_structure(base) if base.strip(".") else None
            if other is None or other is self:
                continue
            public = _literal_all(other.tree)
            same_dir = os.path.dirname(os.path.abspath(other.path)) == os.path.dirname(os.path.abspath(self.path))
            names: dict[str, str] = {}
            for name, qual in other.imports.table.items():
                if not qual.startswith(".") or same_dir:  # a relative name means the same only from the same directory
                    names[name] = qual
                else:  # `from .resnet import *` in models/__init__.py: models.resnet here
                    rebased = _rebase(qual, base, os.path.basename(other.path) == "__init__.py")
                    if rebased is not None:
                        names[name] = rebased
            for name in (*other.classes, *other.functions):
                names[name] = f"{base}.{name}" if node.module else f"{base}{name}"
            for name, qual in names.items():
                if (name in public) if public is not None else not name.startswith("_"):
                    self.imports.table.setdefault(name, qual)

    def _foreign_model_class(self, qual: str) -> bool:
        """A base imported from a module of the checked tree that is an
        ``nn.Module`` there (``class PSPNet(BaseModel)`` with ``from base
        import BaseModel``, base/ a package beside the models')."""
        if not qual or qual in self.classes or "." not in qual:
            return False
        found = self.foreign_class(qual)
        return found is not None and found[0].classes[found[1]].is_model

    # -- collecting ----------------------------------------------------------------
    def _collect(self) -> None:
        module = Func("<module>", self.tree, [s for s in self.tree.body])
        self._scan(module)
        self.funcs.append(module)
        # Definitions at module level, also inside `if __name__ == "__main__":`
        # or `try:` blocks; classes first, so that functions know them.
        defs = list(definitions(self.tree.body))
        for node in defs:
            if isinstance(node, ast.ClassDef):
                self._class(node)
        for node in defs:
            if isinstance(node, FUNCTIONS):
                self.functions[node.name] = self._func(node, None, None)

    def _class(self, node: ast.ClassDef) -> None:
        bases = [self.imports.qualify(b) or dotted(b) or "" for b in node.bases]
        info = ClassInfo(node.name, node, bases)
        info.parents = [self.classes[b] for b in bases if b in self.classes]
        info.is_model = any(
            b in V.MODEL_BASES or V.is_torch_layer(b) or (b in self.classes and self.classes[b].is_model)
            or self._foreign_model_class(b)
            for b in bases
        )
        # A base we cannot see (`class Net(BaseModel)` from another file) may
        # be a module too: leave its methods alone, but do not call it one.
        info.managed = info.is_model or any(
            (b in self.classes and self.classes[b].managed)
            or V.MODULE_LIKE_BASE.search(b.rsplit(".", 1)[-1]) is not None
            for b in bases
        )
        self.classes[node.name] = info
        info.method_names = {item.name for item in node.body if isinstance(item, FUNCTIONS)}
        if info.managed:
            return  # its methods are not walked: nothing more to know now
        attrs: set[str] = set()
        collections: set[str] = set()
        for sub in ast.walk(node):
            # `self.onet = ONet().to(device)`, `.cuda()`: the module itself
            value = V.construction(sub.value) if isinstance(sub, ast.Assign) else None
            if isinstance(value, ast.Call):
                q = self.imports.qualify(value.func) or dotted(value.func) or ""
                if self.fresh(q) is not None or q in self.classes and self.classes[q].is_model:
                    for t in sub.targets:  # type: ignore[union-attr]
                        d = dotted(t.value if isinstance(t, ast.Subscript) else t)
                        if d and d.startswith("self."):
                            attrs.add(d)
                            if isinstance(t, ast.Subscript):
                                collections.add(d)
        self.model_attrs[node.name] = attrs
        self.collection_attrs[node.name] = collections
        for item in node.body:
            if isinstance(item, FUNCTIONS):
                info.methods[item.name] = self._func(item, info, None)
        for b in bases:
            if b not in self.classes:
                self._inherit(info, b)

    def _inherit(self, info: ClassInfo, base: str) -> None:
        """The methods a class inherits from a plain class of another file of
        the checked tree (``class Trainer(BaseTrainer)``, whose epoch loop in
        base/base_trainer.py calls ``self._train_epoch()`` then
        ``self._valid_epoch()``): walked here as the subclass's methods, so
        that ``self.x()`` in them runs the subclass's override, as in Python.
        What they do themselves is the other file's to report; here they are
        callers (the modes they pass this file's methods) and helpers (what
        calling them does) -- so only the ones that call one of this class's
        methods, or that this class's methods call, are taken (an optimizer
        subclass does not walk the whole of ``torch.optim.Optimizer``)."""
        found = self.foreign_class(base)
        if found is None:
            return
        other, name = found
        info.foreign_parents.append(other.classes[name])
        inherited: dict[str, ast.AST] = {}
        pending = [other.classes[name]]
        while pending:
            cls = pending.pop(0)
            if cls.managed:
                return
            for item in cls.node.body:
                if isinstance(item, FUNCTIONS) and item.name not in info.methods:
                    inherited.setdefault(item.name, item)
            pending += cls.parents
        calls = {name: self_calls(node) for name, node in inherited.items()}
        wanted = {n for n, called in calls.items() if called & info.method_names}  # callers of ours
        wanted |= set().union(*(self_calls(m.node) for m in info.methods.values())) & set(inherited)  # our helpers
        todo = list(wanted)
        while todo:  # and what those call in turn
            for n in calls[todo.pop()] & set(inherited):
                if n not in wanted:
                    wanted.add(n)
                    todo.append(n)
        for method in sorted(wanted, key=list(inherited).index):
            first = len(self.funcs)
            info.methods[method] = self._func(inherited[method], info, None)
            for func in self.funcs[first:]:  # the method and what is nested in it
                func.origin = other.path

    def _func(self, node, cls: ClassInfo | None, parent: Func | None) -> Func:
        a = node.args
        params = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        if a.vararg:
            params.append(a.vararg.arg)
        if a.kwarg:
            params.append(a.kwarg.arg)
        positional = [p.arg for p in (*a.posonlyargs, *a.args)]
        if cls is not None and params and not any(dotted(d) == "staticmethod" for d in node.decorator_list):
            params, positional = params[1:], positional[1:]  # self / cls
        annotations = {}
        for p in (*a.posonlyargs, *a.args, *a.kwonlyargs):
            if p.annotation is not None:
                annotations[p.arg] = self.imports.qualify(p.annotation) or dotted(p.annotation) or ""
        func = Func(node.name, node, node.body, cls, parent, params, annotations, positional=positional)
        self._scan(func)
        for dec in node.decorator_list:
            reason = V.grad_off(self.imports, dec)
            if reason:
                func.grad_off = reason
        for sub in definitions(node.body):
            if isinstance(sub, FUNCTIONS):
                func.nested[sub.name] = self._func(sub, None, func)
        self.funcs.append(func)
        return func

    def _scan(self, func: Func) -> None:
        """One pass over a function's own code (not its nested definitions):
        its local names, what it calls, and names used like modules."""
        shared_names: set[str] = set()
        for sub in own_nodes(func.node):
            if isinstance(sub, ast.Call):
                func.calls.append(sub.func)
                f = sub.func
                if isinstance(f, ast.Attribute) and f.attr in V.MODULE_METHODS:
                    key = dotted(f.value)
                    if key and key not in ("self", "cls"):
                        self.module_keys.add(key)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                func.locals.add(sub.id)
            elif isinstance(sub, (ast.Global, ast.Nonlocal)):
                shared_names.update(sub.names)
            elif isinstance(sub, (ast.Yield, ast.YieldFrom)):
                func.generator = True
        func.locals -= shared_names

    # -- names ---------------------------------------------------------------------
    def module_value(self, name: str) -> ast.expr | None:
        """What a module-level name is assigned, when it is assigned once
        (``__model_factory = {"resnet50": resnet50, ...}``)."""
        if self._module_values is None:
            values: dict[str, ast.expr] = {}
            counts: dict[str, int] = {}
            for node in self.tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                    node, (ast.AnnAssign, ast.AugAssign)) else []
                for t in targets:
                    if isinstance(t, ast.Name):
                        counts[t.id] = counts.get(t.id, 0) + 1
                        if isinstance(node, ast.Assign):
                            values[t.id] = node.value
            self._module_values = {k: v for k, v in values.items() if counts[k] == 1}
        return self._module_values.get(name)

    def constants(self) -> dict[str, object]:
        """Module-level names assigned once, to a literal (``ARCH = "resnet50"``)."""
        if self._constants is None:
            values: dict[str, object] = {}
            counts: dict[str, int] = {}
            for node in self.tree.body:
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            counts[t.id] = counts.get(t.id, 0) + 1
                            if isinstance(node.value, ast.Constant):
                                values[t.id] = node.value.value
            self._constants = {k: v for k, v in values.items() if counts[k] == 1}
            # argparse defaults, by destination: `parser.add_argument("--arch", default="resnet50")`
            for node in ast.walk(self.tree):
                if (
                    isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "add_argument" and node.args
                    and isinstance(const(node.args[0]), str) and node.args[0].value.startswith("-")  # type: ignore[attr-defined]
                ):
                    dest = next((k.value for k in node.keywords if k.arg == "dest"), None)
                    flags = [const(a) for a in node.args if isinstance(const(a), str)]
                    # argparse's dest: the first long option, else the first short one ('--arch', '-a' -> arch)
                    flag = next((f for f in flags if f.startswith("--")), flags[0])
                    name = const(dest) if dest is not None else flag.lstrip("-").replace("-", "_")
                    default = next((k.value for k in node.keywords if k.arg == "default"), None)
                    if isinstance(name, str) and isinstance(const(default), str):
                        self._constants.setdefault(f"<argument>.{name}", default.value)  # type: ignore[union-attr]
        return self._constants

    def function(self, name: str, scope: Func) -> Func | None:
        """The function a plain name calls, seen from ``scope``."""
        f: Func | None = scope
        while f is not None:
            if name in f.nested:
                return f.nested[name]
            f = f.parent
        return self.functions.get(name)

    def callee(self, f: ast.AST, scope: Func) -> Func | None:
        """The function of this file a call of ``f`` from ``scope`` runs."""
        if isinstance(f, ast.Name):
            if f.id in self.classes:
                return None
            return self.function(f.id, scope)
        if (
            isinstance(f, ast.Attribute)
            and isinstance(f.value, ast.Name)
            and f.value.id == "self"
            and scope.cls is not None
        ):
            return scope.cls.method(f.attr)
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in self.classes:
            # `ModelBuilder.build_encoder()`: a static or class method, called on its class
            method = self.classes[f.value.id].method(f.attr)
            if method is not None and any(
                dotted(d) in ("staticmethod", "classmethod") for d in method.node.decorator_list
            ):
                return method
        return None

    def source_of(self, expr: ast.AST) -> str:
        return (ast.get_source_segment(self.text, expr) or "the model").split("\n", 1)[0]

    # -- what constructors build ------------------------------------------------------
    def fresh(self, qual: str, call: ast.Call | None = None) -> Val | None:
        """A new module, in the mode its constructor leaves it in (train)."""
        if qual in self.classes:
            info = self.classes[qual]
            if info.is_model:
                live = self.class_is_live(qual) or self.args_live(call) or self.given_live(info, call)
                return Val(mode=TRAINING, arch=qual, live=live)
            # a base defined elsewhere and named like a module: probably one
            return Val(mode=TRAINING, arch=qual) if info.managed else None
        if V.is_torch_layer(qual):
            if qual.endswith("Loss"):
                return None  # a criterion: no mode-dependent layers
            return Val(mode=TRAINING, arch=qual, live=call is None or not self.inert_call(call))
        if V.is_builder(qual):
            return Val(mode=TRAINING, arch=qual)
        foreign = self.foreign_class(qual)
        if foreign is not None:  # `from model import Net`, with model.py beside this file
            other, name = foreign
            if other.classes[name].is_model:
                live = other.class_is_live(name) or self.args_live(call) or self.given_live(other.classes[name], call)
                return Val(mode=TRAINING, arch=qual, live=live)
            return None
        if V.named_like_model_class(qual):
            # defined where we cannot read it, named like a module class:
            # whatever it holds, a new one starts in train mode
            return Val(mode=TRAINING, arch=qual)
        return None

    def portable_arch(self, arch: str | None) -> str | None:
        """``arch`` (what a value of this file was built as) in a form that
        means the same in any file: a class of this file, or one imported
        from the checked tree, becomes a :func:`class_ref`; builders and
        torch layers are names already."""
        if arch is None or referenced_class(arch) is not None:
            return arch
        if arch in self.classes:
            return class_ref(self, arch)
        found = self.foreign_class(arch)
        return class_ref(*found) if found is not None else arch

    def any_of(self, archs: set) -> str | None:
        """One architecture for a value built as any of ``archs`` (a registry
        picked from by name): each made portable, joined by ``|``; None when
        one of them is unknown. :func:`arch_members` splits it again; asked
        for its class, it has none."""
        if not archs or None in archs:
            return None
        return _ANY_OF.join(sorted(self.portable_arch(a) for a in archs))  # type: ignore[misc]

    def arch_class(self, arch: str) -> "tuple[FileStructure, str] | None":
        """The class of the checked tree that ``arch`` names, as seen from
        this file: one of its own, one it imports, or a :func:`class_ref`."""
        if arch in self.classes:
            return self, arch
        return referenced_class(arch) or self.foreign_class(arch)

    def foreign_class(self, qual: str) -> "tuple[FileStructure, str] | None":
        """A class imported from a module of the user's own (``from model
        import Net``, ``from .nets import ResNet``, ``from tool.darknet import
        Darknet`` inside ``tool/``): that file is parsed -- never imported --
        and asked (:meth:`foreign`)."""
        found = self.foreign(qual)
        if found is None or found[1] not in found[0].classes:
            return None
        return found

    def foreign(self, qual: str, _depth: int = 0) -> "tuple[FileStructure, str] | None":
        """Where a qualified name of another module of the checked tree is
        defined: (that file's structure, the class or function's name there).
        The module is found as a file beside this one, or beside one of its
        parent directories (a package imported from inside itself);
        re-exports (``from .resnet import ResNet34`` in ``models/__init__.py``)
        are followed."""
        module, _, name = qual.rpartition(".")
        if not module or not name.isidentifier() or _depth > 4:
            return None
        other = self.module_structure(module)
        if other is None:
            return None
        if name in other.classes or name in other.functions:
            return other, name
        again = other.imports.table.get(name)
        if again is not None and other is not self:
            return other.foreign(again, _depth + 1)
        if other is not self:
            for node in other.tree.body:  # `from .resnet import *`
                if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                    found = other.foreign("." * node.level + (node.module or "") + "." + name, _depth + 1)
                    if found is not None:
                        return found
        return None

    def module_structure(self, module: str) -> "FileStructure | None":
        """The parsed file of a module of the checked tree, by its import
        name (relative ones from this file's package); looked up once per
        directory, name and the directories it adds to ``sys.path``."""
        memo = (os.path.dirname(os.path.abspath(self.path)), module, self.path_roots())
        if memo in _MODULES:
            path = _MODULES[memo]
            return None if path is None else self if path == os.path.abspath(self.path) else structure_of(path)
        found = self._module_structure(module)
        if found is not None or not _BUILDING:  # a miss inside a cycle may be found later
            _MODULES[memo] = None if found is None else os.path.abspath(found.path)
        return found

    def path_roots(self) -> tuple[str, ...]:
        """Directories this file puts on ``sys.path`` at module level, itself
        or through a module beside it that it imports for that
        (``import _init_paths``, whose ``sys.path.insert(0, osp.join(this_dir,
        '..', 'lib'))`` makes ``from core.function import train`` mean
        ``../lib/core/function.py``): read, never run; paths built from
        ``__file__``, literals and ``os.path`` functions only. (None yet
        while the file's own definitions are being collected.)"""
        if not hasattr(self, "functions"):
            return ()
        if getattr(self, "_path_roots", None) is None:
            self._path_roots: tuple[str, ...] = ()
            found = sys_path_additions(self)
            here = os.path.dirname(os.path.abspath(self.path))
            for node in self.tree.body:
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if "." not in alias.name:
                            other = structure_of(os.path.join(here, alias.name + ".py"))
                            if other is not None and other is not self:
                                found += sys_path_additions(other)
            self._path_roots = tuple(dict.fromkeys(os.path.normpath(p) for p in found if os.path.isdir(p)))
        return self._path_roots

    def _module_structure(self, module: str) -> "FileStructure | None":
        level = len(module) - len(module.lstrip("."))
        here = os.path.dirname(os.path.abspath(self.path))
        parts = module.lstrip(".").split(".") if module.strip(".") else []
        if level:
            for _ in range(level - 1):
                here = os.path.dirname(here)
            roots = [here]
        else:
            if parts and parts[0] in _NOT_THE_TREE:
                return None
            roots = [here]
            for _ in range(_ANCESTORS):
                parent = os.path.dirname(roots[-1])
                if parent == roots[-1] or os.path.basename(parent) in _INSTALLED:
                    break  # installed packages are not the checked tree
                roots.append(parent)
            roots += self.path_roots()
        for root in roots:
            rel = os.path.join(root, *parts)
            for candidate in (rel + ".py", os.path.join(rel, "__init__.py")):
                if os.path.abspath(candidate) == os.path.abspath(self.path):
                    return self
                other = structure_of(candidate)
                if other is not None:
                    return other
        return None

# Absolute imports are looked for beside the file and beside this many of its
# parent directories (a package imported from inside itself: `from tool.x
# import Y` in `tool/`); the standard library and torch's own packages are
# never the user's.
_ANCESTORS = 3
_INSTALLED = frozenset({"site-packages", "dist-packages"})
_NOT_THE_TREE = frozenset({
    "torch", "torchvision", "torchaudio", "timm", "numpy", "os", "sys", "re", "math", "typing", "collections",
    "functools", "itertools", "json", "time", "logging", "argparse", "random", "pathlib", "warnings",
    "dataclasses", "abc", "copy", "enum", "inspect", "contextlib", "__future__", "pytorch_lightning", "lightning",
    "transformers", "scipy", "sklearn", "PIL", "cv2", "matplotlib", "pandas", "tqdm", "yaml",
})


@functools.lru_cache(maxsize=None)
def _file_exists(path: str) -> bool:
    return os.path.isfile(path)


def _structure_of(path: str) -> FileStructure | None:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        tree = ast.parse(raw, filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    return FileStructure(path, raw.decode("utf-8", "replace"), tree)


# Every file of the checked tree read so far, by path: the run's own files
# and those they import, one parse and one structure each.
_FILES: dict[str, FileStructure | None] = {}


def known_structure(path: str, text: str, build) -> FileStructure:
    """The structure of a file the run reads: the one its importers already
    built when the text is the same, else ``build()``'s -- not kept: a file
    is kept once a module imports it (so each file is parsed at most twice,
    and summarized once), and the run's other trees are let go, which keeps
    the collector's work small on large trees."""
    cached = _FILES.get(os.path.abspath(path))
    if cached is not None and cached.text == text:
        return cached
    return build()


def _rebase(qual: str, base: str, package: bool) -> str | None:
    """A name relative to a module (``.resnet.ResNet`` in ``models`` or in
    its ``__init__.py`` when ``package``), as the importer of that module
    (by ``base``) names it: ``models.resnet.ResNet``; None when it climbs out."""
    level = len(qual) - len(qual.lstrip("."))
    head, rest = base, qual[level:]
    parts = head.lstrip(".").split(".") if head.strip(".") else []
    dots = len(head) - len(head.lstrip("."))
    drop = level - (1 if package else 0)
    if drop > len(parts):
        return None
    parts = parts[: len(parts) - drop] if drop else parts
    prefix = "." * dots + ".".join(parts)
    if not prefix.strip("."):
        return None
    return f"{prefix}.{rest}" if not prefix.endswith(".") else f"{prefix}{rest}"


def _literal_all(tree: ast.Module) -> "set[str] | None":
    """A module's ``__all__``, when it is a literal list or tuple of strings."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return None
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return set(value)
            return None
    return None


_ANY_OF = "|"


def arch_members(arch: str) -> list[str]:
    """The architectures a value may have been built as (see :meth:`FileStructure.any_of`)."""
    return arch.split(_ANY_OF)


def class_ref(structure: FileStructure, name: str) -> str:
    """An architecture naming class ``name`` of ``structure``'s file from any
    file (``/abs/path/models.py:Net``): a model a factory of another module
    builds is known by what it is, wherever the factory's result goes."""
    return f"{os.path.abspath(structure.path)}:{name}"


def referenced_class(arch: str) -> tuple[FileStructure, str] | None:
    """The (file, class) of a :func:`class_ref`; None for any other name."""
    path, sep, name = arch.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        return None
    other = structure_of(path)
    return (other, name) if other is not None and name in other.classes else None


def structure_of(path: str) -> FileStructure | None:
    """Another file of the checked tree, parsed (not imported) once per
    process, for its classes and functions."""
    path = os.path.abspath(path)
    if path in _FILES:
        return _FILES[path]
    if not _file_exists(path) or path in _BUILDING:
        return None  # absent, or being read now (modules that import each other)
    _BUILDING.add(path)
    try:
        found = _FILES[path] = _structure_of(path)
        return found
    finally:
        _BUILDING.discard(path)


_BUILDING: set[str] = set()
# (directory, module name, the directories the file adds to sys.path) -> its file, or None
_MODULES: dict[tuple[str, str, tuple[str, ...]], str | None] = {}


class CycleMemo:
    """Answers to recursive questions over the file's call graph, each
    computed once. A question met again while it is being answered (a cycle)
    gets the cautious answer, and an answer that depended on such a cut is
    not kept: asked another way, the same question may get further."""

    def __init__(self):
        self._memo: dict[tuple, object] = {}
        self._active: set[tuple] = set()
        self._cuts = 0

    def __call__(self, memo: tuple, cyclic, compute):
        if memo in self._memo:
            return self._memo[memo]
        if memo in self._active:
            self._cuts += 1
            return cyclic
        cuts = self._cuts
        self._active.add(memo)
        try:
            result = compute()
        finally:
            self._active.discard(memo)
        if self._cuts == cuts:
            self._memo[memo] = result
        return result
