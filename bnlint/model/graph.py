"""The read-only model graph the rules query.

Wraps the traced fragments of one model (see :mod:`bnlint.trace`) with the
questions rules ask: which module a node calls and its dotted path, value
producers and consumers, "is this the only consumer", searches downstream and
upstream, every call site of a module, where a module was constructed and
which forward line calls it."""

from __future__ import annotations

import os
from collections import deque
from typing import Callable, Iterable, Iterator

import torch.fx as fx
import torch.nn as nn

from bnlint.model import layers
from bnlint.findings import Location
from bnlint.model.sites import SiteRecorder
from bnlint.model.trace import SITE_KEY, Fragment, Opaque, TraceResult, is_torch_layer

NodePredicate = Callable[[fx.Node], bool]


class ModelGraph:
    def __init__(self, model: nn.Module, traced: TraceResult, sites: SiteRecorder | None = None):
        self.model = model
        self.fragments: list[Fragment] = traced.fragments
        self.opaque: list[Opaque] = traced.opaque
        self._sites = sites
        # the module tree, walked once: rules ask for it many times (the
        # model is not changed while it is analyzed)
        self._named: list[tuple[str, nn.Module]] = list(model.named_modules())
        self._by_name: dict[str, nn.Module] = dict(self._named)
        self._qualname: dict[int, str] = {}
        for name, m in self._named:
            self._qualname.setdefault(id(m), name)
        self._fragment_of: dict[fx.Node, Fragment] = {}
        self._called: dict[fx.Node, nn.Module] = {}  # call_module node -> the module it calls
        self._calls: dict[int, list[fx.Node]] = {}
        for frag in self.fragments:
            for node in frag.graph.nodes:
                self._fragment_of[node] = frag
                if node.op == "call_module":
                    m = self._called[node] = frag.root.get_submodule(node.target)
                    self._calls.setdefault(id(m), []).append(node)
        self._opaque_ids = {
            id(self.module(o.qualname)) for o in self.opaque if self.module(o.qualname) is not None
        }

    # -- modules --------------------------------------------------------------
    def modules(self, types: type | tuple[type, ...] = nn.Module) -> Iterator[tuple[str, nn.Module]]:
        """Every (dotted path, module) of the model that is an instance of ``types``."""
        for name, m in self._named:
            if isinstance(m, types):
                yield name, m

    def module(self, qualname: str) -> nn.Module | None:
        try:
            found = self._by_name.get(qualname)
            return found if found is not None else self.model.get_submodule(qualname)
        except AttributeError:
            return None

    def qualname(self, module_or_node: nn.Module | fx.Node) -> str:
        if isinstance(module_or_node, fx.Node):
            m = self.module_of(module_or_node)
            if m is not None:
                return self._qualname.get(id(m), "")
            stack = module_or_node.meta.get("nn_module_stack")
            return next(reversed(stack)) if stack else self._fragment_of[module_or_node].prefix
        return self._qualname.get(id(module_or_node), "")

    def module_of(self, node: fx.Node) -> nn.Module | None:
        """The module a ``call_module`` node calls (None for other nodes)."""
        if node.op != "call_module":
            return None
        m = self._called.get(node)
        return m if m is not None else self._fragment_of[node].root.get_submodule(node.target)

    def is_opaque(self, node: fx.Node) -> bool:
        """A call of a module whose inside could not be traced (not a torch layer)."""
        m = self.module_of(node)
        return m is not None and id(m) in self._opaque_ids and not is_torch_layer(m)

    # -- nodes ----------------------------------------------------------------
    def nodes(self) -> Iterator[fx.Node]:
        for frag in self.fragments:
            yield from frag.graph.nodes

    def calls(self, types: type | tuple[type, ...]) -> Iterator[tuple[fx.Node, nn.Module]]:
        """Every call_module node whose module is an instance of ``types``."""
        for node in self.nodes():
            m = self.module_of(node)
            if m is not None and isinstance(m, types):
                yield node, m

    def function_calls(self, targets: Iterable) -> Iterator[fx.Node]:
        targets = set(targets)
        for node in self.nodes():
            if node.op == "call_function" and node.target in targets:
                yield node

    def call_sites(self, module: nn.Module) -> list[fx.Node]:
        """Every node that calls ``module`` (more than one: a shared module)."""
        return list(self._calls.get(id(module), ()))

    def producers(self, node: fx.Node) -> list[fx.Node]:
        return list(node.all_input_nodes)

    def consumers(self, node: fx.Node) -> list[fx.Node]:
        """The nodes that use ``node``'s values (shape queries do not count)."""
        return [u for u in node.users if not layers.is_shape_query(u)]

    def is_only_consumer(self, node: fx.Node, consumer: fx.Node) -> bool:
        return self.consumers(node) == [consumer]

    def downstream(
        self, start: fx.Node, match: NodePredicate, through: NodePredicate = lambda n: True
    ) -> list[fx.Node]:
        """The nearest nodes matching ``match`` on any path from ``start``:
        the search stops at a match and does not pass nodes failing ``through``."""
        return self._search(start, match, through, self.consumers)

    def upstream(
        self, start: fx.Node, match: NodePredicate, through: NodePredicate = lambda n: True
    ) -> list[fx.Node]:
        return self._search(start, match, through, self.producers)

    @staticmethod
    def _search(start, match, through, step) -> list[fx.Node]:
        seen = {start}
        queue = deque(step(start))
        found: list[fx.Node] = []
        while queue:
            node = queue.popleft()
            if node in seen:
                continue
            seen.add(node)
            if match(node):
                found.append(node)
            elif through(node):
                queue.extend(step(node))
        return found

    # -- locations --------------------------------------------------------------
    def site(self, module_or_qualname: nn.Module | str) -> Location | None:
        """Where a module was constructed (the ``nn.Conv2d(...)`` call)."""
        m = self._as_module(module_or_qualname)
        return self._sites.site(m) if m is not None and self._sites is not None else None

    def library_site(self, module_or_qualname: nn.Module | str) -> Location | None:
        """Where a library constructed the module, when one did."""
        m = self._as_module(module_or_qualname)
        return self._sites.library_site(m) if m is not None and self._sites is not None else None

    def _as_module(self, module_or_qualname: nn.Module | str) -> nn.Module | None:
        return self.module(module_or_qualname) if isinstance(module_or_qualname, str) else module_or_qualname

    def forward_site(self, node: fx.Node) -> Location | None:
        """The user's forward line that produced ``node`` (innermost user frame)."""
        site = node.meta.get(SITE_KEY)
        return site if site is not None and os.path.exists(site.path) else None
