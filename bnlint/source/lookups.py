"""What a file of the checked tree finds in the others, beyond its own
imports: the model classes and functions of a package's modules, the classes
entered into a registry by a decorator, the module-level objects its names
reach, the model classes a module offers by name, and the plain classes
(trainers, engines, evaluators) it defines or imports. Read from the source, never run; a part of
:class:`~bnlint.source.structure.FileStructure` (which mixes this in)."""

from __future__ import annotations

import ast
import os
from typing import TYPE_CHECKING

from bnlint.source.syntax import dotted

if TYPE_CHECKING:  # pragma: no cover
    from bnlint.source.structure import ClassInfo, FileStructure


class TreeLookups:
    """The lookups of a :class:`~bnlint.source.structure.FileStructure` in
    the rest of the tree (``self`` is one: ``classes``, ``functions``,
    ``imports``, ``module_structure()``, ``foreign_class()``,
    ``module_value()``)."""

    def plain_class(self, qual: str) -> "tuple[FileStructure, ClassInfo] | None":
        """The class ``qual`` names when it is one of the checked tree's (of
        this file, or imported from another) that is no module and whose
        methods are walked -- a trainer, an engine: an object of it holds
        models, it is none. (Its file's structure, the class.)"""
        found = (self, qual) if qual in self.classes else (self.foreign_class(qual) if "." in qual else None)
        if found is None:
            return None
        cls = found[0].classes[found[1]]
        return (found[0], cls) if not cls.is_model and not cls.managed and cls.methods else None

    def plain_classes(self) -> "list[tuple[FileStructure, ClassInfo]]":
        """The plain classes (:meth:`plain_class`) this file defines or
        imports by name from the checked tree, listed once."""
        if self._plain_classes is None:
            names = {*self.classes, *(q for q in self.imports.table.values() if "." in q)}
            self._plain_classes = [plain for plain in map(self.plain_class, sorted(names)) if plain is not None]
        return self._plain_classes

    def exported_models(self, _depth: int = 0) -> "list[tuple[FileStructure, str]]":
        """The model classes a module offers by name: its own, those it
        imports by name, and those of the modules it star-imports
        (``from .resnet import *`` in ``models/__init__.py``)."""
        found = [(self, c.name) for c in self.classes.values() if c.is_model]
        if _depth > 3:
            return found
        for q in self.imports.table.values():
            other = self.foreign_class(q)
            if other is not None and other[0].classes[other[1]].is_model:
                found.append(other)
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                other = self.module_structure("." * node.level + (node.module or ""))
                if other is not None and other is not self:
                    found.extend(other.exported_models(_depth + 1))
        return found

    def package_classes(self, package: str, name: str) -> "list[tuple[FileStructure, str]]":
        """The model classes called ``name`` in the modules of a package of
        the checked tree, at any depth (``importlib.import_module(
        f"pkg.models.{kind}.{arch}")`` then ``getattr(module, "Network")``):
        at most :data:`_PACKAGE_FILES` files are read."""
        return self._package_members(package, lambda other: name in other.classes and other.classes[name].is_model,
                                     name)

    def package_functions(self, package: str, name: str) -> "list[tuple[FileStructure, str]]":
        """The module-level functions called ``name`` in the modules of a
        package of the checked tree, at any depth (``eval('models.' + arch +
        '.get_pose_net')``), read as :meth:`package_classes` reads them."""
        return self._package_members(package, lambda other: name in other.functions, name)

    def _package_members(self, package: str, has, name: str) -> "list[tuple[FileStructure, str]]":
        init = self.module_structure(package)
        if init is None or os.path.basename(init.path) != "__init__.py":
            return []
        return [(other, name) for other in _files_below(os.path.dirname(os.path.abspath(init.path))) if has(other)]

    def module_object(self, expr: ast.expr, _depth: int = 0) -> "tuple[FileStructure, str] | None":
        """The module-level object ``expr`` names when it is assigned a call
        once (``META_ARCH_REGISTRY = Registry("META_ARCH")``): this file's,
        or another's of the checked tree reached through imports and
        re-exports (``from .build import META_ARCH_REGISTRY``)."""
        name = dotted(expr)
        if name is None or _depth > 4:
            return None
        qual = self.imports.qualify(expr)
        if qual is None:
            return (self, name) if "." not in name and isinstance(self.module_value(name), ast.Call) else None
        module, _, attr = qual.rpartition(".")
        other = self.module_structure(module) if module else None
        if other is None or other is self:
            return None
        return other.module_object(ast.Name(attr), _depth + 1)

    def registered_classes(self, name: str) -> "list[tuple[FileStructure, str]]":
        """The model classes registered in this file's module-level object
        ``name`` by a class decorator (``@META_ARCH_REGISTRY.register()``,
        mmcv's ``@MODELS.register_module()``), in the modules of this file's
        directory at any depth (at most :data:`_PACKAGE_FILES` files read)."""
        if name not in self._registered:
            me = os.path.abspath(self.path)
            self._registered[name] = [
                (other, cls.name) for other in _files_below(os.path.dirname(me)) for cls in other.classes.values()
                if cls.is_model and any(other._registers_in(d, me, name) for d in cls.node.decorator_list)
            ]
        return self._registered[name]

    def _registers_in(self, decorator: ast.expr, path: str, name: str) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if not (isinstance(target, ast.Attribute) and target.attr in ("register", "register_module")):
            return False
        found = self.module_object(target.value)
        return found is not None and os.path.abspath(found[0].path) == path and found[1] == name


def _files_below(top: str):
    """The parsed ``.py`` files under ``top``, at any depth, in a stable
    order (hidden and dunder directories left out); at most
    :data:`_PACKAGE_FILES` are read."""
    from bnlint.source.structure import structure_of  # the module that mixes this in

    seen = 0
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            seen += 1
            if seen > _PACKAGE_FILES:
                return
            other = structure_of(os.path.join(root, f))
            if other is not None:
                yield other


_PACKAGE_FILES = 500  # modules of a package read for a class picked by name from any of them
