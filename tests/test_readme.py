"""The README's claims that can drift: its rules table and its two commands."""

import re

from bnlint.engine.registry import all_rules

from helpers import ROOT

README = (ROOT / "README.md").read_text()


def test_rules_table_matches_registry():
    table = README.split("<!-- rules-table")[1].split("<!-- /rules-table -->")[0]
    rows = re.findall(r"^\| (BN\d{3}) \| ([\w-]+) \| (\w+) \| (\w*) \|$", table, re.M)
    expected = [
        (r.code, r.name, r.severity.value, r.fix_safety.value if r.fix_safety else "")
        for r in all_rules()
    ]
    assert rows == expected


def test_readme_starts_with_install_and_test_commands():
    blocks = re.findall(r"```(?:bash)?\n(.*?)```", README, re.S)
    assert "bnlint check fixtures/" in blocks[0]
    assert "pytest" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci, ".ci/run must run the README's test command"
