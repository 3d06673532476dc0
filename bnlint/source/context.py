"""What a source rule sees: one parsed file, its imports, and -- built
when first asked -- its structure and flow analysis."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from bnlint.findings import Finding
from bnlint.source.interproc import SourceAnalysis
from bnlint.source.structure import FileStructure, known_structure
from bnlint.source.syntax import Imports

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
            structure = known_structure(
                self.path, self.text, lambda: FileStructure(self.path, self.text, self.tree, self.imports)
            )
            # the file's own analysis (every fact) is the rules' only; what
            # importers need of it are summaries, kept per function
            self._analysis = SourceAnalysis(structure)
        return self._analysis

    @property
    def flow(self) -> SourceAnalysis:
        """The mode analysis. Every file is walked: no text pre-filter
        decides what is read (``def predict(net, x): return net(x)`` names
        none of the usual words and is still an inference)."""
        return self.analysis

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
