"""``--format json``: a JSON array of finding objects (stable keys)."""

from __future__ import annotations

import json


def render_json(run) -> str:
    return json.dumps([f.to_dict() for f in run.findings], indent=2) + "\n"
