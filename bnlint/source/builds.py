"""What an expression builds (a part of
:class:`~bnlint.source.expressions.Expressions`, which mixes this in): a model
class or builder called -- by name, picked from a registry (a dict, or an
object classes register in by a decorator), from a package by
``getattr(models, name)``, ``models.__dict__[arch]`` or ``eval('models.' +
name)``, by a function or method that picks from a module it is given --, a
function of the checked tree that returns a new model, a deep copy of a model,
and what a new module holds when it is given models."""

from __future__ import annotations

import ast
import functools
from dataclasses import replace
from typing import TYPE_CHECKING

from bnlint.source import vocabulary as V
from bnlint.source.flow import TRAINING, Flow, Val
from bnlint.source.structure import Func, class_ref
from bnlint.source.syntax import assignments, const, name_words, own_nodes

# words of a setting that names the model's class (`CONFIG.MODEL.NAME`, `args.arch`)
_MODEL_SETTINGS = frozenset({"model", "arch", "architecture", "net", "network", "backbone"})

if TYPE_CHECKING:  # pragma: no cover
    from bnlint.source.structure import FileStructure
    from bnlint.source.syntax import Imports
    from bnlint.source.walker import Walker


_CONTAINERS = ("dict", "OrderedDict", "defaultdict", "list", "set", "tuple")


def _is_container(value: ast.expr | None) -> bool:
    """A module-level object built as a builtin container (``dict(...)``,
    ``collections.OrderedDict()``): a table, not a registry object."""
    f = value.func if isinstance(value, ast.Call) else None
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    return name in _CONTAINERS


def new_model(val: Val | None) -> Val | None:
    """``val`` when it is a new model, certainly (no alias, in train mode)."""
    return val if val is not None and val.key is None and val.mode == TRAINING else None


class Builds:
    """The building half of the expression side (see the module's docstring)."""

    walk: "Walker"
    structure: "FileStructure"
    imports: "Imports"

    def _made_by(self, v: ast.Name | ast.Attribute) -> Val | None:
        """What calling ``v`` -- a model class, a builder, or a function of the
        checked tree returning a new model -- certainly builds; None otherwise."""
        qual = self.imports.qualify(v)
        if qual is not None:
            return self._made_by_name(qual)
        if isinstance(v, ast.Name) and v.id in self.structure.classes:
            return new_model(self.structure.fresh(v.id))
        if isinstance(v, ast.Name) and v.id in self.structure.functions:
            summary = self.walk.summary(self.structure.functions[v.id])
            return new_model(summary.returns if summary is not None else None)
        return None

    def _made_by_name(self, qual: str) -> Val | None:
        """:meth:`_made_by` for a qualified name: a class or builder, or a
        builder function of another module of the checked tree."""
        fresh = self.structure.fresh(qual)
        if fresh is None:
            found = self.structure.foreign(qual)
            if found is not None and found[1] in found[0].functions:
                summary = self.walk.foreign(found[0], found[0].functions[found[1]])
                fresh = summary.returns if summary is not None else None
        return new_model(fresh)

    def _copy_of(self, val: Val, flow: Flow) -> Val | None:
        """``ema = copy.deepcopy(model)``: another model, in the mode the
        original is in now, built as it was (the two change modes apart)."""
        if val.key is None:
            return val if val.mode is not None else None
        walk = self.walk
        if not walk.is_model(val.key, flow):
            return None
        return Val(mode=flow.mode(val.key), arch=walk.built.get(val.key.split(".", 1)[0]),
                   live=walk.liveness(val.key) is not False)

    def _holding(self, fresh: Val, qual: str, e: ast.Call, args: list, kwargs: dict, flow: Flow) -> Val:
        """A new module of a class of the checked tree built from models
        (``SegmentationModule(net_encoder, net_decoder)``): it holds what they
        hold, so it may hold BatchNorm or Dropout when one of them may; and
        when its own body builds no such layer (``WrapInception(net.eval())``)
        and every submodule it is given is a model known here, it runs in
        their modes -- constructing it changes none of them."""
        found = self.structure.arch_class(qual)
        if found is None:
            return fresh

        def model(v: Val | None, known: bool = False) -> bool:  # known: on this path, not by its name
            if v is None:
                return False
            if v.key is None:
                return v.mode is not None
            return v.key in flow.models if known else self.walk.is_model(v.key, flow)

        models = [v for v in (*args, *kwargs.values()) if model(v)]
        if not models:
            return fresh
        if not fresh.live and any(self.walk.liveness(v.key) is not False if v.key else v.live for v in models):
            fresh = replace(fresh, live=True)
        info = found[0].classes[found[1]]
        passed = [args[i] if i < len(e.args) else kwargs.get(p) for i, p in info.given_modules()]
        if found[0].builds_no_layers(found[1]) and all(model(v, known=True) for v in passed):
            fresh = replace(fresh, mode=frozenset().union(*(flow.mode(v.key) if v.key else v.mode for v in models)))
        return fresh

    def dynamic_build(self, f: ast.AST) -> Val | None:
        """A model class or builder picked by name from a module:
        ``getattr(models, name)``, ``models.__dict__[arch]``, or from a
        registry its classes are registered in by a decorator
        (``REGISTRY.get(name)``, :meth:`FileStructure.registered_classes`) -- what calling
        it builds, when the module is torchvision's/timm's (the name's
        builder when the name is a constant of the file) or one of the
        checked tree whose classes are models."""
        owner = name = None
        if (
            isinstance(f, ast.Call) and isinstance(f.func, ast.Attribute) and f.func.attr == "get"
            and len(f.args) == 1 and not f.keywords
        ):  # META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)(cfg)
            registry = self.structure.module_object(f.func.value)
            if registry is None or _is_container(registry[0].module_value(registry[1])):
                return None  # `ACTIVATIONS = dict(...)`: a plain table, nothing registers in it
            return self._picked_from(registry[0].registered_classes(registry[1]), None)
        if (
            isinstance(f, ast.Call) and isinstance(f.func, ast.Name) and f.func.id == "eval"
            and self.imports.qualify(f.func) is None and len(f.args) == 1 and not f.keywords
        ):
            return self._evaluated_name(f.args[0])
        if (
            isinstance(f, ast.Call) and isinstance(f.func, ast.Name) and f.func.id == "getattr"
            and self.imports.qualify(f.func) is None and len(f.args) >= 2
        ):
            owner, name = f.args[0], f.args[1]
        elif isinstance(f, ast.Subscript) and isinstance(f.value, ast.Attribute) and f.value.attr == "__dict__":
            owner, name = f.value.value, f.slice
        if owner is None:
            return None
        module = self.imports.qualify(owner)
        if module is None:
            package = self._imported_package(owner)
            picked = const(name)
            if package is None or not isinstance(picked, str):
                return None
            return self._picked_from(self.structure.package_classes(package, picked), None)
        picked = const(name)
        if picked is ... and isinstance(name, ast.Name):
            picked = self.structure.constants().get(name.id, ...)
        elif picked is ... and isinstance(name, ast.Attribute):  # args.arch: the argument's default
            picked = self.structure.constants().get(f"<argument>.{name.attr}", ...)
        if isinstance(picked, str):  # the builder, class or builder function of the tree it names
            made = self._made_by_name(f"{module}.{picked}")
            if made is not None:
                return made
        return self._one_of_module(module)

    def _evaluated_name(self, text: ast.expr) -> Val | None:
        """``eval('models.' + config.MODEL.NAME + '.get_pose_net')`` (the
        HRNet family's builders): a name put together from a literal module
        prefix, a part known only at run time and a literal last name. With
        that last name, what it builds is what every function of that name
        in the package's modules builds, when each returns a new model;
        without one (``eval('models.' + arch)``) it is picked from the
        module as ``getattr(models, arch)`` is."""
        parts = []
        while isinstance(text, ast.BinOp) and isinstance(text.op, ast.Add):
            parts.append(text.right)
            text = text.left
        parts.append(text)
        parts.reverse()
        if len(parts) == 1 and not isinstance(text, ast.Constant):
            return self._evaluated_class(text)
        prefix, last = const(parts[0]), const(parts[-1])
        if len(parts) < 2 or not isinstance(prefix, str) or not prefix.endswith("."):
            return None
        dotted_prefix = prefix[:-1]
        if not dotted_prefix or not all(p.isidentifier() for p in dotted_prefix.split(".")):
            return None
        module = self.imports.qualify(ast.parse(dotted_prefix, mode="eval").body)
        if module is None:
            return None
        if len(parts) == 2:  # eval('models.' + arch): one name of that module
            return self._one_of_module(module)
        if len(parts) != 3 or not isinstance(last, str) or not last.startswith(".") or not last[1:].isidentifier():
            return None
        built = []
        for other, name in self.structure.package_functions(module, last[1:]):
            summary = self.walk.foreign(other, other.functions[name])
            fresh = new_model(summary.returns if summary is not None else None)
            if fresh is None:
                return None
            built.append(fresh)
        if not built:
            return None
        archs = {b.arch for b in built}
        return Val(mode=TRAINING, arch=archs.pop() if len(archs) == 1 else self.structure.any_of(archs),
                   live=any(b.live for b in built))

    def _evaluated_class(self, text: ast.expr) -> Val | None:
        """``eval(CONFIG.MODEL.NAME)(n_classes=21)`` (deeplab-pytorch): a
        class named at run time by a setting that says it is the model
        (``MODEL``, ``arch``, ``net`` in its name or key) -- one of the model
        classes this file defines or imports, picked as a registry's are.
        A setting that says nothing of the kind (``eval(cfg.LOSS)``) picks
        nothing known."""
        words = {w for n in ast.walk(text) for w in name_words(
            n.attr if isinstance(n, ast.Attribute) else n.id if isinstance(n, ast.Name)
            else n.value if isinstance(n, ast.Constant) and isinstance(n.value, str) else "")}
        if not words & _MODEL_SETTINGS:
            return None
        return self._picked_from(self.structure.exported_models(), None)

    def _picked_from(self, models: list, module: str | None) -> Val | None:
        """A new model that is one of ``models`` (classes of the checked
        tree), picked at run time; ``module`` is the name they are seen
        under from here, if one."""
        if not models:
            return None
        live = any(o.class_is_live(n) for o, n in models)
        # what it was built as, when every class it may be builds BatchNorm
        # (one of them stands for all: `module.Name` as seen from here; a
        # whole model rather than a block the others are built of)
        everywhere = all(o.has_batchnorm(n) for o, n in models)
        used = {w for o, n in models for w in o.classes[n].names if w != n}
        whole = [m for m in models if m[1] not in used] or models
        arch = None
        if everywhere and module is None:  # classes of other files, named from anywhere
            arch = class_ref(*whole[0])
        elif everywhere and self.structure.foreign_class(f"{module}.{whole[0][1]}") is not None:
            arch = f"{module}.{whole[0][1]}"
        return Val(mode=TRAINING, arch=arch, live=live)

    def _imported_package(self, owner: ast.AST) -> str | None:
        """For ``module`` assigned once in this function from
        ``importlib.import_module("pkg.models" f".{kind}.{name}")``: the
        package the module certainly lies in (``pkg.models``)."""
        if not isinstance(owner, ast.Name):
            return None
        values = [a.value for a in assignments(ast.walk(self.walk.func.node), owner.id) if len(a.targets) == 1]
        if len(values) != 1 or not isinstance(values[0], ast.Call) or not values[0].args:
            return None
        call = values[0]
        if self.imports.qualify(call.func) != "importlib.import_module":
            return None
        arg = call.args[0]
        if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(const(arg.values[0]), str):
            prefix = const(arg.values[0])
        elif isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Add) and isinstance(const(arg.left), str):
            prefix = const(arg.left)
        else:
            return None
        package = prefix.rpartition(".")[0] if not prefix.endswith(".") else prefix[:-1]
        return package if package and all(p.isidentifier() for p in package.split(".")) else None

    def _picked_by_method(self, e: ast.Call, f: ast.Attribute) -> Val | None:
        """``model = config.init_obj('arch', module_arch)``
        (victoresque/pytorch-template): a method called on an object bnlint
        knows nothing of (a parameter, say), whose name only one plain class
        this file defines or imports from the checked tree has: what it builds
        when it picks from a module it is given (:meth:`_picked_through`)."""
        if f.value.id in self.walk.func.locals or f.value.id == "self":
            return None  # an object of this function's: its class would be known if it were one
        if not any(isinstance(a, ast.Name) and a.id in self.imports.table for a in (*e.args, *(k.value for k in e.keywords))):
            return None  # it is given no imported module to pick from (most calls: `logger.info(x)`)
        owners = [cls for _, cls in self.structure.plain_classes() if f.attr in cls.methods]
        if len(owners) != 1:
            return None
        return self._picked_through(e, owners[0].methods[f.attr])

    def _picked_through(self, e: ast.Call, func: Func) -> Val | None:
        """What a call of ``func`` builds when ``func`` returns
        ``getattr(P, name)(...)`` of its parameter ``P`` (``def
        get_instance(module, name, config): return getattr(module,
        config[name]['type'])(...)``): one of the models of the module the
        call passes for ``P`` -- torchvision's or timm's, or one of the
        checked tree whose classes are models."""
        param = _picks_from_parameter(func)
        arg = passed(e, func, param) if param is not None else None
        module = self.imports.qualify(arg) if arg is not None else None
        return self._one_of_module(module) if module is not None else None

    def _one_of_module(self, module: str) -> Val | None:
        """A new model picked by a name known only at run time from
        ``module``: one of torchvision's / timm's models, or of the model
        classes a module of the checked tree offers."""
        if V.is_builder(f"{module}.resnet50"):
            return Val(mode=TRAINING)
        other = self.structure.module_structure(module)
        return self._picked_from(other.exported_models(), module) if other is not None else None


def passed(e: ast.Call, callee: Func, param: str) -> ast.expr | None:
    """The argument a call passes for a parameter of ``callee``, if it can be told."""
    if param in callee.positional:
        i = callee.positional.index(param)
        if i < len(e.args) and not any(isinstance(a, ast.Starred) for a in e.args[: i + 1]):
            return e.args[i]
    return next((k.value for k in e.keywords if k.arg == param), None)


def _picks_from_parameter(func: Func) -> str | None:
    """The parameter ``P`` when every ``return`` of ``func`` is
    ``getattr(P, name)(...)``: it builds what it picks by name from ``P``."""
    return _picks_from(func.node, tuple(func.params))


@functools.lru_cache(maxsize=4096)
def _picks_from(node: ast.AST, params: tuple[str, ...]) -> str | None:
    """:func:`_picks_from_parameter`, read once per function (it is asked at
    every call of a function that returns nothing known)."""
    picked = set()
    for n in own_nodes(node):
        if isinstance(n, ast.Return):
            v = n.value
            if not (isinstance(v, ast.Call) and isinstance(v.func, ast.Call) and isinstance(v.func.func, ast.Name)
                    and v.func.func.id == "getattr" and len(v.func.args) >= 2
                    and isinstance(v.func.args[0], ast.Name) and v.func.args[0].id in params):
                return None
            picked.add(v.func.args[0].id)
    return picked.pop() if len(picked) == 1 else None


def local_table(node: ast.AST, name: str) -> ast.Dict | None:
    """The dict literal a function assigns once to its local ``name`` and
    changes no further: no other store, no item stored or deleted, no
    method called on it (``update``, ``setdefault``, ``pop``)."""
    return _local_tables(node).get(name)


@functools.lru_cache(maxsize=1024)
def _local_tables(node: ast.AST) -> dict[str, ast.Dict]:
    """:func:`local_table` for every local name of a function, in one pass
    over its body (a subscript of any local asks)."""
    stores: dict[str, int] = {}
    tables: dict[str, ast.Dict] = {}
    spoiled: set[str] = set()
    for n in own_nodes(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            stores[n.id] = stores.get(n.id, 0) + 1
        elif isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) \
                and isinstance(n.value, ast.Dict):
            tables[n.targets[0].id] = n.value
        elif isinstance(n, (ast.Subscript, ast.Attribute)) and isinstance(n.value, ast.Name) \
                and (isinstance(n, ast.Attribute) or not isinstance(n.ctx, ast.Load)):
            spoiled.add(n.value.id)
    return {k: v for k, v in tables.items() if stores.get(k) == 1 and k not in spoiled}
