"""The source side: training and inference scripts read with the stdlib
``ast`` -- nothing imported or executed, no torch, so ``bnlint check
--static`` is safe on any file and fast enough for a pre-commit hook.

The layers, each on the ones before it:

* :mod:`~bnlint.source.syntax` -- ast helpers and the file's imports;
* :mod:`~bnlint.source.vocabulary` -- what torch's names (and training
  code's naming conventions) mean;
* :mod:`~bnlint.source.flow` -- modes, and the flow state one path carries
  (fork / join);
* :mod:`~bnlint.source.liveness` and :mod:`~bnlint.source.structure` --
  what a class or function may hold (BatchNorm, Dropout); classes, functions,
  what constructors build;
* :mod:`~bnlint.source.facts` -- what a walk records and rules read;
* :mod:`~bnlint.source.expressions` (with :mod:`~bnlint.source.builds`, what
  an expression builds) and :mod:`~bnlint.source.walker` (with
  :mod:`~bnlint.source.loops`, loops and collections of models) -- the walk
  of one function: expressions and calls, statements;
* :mod:`~bnlint.source.interproc` -- the file: summaries, call chains, the
  queries rules ask (:class:`SourceAnalysis`);
* :mod:`~bnlint.source.context` -- the :class:`SourceContext` a rule is handed.

Heuristics that one rule uses live in that rule's file."""

from bnlint.source.context import SourceContext
from bnlint.source.facts import CallOf, Export, Freeze, ModelCall, ModeSet, Reentry, Step, Thaw
from bnlint.source.flow import EVAL, EVALUATING, FROM_CALLER, TRAIN, TRAINING, Mode
from bnlint.source.interproc import SourceAnalysis
from bnlint.source.structure import CycleMemo, FileStructure, Func
from bnlint.source.syntax import parse

__all__ = [
    "EVAL", "EVALUATING", "FROM_CALLER", "TRAIN", "TRAINING", "CallOf", "CycleMemo", "Export", "FileStructure", "Freeze",
    "Func", "Mode", "ModelCall", "ModeSet", "Reentry", "SourceAnalysis", "SourceContext", "Step", "Thaw",
    "parse",
]
