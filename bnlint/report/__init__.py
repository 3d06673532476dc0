"""Reporters: a :class:`~bnlint.findings.Run` in, output out, one module per
format behind one registry. Torch-free. Reporters (not analyses) decide how
paths are shown.

A reporter is a function ``(run, out, options) -> None`` writing to a text
stream; ``text`` is one like the others."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, TextIO

from bnlint.findings import Run


@dataclass(frozen=True)
class Options:
    quiet: bool = False  # no hints, notes or summary (text)
    concise: bool | None = None  # text: one line per finding; None: when not a terminal or under pre-commit
    color: bool | None = None  # None: decide from the stream and NO_COLOR
    width: int | None = None  # None: the terminal's


Reporter = Callable[[Run, TextIO, Options], None]

# format name -> "module:function", imported on use
REPORTERS: dict[str, str] = {
    "text": "bnlint.report.text:report",
    "json": "bnlint.report.json:report",
    "sarif": "bnlint.report.sarif:report",
    "github": "bnlint.report.github:report",
    "junit": "bnlint.report.junit:report",
}
FORMATS = tuple(REPORTERS)


def get_reporter(fmt: str) -> Reporter:
    try:
        target = REPORTERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})") from None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def render(run: Run, fmt: str, out: TextIO, options: Options = Options()) -> None:
    get_reporter(fmt)(run, out, options)
