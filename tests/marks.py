"""Expectation marks in fixture files (after semgrep and pylint).

    x = nn.Conv2d(3, 8, 3)  # expect: BN101
    x = nn.Conv2d(3, 8, 3)  # expect: BN101 @features.0 @features.4   (one per module)
    x = nn.Dropout(0.2)     # ok: BN201                                (must stay clean)
    x = F.dropout(x)        # todo-expect: BN203                       (a known miss)

Several codes: `# expect: BN101, BN201` or `# expect: BN101  ok: BN201`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_MARK = re.compile(r"(?P<kind>todo-expect|expect|ok):\s*(?P<body>(?:BN\d{3}(?:\s+@[\w.]+)*(?:\s*,\s*)?)+)")


@dataclass
class Marks:
    expect: dict[tuple[int, str], list[str]] = field(default_factory=dict)  # (line, code) -> modules
    ok: set[tuple[int, str]] = field(default_factory=set)
    todo: set[tuple[int, str]] = field(default_factory=set)


def parse_marks(path: Path) -> Marks:
    marks = Marks()
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if "#" not in line:
            continue
        comment = line[line.index("#"):]
        for m in _MARK.finditer(comment):
            for item in m.group("body").split(","):
                tokens = item.split()
                if not tokens:
                    continue
                code, modules = tokens[0], [t[1:] for t in tokens[1:]]
                key = (lineno, code)
                if m.group("kind") == "expect":
                    marks.expect[key] = modules
                elif m.group("kind") == "ok":
                    marks.ok.add(key)
                else:
                    marks.todo.add(key)
    return marks
