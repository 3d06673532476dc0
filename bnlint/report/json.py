"""``--format json``: a JSON array of finding objects (stable keys), paths
relative to the working directory where they lie below it."""

from __future__ import annotations

import json
from typing import TextIO

from bnlint.findings import Finding, Run, display_path


def finding_dict(f: Finding) -> dict:
    d = f.to_dict()
    if d["path"]:
        d["path"] = display_path(d["path"])
    if d["call_site"]:
        d["call_site"]["path"] = display_path(d["call_site"]["path"])
    return d


def report(run: Run, out: TextIO, options) -> None:
    out.write(json.dumps([finding_dict(f) for f in run.findings], indent=2) + "\n")
