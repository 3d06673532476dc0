"""``--format github``: GitHub Actions workflow commands, which the runner
turns into annotations on the pull request's diff::

    ::warning file=models/net.py,line=11,col=20,title=BN101 conv-bias-before-batchnorm::Linear 'fc1' ...%0Ahint: ...

One line per finding (``error``/``warning``/``notice`` for error/warning/info),
the file relative to the repo root (the workspace GitHub resolves it
against), the hint and fix after the message on lines of their own. A
finding without a file still gets a line, with no ``file=``.

Configuration warnings and internal errors follow as ``::warning`` and
``::error`` lines without a file: they can fail the step (an unused
suppression under ``--warn-unused-ignores``, exit 2), and an annotation says
why where the log would not be read. Notes are not annotations: they do not
change the outcome, the CLI already writes them to the log (stderr), and
GitHub shows only a few annotations of each kind per step, which notes would
take from real findings."""

from __future__ import annotations

from typing import TextIO

from bnlint.findings import Finding, Run, Severity
from bnlint.report._common import below, details, ordered, repo_root

COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """A command's message: ``%``, CR and LF encoded (``%`` first)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (``file=``, ``title=``): as data, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **props: object) -> str:
    """``::name k=v,k=v::message`` with both parts escaped; None props left out."""
    given = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items() if v is not None)
    return f"::{name}{' ' + given if given else ''}::{escape_data(message)}"


def annotation(f: Finding, root) -> str:
    path = (below(f.path, root) or f.path) if f.path else None
    line = f.line if path else None
    return command(
        COMMAND[f.severity],
        "\n".join([f.message, *details(f)]),
        file=path, line=line, col=(f.col or 1) if line else None, title=f"{f.code} {f.name}",
    )


def report(run: Run, out: TextIO, options) -> None:
    root = repo_root()
    lines = [annotation(f, root) for f in ordered(run)]
    lines += [command("warning", w, title="bnlint") for w in (*run.warnings, *run.unused_ignores)]
    lines += [command("error", e, title="bnlint internal error") for e in run.internal_errors]
    out.write("".join(line + "\n" for line in lines))
