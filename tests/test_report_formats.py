"""The CI formats (SARIF, GitHub workflow commands, JUnit XML), run through
the real CLI on the fixtures and read back as their consumers read them:
SARIF against the official OASIS 2.1.0 schema, GitHub lines with a parser of
the workflow-command syntax, JUnit with ElementTree."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from helpers import ROOT, run_cli

from bnlint.engine.registry import all_rules
from bnlint.findings import Edit, Finding, FixSafety, Location, Run, Severity
from bnlint.report import FORMATS, Options, render
from bnlint.report._common import repo_root
from bnlint.report.github import escape_data, escape_property

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
FINDINGS = ("fixtures/mlp.py", "fixtures/vgg_bn.py", "fixtures/broken/syntax_error.py")
CLEAN = "fixtures/resnet.py"


def check(fmt: str, *paths, cwd=ROOT, tmp_path: Path | None = None, extra=()) -> tuple[str, subprocess.CompletedProcess]:
    """The report of ``bnlint check`` (through --output-file when tmp_path is
    given, stdout otherwise) and the process."""
    args = ["check", *paths, "--format", fmt, *extra]
    if tmp_path is None:
        proc = run_cli(*args, cwd=cwd)
        return proc.stdout, proc
    out = tmp_path / f"report.{fmt}"
    proc = run_cli(*args, "--output-file", out, cwd=cwd)
    assert proc.stdout == "", "with --output-file, stdout stays empty"
    return out.read_text(encoding="utf-8"), proc


@pytest.fixture(scope="module")
def expected():
    """The findings as the JSON report gives them: what every format must carry."""
    proc = run_cli("check", *FINDINGS, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = json.loads(proc.stdout)["findings"]
    assert {f["code"] for f in found} >= {"BN001", "BN101", "BN103", "BN201", "BN203", "BN204"}
    return found


def validate_sarif(text: str) -> dict:
    doc = json.loads(text)
    jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(doc)
    return doc


def by_key(findings) -> list[tuple]:
    return sorted((f["path"], f["line"], f["code"]) for f in findings)


# -- SARIF ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif(tmp_path_factory):
    text, proc = check("sarif", *FINDINGS, tmp_path=tmp_path_factory.mktemp("sarif"))
    assert proc.returncode == 1, proc.stderr
    return validate_sarif(text)


def test_sarif_is_valid_and_describes_every_rule(sarif):
    assert sarif["version"] == "2.1.0" and "sarif-schema-2.1.0" in sarif["$schema"]
    [run] = sarif["runs"]
    driver = run["tool"]["driver"]
    from bnlint import __version__

    assert (driver["name"], driver["version"]) == ("bnlint", __version__)
    assert "informationUri" not in driver
    assert [r["id"] for r in driver["rules"]] == [r.code for r in all_rules()]
    levels = {"error": "error", "warning": "warning", "info": "note"}
    for entry, rule in zip(driver["rules"], all_rules()):
        assert entry["name"] == rule.name and entry["shortDescription"]["text"] == rule.summary
        assert entry["help"]["text"] == rule.docs() and entry["help"]["markdown"]
        assert entry["defaultConfiguration"]["level"] == levels[rule.severity.value]
        assert entry["properties"]["needs"] == list(rule.needs)
        assert entry["properties"]["fix_safety"] == (rule.fix_safety.value if rule.fix_safety else None)
        assert "helpUri" not in entry


def test_sarif_rule_texts_come_from_the_docs(sarif):
    bn101 = next(r for r in sarif["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "BN101")
    full = bn101["fullDescription"]["text"]
    assert full.startswith("Finds a Conv1d/2d/3d") and "`bias=True`" in full and "\n" not in full
    assert "Why is this bad" not in full
    md = bn101["help"]["markdown"]
    assert "### What it does" in md and "```python\nnn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False)" in md


def test_sarif_results_point_at_their_rules_with_repo_relative_uris(sarif, expected):
    [run] = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == ROOT.as_uri() + "/"
    got = []
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        [loc] = result["locations"]
        artifact = loc["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "SRCROOT" and not artifact["uri"].startswith(("/", "file:"))
        assert (ROOT / artifact["uri"]).is_file()
        got.append((artifact["uri"], loc["physicalLocation"]["region"]["startLine"], result["ruleId"]))
    assert sorted(got) == by_key(expected)
    assert len([r for r in run["results"] if r["ruleId"] == "BN101" and "vgg_bn" in r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]]) == 8


def test_sarif_locations_logical_and_related(sarif):
    results = sarif["runs"][0]["results"]
    fc1 = next(r for r in results if r["properties"].get("module") == "fc1")
    assert fc1["locations"][0]["logicalLocations"] == [
        {"name": "fc1", "fullyQualifiedName": "TabularMLP.fc1", "kind": "member"}
    ]
    [called] = fc1["relatedLocations"]
    assert called["physicalLocation"]["artifactLocation"]["uri"] == "fixtures/mlp.py"
    forward = next(i for i, l in enumerate((ROOT / "fixtures/mlp.py").read_text().splitlines(), 1) if "self.fc1(" in l)
    assert called["physicalLocation"]["region"] == {"startLine": forward}
    bn001 = next(r for r in results if r["ruleId"] == "BN001")
    assert bn001["level"] == "error" and "logicalLocations" not in bn001["locations"][0]
    assert bn001["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "fixtures/broken/syntax_error.py"


def test_a_layer_built_in_a_library_keeps_the_users_line_and_names_the_librarys(tmp_path):
    # A model built by a library: the finding stays at the user's line that
    # called it, and carries the library's construction line -- in JSON
    # (built_at), SARIF (a related location) and the full text report.
    lib = tmp_path / "vendor" / "site-packages" / "fakelib"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text(
        "import torch.nn as nn\n\n\ndef convbn():\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))\n"
    )
    (tmp_path / "model.py").write_text(
        "import os\nimport sys\n\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), 'vendor', 'site-packages'))\n"
        "import fakelib\n\nmodel = fakelib.convbn()\n"
    )
    proc = run_cli("check", "model.py", "--format", "json", cwd=tmp_path)
    [f] = json.loads(proc.stdout)["findings"]
    assert (f["code"], f["path"], f["line"]) == ("BN101", "model.py", 7)
    assert f["built_at"] == {"path": "vendor/site-packages/fakelib/__init__.py", "line": 5}
    doc = validate_sarif(run_cli("check", "model.py", "--format", "sarif", cwd=tmp_path).stdout)
    [related] = doc["runs"][0]["results"][0]["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "vendor/site-packages/fakelib/__init__.py"
    assert related["physicalLocation"]["region"] == {"startLine": 5}
    assert "built at vendor/site-packages/fakelib/__init__.py:5" in run_cli("check", "model.py", "--full", cwd=tmp_path).stdout


def test_sarif_bn101_carries_its_source_fix(sarif):
    results = sarif["runs"][0]["results"]
    fc1 = next(r for r in results if r["properties"].get("module") == "fc1")
    [fix] = fc1["fixes"]
    assert fix["description"]["text"].startswith("Safe fix: set bias=False")
    [change] = fix["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "fixtures/mlp.py", "uriBaseId": "SRCROOT"}
    [rep] = change["replacements"]
    line = fc1["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert rep["deletedRegion"] == {"startLine": line, "startColumn": 1, "endLine": line + 1, "endColumn": 1}
    assert "nn.Linear(n_features, hidden, bias=False)" in rep["insertedContent"]["text"]
    assert not any("fixes" in r for r in results if r["ruleId"] in ("BN001", "BN201", "BN204"))


def test_sarif_notes_are_notifications(sarif):
    [invocation] = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is True
    notes = invocation["toolExecutionNotifications"]
    assert any(n["level"] == "note" and "no example inputs" in n["message"]["text"] for n in notes)


def test_sarif_uris_stay_repo_relative_from_a_subdirectory(tmp_path):
    text, _ = check("sarif", "mlp.py", cwd=ROOT / "fixtures", tmp_path=tmp_path)
    run = validate_sarif(text)["runs"][0]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == ROOT.as_uri() + "/"
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]} == {"fixtures/mlp.py"}


def test_sarif_file_outside_the_repo_keeps_an_absolute_uri(tmp_path):
    bad = tmp_path / "my model.py"
    bad.write_text("class Net(:\n")
    text, _ = check("sarif", bad)
    [result] = validate_sarif(text)["runs"][0]["results"]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": bad.resolve().as_uri()} and "my%20model.py" in artifact["uri"]


def test_sarif_static_script(tmp_path):
    text, proc = check("sarif", "fixtures/scripts/train_buggy.py", "--static", tmp_path=tmp_path)
    assert proc.returncode == 1
    results = validate_sarif(text)["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"BN402", "BN403", "BN404"}
    assert all(r["properties"]["analysis"] == "source" for r in results)


# -- GitHub ---------------------------------------------------------------------


def _unescape(text: str, prop: bool = False) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if prop else [])
    for code, char in pairs + [("%25", "%")]:
        text = text.replace(code, char)
    return text


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """``::name k=v,k=v::message`` -> (name, props, message), unescaped the
    way the runner does it. Raw ``:`` or ``,`` in a value would break this,
    as they would break GitHub's own parsing."""
    assert line.startswith("::") and "\n" not in line and "\r" not in line
    head, sep, message = line[2:].partition("::")
    assert sep
    name, _, props = head.partition(" ")
    parsed = {}
    for item in filter(None, props.split(",")):
        key, eq, value = item.partition("=")
        assert eq and ":" not in value
        parsed[key] = _unescape(value, prop=True)
    return name, parsed, _unescape(message)


def test_escaping_follows_github():
    text = "100% sure: a, b\r\nc"
    assert escape_data(text) == "100%25 sure: a, b%0D%0Ac"
    assert escape_property(text) == "100%25 sure%3A a%2C b%0D%0Ac"
    assert escape_data("%0A") == "%250A", "an escape sequence in the text stays text"
    assert _unescape(escape_data(text)) == text and _unescape(escape_property(text), prop=True) == text


def test_github_message_with_special_characters_round_trips():
    f = Finding(
        "BN101", "conv-bias-before-batchnorm", Severity.WARNING, "50% of it: a, b\nc",
        path=str(ROOT / "fixtures" / "a,b:c.py"), line=3, col=5, hint="do x", fix="set y", fix_safety=FixSafety.SAFE,
    )
    out = io.StringIO()
    render(Run(findings=[f]), "github", out)
    [line] = out.getvalue().splitlines()
    name, props, message = parse_command(line)
    assert name == "warning"
    assert props == {"file": "fixtures/a,b:c.py", "line": "3", "col": "5", "title": "BN101 conv-bias-before-batchnorm"}
    assert message == "50% of it: a, b\nc\nhint: do x\nfix (safe): set y"


def test_github_lines_parse_back(expected):
    out, proc = check("github", *FINDINGS)
    assert proc.returncode == 1
    lines = out.splitlines()
    assert len(lines) == len(expected)
    parsed = [parse_command(l) for l in lines]
    levels = {"error": "error", "warning": "warning", "info": "notice"}
    assert sorted((p["file"], int(p["line"]), p["title"].split()[0]) for _, p, _ in parsed) == by_key(expected)
    for f in expected:
        name, props, message = next(
            c for c in parsed if (c[1]["file"], int(c[1]["line"]), c[2].split("\n")[0]) == (f["path"], f["line"], f["message"])
        )
        assert name == levels[f["severity"]] and props["title"] == f"{f['code']} {f['name']}"
        assert props["col"] == str(f["col"] or 1)
        assert (f"\nhint: {f['hint']}" in message) == bool(f["hint"])


def test_github_paths_are_relative_to_the_repo_root():
    out, _ = check("github", "mlp.py", cwd=ROOT / "fixtures")
    assert {parse_command(l)[1]["file"] for l in out.splitlines()} == {"fixtures/mlp.py"}


def test_github_findings_without_a_file_warnings_and_internal_errors():
    run = Run(
        findings=[Finding("BN001", "model-not-analyzable", Severity.ERROR, "no file")],
        warnings=["a.py:3: unknown rule code BN999 in `# noqa: BN999`"],
        internal_errors=["boom"],
        notes=["a note stays in the log"],
    )
    out = io.StringIO()
    render(run, "github", out)
    parsed = [parse_command(l) for l in out.getvalue().splitlines()]
    assert parsed == [
        ("error", {"title": "BN001 model-not-analyzable"}, "no file"),
        ("warning", {"title": "bnlint"}, "a.py:3: unknown rule code BN999 in `# noqa: BN999`"),
        ("error", {"title": "bnlint internal error"}, "boom"),
    ]


# -- JUnit ----------------------------------------------------------------------


def test_junit_counts_and_failure_types(expected, tmp_path):
    text, proc = check("junit", *FINDINGS, tmp_path=tmp_path)
    assert proc.returncode == 1 and text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    suite = ET.fromstring(text)
    assert suite.tag == "testsuite" and suite.get("name") == "bnlint"
    cases = suite.findall("testcase")
    files = sorted({f["path"] for f in expected})
    assert sorted(c.get("name") for c in cases) == files
    assert all(c.get("classname") == c.get("name") == c.get("file") for c in cases)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (str(len(files)), str(len(files)), "0")
    for case in cases:
        mine = [f for f in expected if f["path"] == case.get("name")]
        failures = case.findall("failure")
        assert sorted(x.get("type") for x in failures) == sorted(f["code"] for f in mine)
        for x in failures:
            f = next(f for f in mine if f["message"] == x.get("message"))
            first = x.text.splitlines()[0]
            assert first == f"{f['path']}:{f['line']}:{f['col'] or 1}: {f['code']} [{f['severity']}] {f['message']}"


def test_junit_internal_errors_and_odd_characters():
    run = Run(
        findings=[Finding("BN001", "model-not-analyzable", Severity.ERROR, "bad <tag> & \x1b[31mcolour\x1b[0m",
                          path=str(ROOT / "fixtures/x.py"), line=1)],
        internal_errors=["Traceback ...\nKeyError: 'x'"],
    )
    out = io.StringIO()
    render(run, "junit", out)
    suite = ET.fromstring(out.getvalue())
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "1")
    failure = suite.find("testcase/failure")
    assert failure.get("message") == "bad <tag> & \ufffd[31mcolour\ufffd[0m"
    [error] = suite.findall("testcase[@name='bnlint']/error")
    assert error.get("message") == "Traceback ..." and "KeyError" in error.text


# -- every format ---------------------------------------------------------------


def test_clean_file_in_every_ci_format(tmp_path):
    text, proc = check("sarif", CLEAN, tmp_path=tmp_path)
    assert proc.returncode == 0
    run = validate_sarif(text)["runs"][0]
    assert run["results"] == [] and run["invocations"][0]["executionSuccessful"] is True
    out, proc = check("github", CLEAN)
    assert proc.returncode == 0 and out == ""
    text, proc = check("junit", CLEAN, tmp_path=tmp_path)
    suite = ET.fromstring(text)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    [case] = suite.findall("testcase")
    assert case.get("name") == "bnlint" and len(case) == 0


def test_sarif_without_locations_and_with_internal_errors():
    run = Run(
        findings=[
            Finding("BN001", "model-not-analyzable", Severity.ERROR, "no file", model="Net"),
            Finding("BN101", "conv-bias-before-batchnorm", Severity.WARNING, "m", path=str(ROOT / "a.py"), line=2, col=3,
                    model="Net", module="conv", call_site=Location(str(ROOT / "a.py"), 9),
                    fix="set bias=False", fix_safety=FixSafety.SAFE,
                    edits=(Edit(str(ROOT / "a.py"), 2, 1, 3, 1, "conv = nn.Conv2d(1, 2, 3, bias=False)\n"),)),
        ],
        internal_errors=["boom"], warnings=["w"], skipped=[(str(ROOT / "train.py"), "a script")],
    )
    out = io.StringIO()
    render(run, "sarif", out)
    doc = validate_sarif(out.getvalue())
    [first, second] = doc["runs"][0]["results"]
    assert "locations" not in first and first["properties"]["model"] == "Net"
    assert second["locations"][0]["physicalLocation"]["region"] == {"startLine": 2, "startColumn": 3}
    [invocation] = doc["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    levels = [n["level"] for n in invocation["toolExecutionNotifications"]]
    assert levels == ["note", "warning", "error"]


def test_output_is_deterministic():
    f = Finding("BN101", "conv-bias-before-batchnorm", Severity.WARNING, "m", path=str(ROOT / "b.py"), line=1)
    g = f.with_(path=str(ROOT / "a.py"), line=5)
    for fmt in ("sarif", "github", "junit"):
        one, two = io.StringIO(), io.StringIO()
        render(Run(findings=[f, g]), fmt, one)
        render(Run(findings=[g, f]), fmt, two)
        assert one.getvalue() == two.getvalue(), fmt


def test_formats_are_in_the_registry_and_the_cli():
    assert {"sarif", "github", "junit"} <= set(FORMATS)
    proc = run_cli("check", "--help")
    for fmt in ("sarif", "github", "junit"):
        assert fmt in proc.stdout


def test_repo_root_is_the_nearest_git_ancestor(tmp_path):
    (tmp_path / "repo" / "src").mkdir(parents=True)
    (tmp_path / "repo" / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    assert repo_root(str(tmp_path / "repo" / "src")) == (tmp_path / "repo").resolve()
    if not any((d / ".git").exists() for d in tmp_path.resolve().parents):
        assert repo_root(str(tmp_path)) == tmp_path.resolve(), "no repo: the working directory"


def test_reporters_import_no_torch():
    code = (
        "import sys, io\n"
        "from bnlint.findings import Run\n"
        "from bnlint.report import render\n"
        "for fmt in ('sarif', 'github', 'junit'):\n"
        "    render(Run(), fmt, io.StringIO())\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
