"""The anatomy of a rule (after Fixit and ruff). Importing this costs no torch.

A rule is a class in its own file under ``rules/`` (shipped as
``bnlint.rules``). It declares its metadata as class attributes, documents
itself in its docstring (sections *What it does*, *Why is this bad?*,
*Example*, *Use instead*, *Fix safety* when it has a fix, *References*), and
carries VALID and INVALID examples that the test suite runs automatically.

It implements one or both of:

* ``check_model(ctx)`` -- ``ctx`` is a :class:`bnlint.model.context.ModelContext`
  (the model, its :class:`bnlint.model.graph.ModelGraph`, its train-mode snapshot);
* ``check_source(ctx)`` -- ``ctx`` is a source context from
  :mod:`bnlint.source` (stdlib ``ast``; nothing imported or executed).

Rules only read: they never mutate the model or the graph. Torch is imported
inside ``check_model`` so that listing and documenting rules stays fast.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Literal

from bnlint.findings import Finding, FixSafety, Severity

if TYPE_CHECKING:  # pragma: no cover
    from bnlint.model.context import ModelContext

CODE_RE = re.compile(r"^BN\d{3}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "References")

Needs = Literal["graph", "model", "state", "shapes", "source"]


@dataclass(frozen=True)
class Example:
    """A self-contained snippet for a rule's docs and tests.

    ``kind="model"``: Python source that defines ``model`` (an ``nn.Module``),
    and optionally ``example_inputs``. ``kind="source"``: a script or module
    analyzed as text. ``expect`` is how many findings of the rule the snippet
    must produce (INVALID examples: at least one; VALID examples: zero).

    An INVALID example pins its findings: ``at`` says where each one is --
    ``"@features.0"`` a module path, any other string a fragment of the
    reported line of the snippet (``"F.dropout(x"``) -- one entry per
    finding, and ``message`` is a fragment every finding's message contains.
    """

    code: str
    kind: Literal["model", "source"] = "model"
    expect: int | None = None  # None: "at least one" for invalid examples
    at: str | tuple[str, ...] | None = None
    message: str | None = None

    @property
    def text(self) -> str:
        return inspect.cleandoc(self.code) + "\n"

    @property
    def places(self) -> tuple[str, ...]:
        return (self.at,) if isinstance(self.at, str) else tuple(self.at or ())

    def line_of(self, fragment: str) -> int:
        """The line of the snippet holding ``fragment`` (exactly one must)."""
        lines = [i for i, l in enumerate(self.text.splitlines(), 1) if fragment in l]
        if len(lines) != 1:
            raise ValueError(f"example: {fragment!r} is on {len(lines)} lines, expected one")
        return lines[0]


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    needs: ClassVar[tuple[Needs, ...]]
    summary: ClassVar[str]  # one line, what is found (SARIF shortDescription)
    hint: ClassVar[str | None] = None  # one line, what to do, shown under a finding
    fix: ClassVar[str | None] = None  # what the fix does, if there is one
    fix_safety: ClassVar[FixSafety | None] = None
    # Only reported when explicitly selected (e.g. inference-readiness checks).
    opt_in: ClassVar[bool] = False
    valid: ClassVar[tuple[Example, ...]] = ()
    invalid: ClassVar[tuple[Example, ...]] = ()

    # -- analysis hooks (override one or both) ---------------------------------
    def check_model(self, ctx: "ModelContext") -> Iterable[Finding]:
        return ()

    def check_source(self, ctx: Any) -> Iterable[Finding]:
        return ()

    @classmethod
    def analyzes_models(cls) -> bool:
        return cls.check_model is not Rule.check_model

    @classmethod
    def analyzes_source(cls) -> bool:
        return cls.check_source is not Rule.check_source

    # -- helpers ---------------------------------------------------------------
    @classmethod
    def docs(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def missing_doc_sections(cls) -> list[str]:
        doc = cls.docs()
        wanted = list(DOC_SECTIONS)
        if cls.fix:
            wanted.insert(4, "Fix safety")
        return [s for s in wanted if not re.search(rf"^\s*{re.escape(s)}", doc, re.M)]

    @classmethod
    def make(cls, message: str, **fields: Any) -> Finding:
        """A finding of this rule; location fields come from the caller."""
        return Finding(
            code=cls.code,
            name=cls.name,
            severity=fields.pop("severity", cls.severity),
            message=message,
            fix=fields.pop("fix", cls.fix),  # a finding the fix does not fit says so with None
            fix_safety=fields.pop("fix_safety", cls.fix_safety),
            hint=fields.pop("hint", cls.hint),
            **fields,
        )

    def __repr__(self) -> str:
        return f"<rule {self.code} {self.name}>"
