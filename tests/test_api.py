"""The one run path (bnlint.api) and its contracts: what is always reported,
how rules are isolated, which rules run by default, how paths are kept, and
that the selected rules decide the work."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from bnlint import api
from bnlint.config import Config
from bnlint.engine import registry
from bnlint.engine.rule import Example, Rule
from bnlint.findings import Severity, UsageError

from helpers import ROOT, run_cli

SCRIPT = textwrap.dedent(
    """
    import torch

    def predict(model, x):
        with torch.no_grad():
            return model(x)

    def main():
        net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout())
        torch.jit.trace(net, torch.zeros(1, 4))
    """
)


# -- the analysis' own failures are always reported ---------------------------
@pytest.mark.parametrize("body", ["import a_module_that_does_not_exist\n", "class Net(nn.Module:\n    pass\n"])
def test_select_never_hides_that_a_file_could_not_be_analyzed(cli, tmp_path, body):
    f = tmp_path / "net.py"
    f.write_text("import torch.nn as nn\n" + body + "class M(nn.Module):\n    pass\n")
    proc = cli("check", str(f), "--select", "BN101", "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [x["code"] for x in json.loads(proc.stdout)["findings"]] == ["BN001"]
    # ...unless the user explicitly asks for it to go
    proc = cli("check", str(f), "--select", "BN101", "--ignore", "BN001", "--format", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["findings"] == []


# -- one crashing rule loses nothing else ---------------------------------------
def test_a_crashing_source_rule_is_an_internal_error_and_the_others_still_report(tmp_path, monkeypatch):
    f = tmp_path / "predict.py"
    f.write_text(SCRIPT)
    bn404 = registry.get_rule("BN404")

    def boom(self, ctx):
        raise KeyError("boom")

    monkeypatch.setattr(bn404, "check_source", boom)
    run = api.check_paths([str(f)], Config(static=True))
    [error] = run.internal_errors
    assert error.startswith("rule BN404 crashed on ") and error.endswith("predict.py: KeyError: 'boom'")
    assert "BN402" in {x.code for x in run.findings}, "the other rules' findings stand"


# -- defaults are shared: opt-in rules run only when named ----------------------
class _AlwaysOptIn(Rule):
    """
    What it does
        Test double.

    Why is this bad?
        It is not.

    Example
        Any file.

    Use instead
        Nothing.

    References
        None.
    """

    code = "BN999"
    name = "always-opt-in"
    severity = Severity.INFO
    needs = ("source",)
    summary = "test double"
    opt_in = True
    valid = (Example("x = 1", kind="source"),)
    invalid = (Example("x = 1", kind="source", at="x = 1", message="here"),)

    def check_source(self, ctx):
        yield ctx.report(self, "here", ctx.tree.body[0])


def test_opt_in_rules_run_only_when_selected_in_every_entry_point(tmp_path, monkeypatch):
    known = registry.all_rules()
    monkeypatch.setattr(registry, "all_rules", lambda: (*known, _AlwaysOptIn))
    f = tmp_path / "s.py"
    f.write_text("x = 1\n")
    assert "BN999" not in {x.code for x in api.check_source(f)}
    assert "BN999" not in {x.code for x in api.check_paths([str(f)], Config(static=True)).findings}
    assert [x.code for x in api.check_source(f, select="BN999")] == ["BN999"]
    assert [x.code for x in api.check_paths([str(f)], Config(static=True, select=("BN999",))).findings] == ["BN999"]


# -- paths: real in findings, relative only when shown --------------------------
def test_findings_keep_the_real_path_and_reporters_make_it_relative(tmp_path, monkeypatch):
    from io import StringIO

    from bnlint.report import render

    sub = tmp_path / "proj"
    sub.mkdir()
    (sub / "predict.py").write_text(SCRIPT)
    monkeypatch.chdir(sub)
    run = api.check_paths(["predict.py"], Config(static=True))
    assert {x.path for x in run.findings} == {str((sub / "predict.py").resolve())}
    out = StringIO()
    render(run, "json", out)
    assert {x["path"] for x in json.loads(out.getvalue())["findings"]} == {"predict.py"}
    monkeypatch.chdir(tmp_path)  # a long-lived process moves: the same run shows the new relative path
    out = StringIO()
    render(run, "json", out)
    assert {x["path"] for x in json.loads(out.getvalue())["findings"]} == {os.path.join("proj", "predict.py")}


def test_suppressions_are_read_anew_each_run(tmp_path):
    f = tmp_path / "predict.py"
    f.write_text(SCRIPT)
    assert "BN402" in {x.code for x in api.check_source(f)}
    f.write_text(SCRIPT.replace("return model(x)", "return model(x)  # bnlint: ignore[BN402]"))
    assert "BN402" not in {x.code for x in api.check_source(f)}


def test_check_source_takes_text_or_a_path(tmp_path):
    from_text = api.check_source(SCRIPT, filename="predict.py")
    assert {x.path for x in from_text} == {"predict.py"}
    f = tmp_path / "predict.py"
    f.write_text(SCRIPT)
    assert [x.code for x in api.check_source(str(f))] == [x.code for x in from_text]
    [bad] = api.check_source("def f(:\n", filename="bad.py")
    assert bad.code == "BN001" and bad.line == 1
    # a path that is not a script is an error, not one line of code that finds nothing
    with pytest.raises(UsageError, match="is a directory"):
        api.check_source(str(tmp_path))
    with pytest.raises(UsageError, match="no such file"):
        api.check_source(str(tmp_path / "typo.py"))


def test_bad_input_is_a_usage_error_not_an_exit():
    with pytest.raises(UsageError, match="unknown rule selector 'BN9'"):
        api.check_paths(["fixtures/mlp.py"], Config(select=("BN9",)))
    with pytest.raises(UsageError, match="no such file"):
        api.check_paths(["does/not/exist.py"])
    with pytest.raises(UsageError, match="cannot be combined"):
        Config(static=True, import_files=True)


# -- the selected rules decide the work -----------------------------------------
def test_tracing_and_shapes_run_only_when_a_selected_rule_needs_them(monkeypatch):
    import torch.nn as nn

    from bnlint.model import context

    def refuse(*args, **kwargs):
        raise AssertionError("not needed by the selected rules")

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8, momentum=0.9))
    monkeypatch.setattr(context, "trace_model", refuse)
    monkeypatch.setattr(context, "propagate_in_eval", refuse)
    assert [f.code for f in api.check_model(model, (2, 3, 8, 8), select="BN103")] == ["BN103"]
    monkeypatch.undo()
    found = api.check_model(model, (2, 3, 8, 8), select="BN101,BN302")
    assert sorted(f.code for f in found) == ["BN101", "BN302"]


# -- torch stays off the paths that do not need it ------------------------------
def test_api_cli_rules_and_source_analysis_import_no_torch():
    probe = (
        "import sys\n"
        "import bnlint, bnlint.api, bnlint.cli, bnlint.report.text, bnlint.report.json, bnlint.fix.source\n"
        "from bnlint.engine.registry import all_rules\n"
        "rules = all_rules()\n"
        "from bnlint.api import check_source\n"
        "check_source('import torch\\nwith torch.no_grad():\\n    model(x)\\n')\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
        "print(len(rules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(registry.all_rules())
