"""What a source rule sees: one parsed file, its imports, and -- built
when first asked -- its structure and flow analysis."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from bnlint.findings import Finding
from bnlint.source.interproc import SourceAnalysis
from bnlint.source.structure import FileStructure
from bnlint.source.syntax import Imports

# Cheap text checks: a file that mentions none of these has nothing for the
# flow analysis to find, and is not walked at all.
_FLOW_WORDS = re.compile(r"no_grad|inference_mode|set_grad_enabled|\.eval\(|\.train\(|jit\.trace|export|backward|requires_grad")


def needs_flow(text: str) -> bool:
    return _FLOW_WORDS.search(text) is not None


@dataclass
class SourceContext:
    """What a source rule sees: one parsed file and its analysis."""

    path: str
    text: str
    tree: ast.Module
    _analysis: SourceAnalysis | None = None
    _imports: Imports | None = None

    @property
    def analysis(self) -> SourceAnalysis:
        if self._analysis is None:
            self._analysis = SourceAnalysis(FileStructure(self.path, self.text, self.tree, self.imports))
        return self._analysis

    @property
    def flow(self) -> SourceAnalysis | None:
        """The mode analysis, or None for a file that mentions nothing it
        could find (no no_grad, eval(), train(), export, backward ...)."""
        return self.analysis if needs_flow(self.text) else None

    @property
    def imports(self) -> Imports:
        if self._imports is None:
            self._imports = Imports(self.tree)
        return self._imports

    def report(self, rule, message: str, node: ast.AST, **fields) -> Finding:
        return rule.make(
            message,
            path=self.path,
            line=getattr(node, "lineno", 1),
            col=getattr(node, "col_offset", 0) + 1,
            source="source",
            **fields,
        )
