"""Rule discovery by existence: every rule class in a module of ``bnlint.rules``,
plus third-party rules published under the ``bnlint.rules`` entry-point group.
Importing rules costs no torch (rules import it inside ``check_model``)."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points
from typing import Iterable

from bnlint.engine.rule import CODE_RE, NAME_RE, Rule

ENTRY_POINT_GROUP = "bnlint.rules"


class RegistryError(Exception):
    pass


def _rules_in_module(module) -> list[type[Rule]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Rule)
        and obj is not Rule
        and obj.__module__ == module.__name__
        and "code" in obj.__dict__
    ]


def _entry_point_rules() -> list[type[Rule]]:
    found: list[type[Rule]] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if inspect.isclass(obj) and issubclass(obj, Rule):
            found.append(obj)
        elif inspect.ismodule(obj):
            found.extend(_rules_in_module(obj))
        else:
            raise RegistryError(
                f"entry point {ep.name!r} in group {ENTRY_POINT_GROUP!r} is neither "
                "a Rule subclass nor a module of rules"
            )
    return found


@functools.lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    """Every known rule class, sorted by code. Raises RegistryError on a
    malformed or duplicated code."""
    import bnlint.rules as pkg

    classes: list[type[Rule]] = []
    for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        classes.extend(_rules_in_module(importlib.import_module(info.name)))
    classes.extend(_entry_point_rules())

    seen: dict[str, type[Rule]] = {}
    for cls in classes:
        if not CODE_RE.match(cls.code):
            raise RegistryError(f"{cls.__qualname__}: malformed rule code {cls.code!r}")
        if not NAME_RE.match(cls.name):
            raise RegistryError(f"{cls.__qualname__}: rule name {cls.name!r} is not kebab-case")
        if cls.code in seen and seen[cls.code] is not cls:
            raise RegistryError(
                f"rule code {cls.code} is defined twice: {seen[cls.code].__module__} "
                f"and {cls.__module__}"
            )
        seen[cls.code] = cls
    return tuple(sorted(seen.values(), key=lambda c: c.code))


def get_rule(code_or_name: str) -> type[Rule] | None:
    key = code_or_name.strip()
    for cls in all_rules():
        if cls.code == key.upper() or cls.name == key.lower():
            return cls
    return None


def select_rules(
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    rules: Iterable[type[Rule]] | None = None,
) -> list[type[Rule]]:
    """Filter rules by code prefixes (``BN1``, ``BN101``) or names.

    With no ``select``, every rule that is not opt-in is selected; an opt-in
    rule runs only when a selector names it (or its prefix) explicitly.
    Raises ValueError on a selector that matches no rule."""
    pool = list(rules if rules is not None else all_rules())

    def matches(cls: type[Rule], sel: str) -> bool:
        sel = sel.strip()
        return cls.code.startswith(sel.upper()) or cls.name == sel.lower()

    for sel in [*(select or ()), *(ignore or ())]:
        if not sel.strip() or sel.strip().upper() == "ALL":
            continue
        if not any(matches(c, sel) for c in pool):
            raise ValueError(f"unknown rule selector {sel!r} (see `bnlint rules`)")

    select = [s for s in (select or ()) if s.strip()]
    if not select:
        chosen = [c for c in pool if not c.opt_in]
    elif any(s.strip().upper() == "ALL" for s in select):
        chosen = list(pool)
    else:
        chosen = [c for c in pool if any(matches(c, s) for s in select)]
    ignore = [s for s in (ignore or ()) if s.strip()]
    return [c for c in chosen if not any(matches(c, s) for s in ignore)]
