"""What a class or function of a file may hold: BatchNorm or Dropout
(``live``), BatchNorm itself, or only the submodules it is given. Read from
the source, never run; a part of :class:`~bnlint.source.structure.FileStructure`
(which mixes this in), on the file's classes, functions, imports and the
other files of the checked tree it reads."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from bnlint.source import vocabulary as V
from bnlint.source.syntax import argument, const, dotted, identifier, identifiers

if TYPE_CHECKING:  # pragma: no cover
    from bnlint.source.structure import ClassInfo

# Constructor parameters that hold a network given from outside, besides the
# names models go by (vocabulary.looks_like_model_name).
_MODULE_PARAMS = frozenset({"features", "body", "trunk", "blocks", "layers", "module", "modules", "base", "arch"})


class Liveness:
    """The liveness questions of a :class:`~bnlint.source.structure.FileStructure`
    (``self`` is one: ``classes``, ``functions``, ``imports``, ``foreign()``,
    ``arch_class()``)."""

    def builds_no_layers(self, qual: str) -> bool:
        """Whether ``qual`` is a class of the checked tree whose own body
        builds no BatchNorm or Dropout: what it holds of them, it is given."""
        found = self.arch_class(qual)
        return found is not None and not found[0].class_is_live(found[1])

    def attribute_live(self, cls: "ClassInfo", attr: str, _seen: frozenset = frozenset()) -> bool | None:
        """Whether ``self.<attr>`` of a class of the file may hold BatchNorm
        or Dropout, from every assignment of it in the class: False when each
        builds inert torch.nn layers only (or is another such attribute);
        None when the class never assigns it."""
        if attr in _seen:
            return True
        found = False
        for node in ast.walk(cls.node):
            if not isinstance(node, ast.Assign) or not any(dotted(t) == f"self.{attr}" for t in node.targets):
                continue
            found = True
            value = V.construction(node.value)  # `self.pnet = PNet().to(device)`: the module itself
            if isinstance(value, ast.Call):
                q = self.imports.qualify(value.func) or ""
                # a class of this file, or of another module of the tree: as its body and what it is given say
                made = (self, value.func.id) if isinstance(value.func, ast.Name) and value.func.id in self.classes \
                    else self.foreign_class(q) if q and not V.is_torch_nn_class(q) else None
                if made is not None:
                    other, name = made
                    if other.class_is_live(name) or self.args_live(value) or self.given_live(other.classes[name], value):
                        return True
                    continue
                if not (V.is_torch_layer(q) and self.inert_call(value)):
                    return True
                inner = [a for a in ast.walk(value) if isinstance(a, ast.Attribute) and dotted(a) and dotted(a).startswith("self.")]
                if any(self.attribute_live(cls, dotted(a).split(".")[1], _seen | {attr}) is not False for a in inner):
                    return True
            elif dotted(value) and dotted(value).startswith("self.") and dotted(value).count(".") == 1:
                if self.attribute_live(cls, dotted(value).split(".")[1], _seen | {attr}) is not False:
                    return True
            else:
                return True
        return False if found else None

    def given_live(self, info: "ClassInfo", call: ast.Call | None) -> bool:
        """Whether a construction of ``info`` hands it a submodule that may
        hold BatchNorm or Dropout: an argument for one of its
        :meth:`~ClassInfo.given_modules` that is a value built elsewhere (a
        name, a dict holding a model: what it holds is not known here; the
        calls in arguments are read by :meth:`args_live`)."""
        if call is None:
            return False
        # a parameter named for a network (`backbone`, `encoder`, `features`): `activation=F.relu`
        # is stored and called the same way, and holds nothing
        given = [(i, p) for i, p in info.given_modules() if V.looks_like_model_name(p) or p in _MODULE_PARAMS]

        def unread(arg: ast.AST) -> bool:
            if isinstance(arg, ast.Constant) or any(isinstance(n, ast.Call) for n in ast.walk(arg)):
                return False
            return not (self.imports.qualify(arg) or "").startswith("torch.")  # F.relu, torch.tanh

        for i, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                return bool(given)
            if any(i == j for j, _ in given) and unread(arg):
                return True
        names = {p for _, p in given}
        return any(k.arg in names and unread(k.value) for k in call.keywords)

    def args_live(self, call: ast.Call | None) -> bool:
        """Whether a construction's arguments build BatchNorm or Dropout:
        ``VGG(make_layers(cfg, batch_norm=True))`` holds the layers its
        argument builds, though VGG's own body builds none. Only calls in the
        arguments count (a plain name may hold anything, or nothing)."""
        if call is None:
            return False
        for arg in (*call.args, *(k.value for k in call.keywords)):
            for node in ast.walk(arg):
                if not isinstance(node, ast.Call):
                    continue
                q = self.imports.qualify(node.func)
                if q is not None:
                    if V.is_torch_nn_class(q):
                        if not V.is_inert_layer(q, node):
                            return True
                    elif V.is_builder(q):  # Net(backbone=resnet50())
                        return True
                    elif self.foreign(q) is not None and self._foreign_is_live(q):  # read, not guessed:
                        return True  # `math.sqrt(n)` or `np.zeros(3)` in an argument builds no layer
                elif isinstance(node.func, ast.Name):
                    name = node.func.id
                    if name in self.classes and self.class_is_live(name):
                        return True
                    fn_node = self.functions[name].node if name in self.functions else None
                    if fn_node is not None and self._names_live(fn_node, identifiers(fn_node)):
                        return True
        return False

    def has_batchnorm(self, name: str) -> bool:
        """Whether a class of the file builds BatchNorm layers: itself (a
        BatchNorm layer, ``self.f = resnet18()``), a base, or what it uses --
        a class, a function (``self.block = conv2d(3, 8)`` returning an
        ``nn.Sequential`` with a BatchNorm), a module-level table
        (``model_fun, dim_in = model_dict[name]``), of this file or imported
        from another module of the tree (``self.backbone = darknet53()``),
        transitively."""
        return self._builds_batchnorm([("class", name)], set())

    def _builds_batchnorm(self, pending: list, seen: set) -> bool:
        """:meth:`has_batchnorm` over ``pending`` ("class"/"name", name) items
        of this file; ``seen`` holds (path, kind, name) across files."""
        while pending:
            kind, name = pending.pop()
            if (self.path, kind, name) in seen:
                continue
            seen.add((self.path, kind, name))
            if kind == "class":
                info = self.classes[name]
                node, names = info.node, info.names
                pending.extend(("class", p.name) for p in info.parents)
                if any(self._foreign_batchnorm(b, seen) for b in info.bases if b not in self.classes):
                    return True
            else:  # a name used by something that builds: a class, a function, a table, an import
                if name in self.classes:
                    pending.append(("class", name))
                    continue
                func = self.functions.get(name)
                node = func.node if func is not None else self.module_value(name)
                if node is None:
                    if name in self.imports.table and self._foreign_batchnorm(self.imports.table[name], seen):
                        return True
                    continue
                names = identifiers(node)
            if any("BatchNorm" in n for n in names):
                return True
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call):
                    q = self.imports.qualify(sub.func)
                    if q and V.is_builder(q) and V.names_batchnorm_architecture(q):
                        return True
            pending.extend(("name", n) for n in names if n != name)
        return False

    def _foreign_batchnorm(self, qual: str, seen: set) -> bool:
        """Whether a class or function of another module of the tree builds BatchNorm."""
        if not qual or qual.split(".", 1)[0] in V.NO_MODULES or qual.startswith("torch."):
            return False
        found = self.foreign(qual)
        if found is None:
            return False
        other, name = found
        return other._builds_batchnorm([("class" if name in other.classes else "name", name)], seen)

    def inert_call(self, call: ast.Call) -> bool:
        """A ``torch.nn`` construction that certainly holds no BatchNorm or
        Dropout (``nn.Linear``, ``nn.Sequential`` of such layers)."""
        for node in ast.walk(call):
            if isinstance(node, ast.keyword) and node.arg == "track_running_stats":
                return False  # an InstanceNorm with running statistics depends on the mode
            if isinstance(node, ast.Call):
                q = self.imports.qualify(node.func) or ""
                if V.is_torch_nn_class(q):
                    if not V.is_inert_layer(q, node):
                        return False
                elif not (node is not call and q.startswith("torch.")):
                    if q or not (isinstance(node.func, ast.Name) and node.func.id in V.BUILTINS):
                        return False
        return True

    def _foreign_is_live(self, qual: str) -> bool:
        """Whether calling ``qual``, a name imported from elsewhere, may build
        BatchNorm or Dropout: a class of the checked tree as its body says, a
        function of it when it names such a layer; anything unread may --
        except the libraries that build no torch module at all (numpy, math,
        the standard library's helpers, image and plotting libraries)."""
        if qual.split(".", 1)[0] in V.NO_MODULES:
            return False
        found = self.foreign(qual)
        if found is None:
            return True
        other, name = found
        if name in other.classes:
            return other.class_is_live(name)
        node = other.functions[name].node
        return other._names_live(node, identifiers(node))

    def class_is_live(self, name: str, _seen: frozenset = frozenset()) -> bool:
        """Whether instances of a class of this file may hold BatchNorm or
        Dropout: False only when its body builds nothing but inert torch.nn
        layers, torch functions and other inert classes of the file."""
        info = self.classes[name]
        if info.live is not None:
            return info.live
        if ("class", name) in _seen:
            return True
        seen = _seen | {("class", name)}
        live = self._names_live(info.node, info.names) or any(self.class_is_live(p.name, seen) for p in info.parents)
        if not live:
            live = self._calls_live(info.node, seen)
        info.live = live
        return live

    def _names_live(self, node: ast.AST, names: "set[str]") -> bool:
        """Whether a class's or function's code (``node``, whose identifiers
        are ``names``) names BatchNorm, Dropout (or RReLU, running
        statistics): a functional dropout called with ``training=False``
        (a constant) is off in either mode and does not count."""
        if not any(V.LIVE_WORDS.search(n) for n in names):
            return False
        off: set[int] = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and const(argument(n, 2, "training")) is False \
                    and (self.imports.qualify(n.func) or "").startswith("torch.nn.functional."):
                off.update(id(m) for m in ast.walk(n.func))
        return any(
            V.LIVE_WORDS.search(name) for n in ast.walk(node)
            if id(n) not in off and (name := identifier(n))
        )

    def function_is_live(self, name: str, _seen: frozenset = frozenset()) -> bool:
        """Whether calling a top-level function of this file may build
        BatchNorm or Dropout: it names such a layer, or calls a torch.nn
        layer that is not inert, a live class or function of the file, or
        anything unread. A tensor helper (``def cuda_variable(t): return
        Variable(t.cuda())``) builds nothing."""
        if ("function", name) in _seen:
            return True
        func = self.functions[name]
        if self._names_live(func.node, identifiers(func.node)):
            return True
        return self._calls_live(func.node, _seen | {("function", name)})

    def _calls_live(self, tree: ast.AST, seen: frozenset) -> bool:
        """Whether a call in ``tree`` may build BatchNorm or Dropout: a
        torch.nn layer that is not inert, a live class or function of the file
        (those being asked about already, ``seen``, count as live), a name of
        another module that may, or anything unread. Method calls on self,
        tensors and locals build nothing new; other torch calls neither."""
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            q = self.imports.qualify(f)
            if q is not None:
                if V.is_torch_nn_class(q):
                    live = not V.is_inert_layer(q, node)
                else:
                    live = not q.startswith("torch.") and self._foreign_is_live(q)
            elif isinstance(f, ast.Name):
                if f.id in self.classes:
                    live = self.class_is_live(f.id, seen)
                elif f.id in self.functions:  # `return cuda_variable(torch.zeros(...))` in a method
                    live = self.function_is_live(f.id, seen)
                else:  # a builtin builds nothing; a parameter or local called could be anything
                    live = f.id not in V.BUILTINS
            else:
                live = False
            if live:
                return True
        return False
