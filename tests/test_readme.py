"""The README's claims that can drift: its rules table and its two commands."""

import json
import re
import shlex
import subprocess

from bnlint.engine.registry import all_rules

from helpers import ROOT, run_cli

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(?:bash)?\n(.*?)```", README, re.S)


def test_rules_table_matches_registry():
    table = README.split("<!-- rules-table")[1].split("<!-- /rules-table -->")[0]
    rows = re.findall(r"^\| (BN\d{3}) \| ([\w-]+) \| (\w+) \| (\w*) \|$", table, re.M)
    expected = [
        (r.code, r.name, r.severity.value, r.fix_safety.value if r.fix_safety else "")
        for r in all_rules()
    ]
    assert rows == expected


def test_first_command_reports_what_the_readme_says():
    """The install-and-run command's bnlint part, run as written: the bundled
    VGG-BN example has eight biased convs feeding BatchNorm."""
    install, _, check = BLOCKS[0].strip().partition(" && ")
    assert install.startswith("pip install") and check.startswith("bnlint check ")
    claim = re.search(r"it has (\w+) biased convs", README).group(1)
    proc = run_cli(*shlex.split(check)[1:], "--format", "json")
    assert proc.returncode == 1, proc.stderr
    bn101 = [f for f in json.loads(proc.stdout)["findings"] if f["code"] == "BN101"]
    assert len(bn101) == {"eight": 8}[claim]


def test_ci_runs_exactly_the_readme_test_command():
    """.ci/run extracts the test command from the README; what it extracts is
    the second block, verbatim."""
    ci = (ROOT / ".ci" / "run").read_text()
    awk = re.search(r"awk '([^']+)' README.md", ci).group(1)
    extracted = subprocess.run(
        ["awk", awk, "README.md"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert extracted == BLOCKS[1].strip()
    assert "pytest" in extracted and "lint-imports" in extracted
