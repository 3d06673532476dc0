"""The command line, run as a user runs it: exit codes, formats, errors."""

import json

from helpers import FIXTURES


def test_vgg_reports_every_biased_conv_with_location(cli):
    proc = cli("check", "fixtures/vgg_bn.py", "--format", "json")
    assert proc.returncode == 1
    findings = json.loads(proc.stdout)["findings"]
    bn101 = [f for f in findings if f["code"] == "BN101"]
    assert [f["module"] for f in bn101] == [
        "features.0", "features.4", "features.8", "features.11",
        "features.15", "features.18", "features.22", "features.25",
    ]
    line = next(i for i, l in enumerate((FIXTURES / "vgg_bn.py").read_text().splitlines(), 1) if "conv2d = nn.Conv2d(" in l)
    for f in bn101:
        assert (f["path"], f["line"]) == ("fixtures/vgg_bn.py", line)
        for key in ("code", "name", "severity", "message", "path", "line", "model", "module", "fix"):
            assert key in f
        assert f["model"] == "vgg11_bn" and f["severity"] == "warning" and f["fix"]


def test_clean_resnet_exits_zero(cli):
    proc = cli("check", "fixtures/resnet.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found (2 models in 1 file)" in proc.stdout


def test_explicit_target_checks_one_model(cli):
    proc = cli("check", "fixtures/finetune.py::FrozenCorrect", "--format", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["findings"] == []
    proc = cli("check", "fixtures/finetune.py::FrozenNaive", "--format", "json")
    assert proc.returncode == 1
    assert {f["model"] for f in json.loads(proc.stdout)["findings"]} == {"FrozenNaive"}


def test_unknown_target_is_a_usage_error(cli):
    proc = cli("check", "fixtures/finetune.py::Nope")
    assert proc.returncode == 2
    assert "has no model named 'Nope'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_syntax_error_is_one_clear_line(cli, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch.nn as nn\nclass Net(nn.Module:\n    pass\n")
    proc = cli("check", str(bad))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [l for l in proc.stdout.splitlines() if "BN001" in l]
    assert len(lines) == 1 and f"{bad}:2:" in lines[0] and "cannot parse" in lines[0]


def test_missing_path_and_bad_selector_exit_2(cli):
    proc = cli("check", "does/not/exist.py")
    assert proc.returncode == 2 and "no such file or directory" in proc.stderr
    proc = cli("check", "fixtures/mlp.py", "--select", "BN999")
    assert proc.returncode == 2 and "unknown rule selector 'BN999'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_select_ignore_exit_zero_and_fail_on(cli):
    proc = cli("check", "fixtures/mlp.py", "--select", "BN103", "--format", "json")
    assert {f["code"] for f in json.loads(proc.stdout)["findings"]} == {"BN103"} and proc.returncode == 1
    proc = cli("check", "fixtures/mlp.py", "--ignore", "BN1,BN2", "--format", "json")
    assert json.loads(proc.stdout)["findings"] == [] and proc.returncode == 0
    proc = cli("check", "fixtures/mlp.py", "--exit-zero")
    assert proc.returncode == 0 and "BN203" in proc.stdout
    proc = cli("check", "fixtures/dynamic.py", "--select", "BN002")
    assert proc.returncode == 0, "info findings do not fail by default"
    proc = cli("check", "fixtures/dynamic.py", "--select", "BN002", "--fail-on", "info")
    assert proc.returncode == 1


def test_inline_suppression(cli, tmp_path):
    src = (FIXTURES / "mlp.py").read_text().replace(
        "momentum=0.9)  # expect: BN103 @bn1", "momentum=0.9)  # bnlint: ignore[BN103]"
    )
    (tmp_path / "mlp.py").write_text(src)
    proc = cli("check", str(tmp_path / "mlp.py"), "--format", "json")
    codes = [f["code"] for f in json.loads(proc.stdout)["findings"]]
    assert "BN103" not in codes and "BN101" in codes


def test_scripts_are_not_imported(cli, tmp_path):
    script = tmp_path / "train.py"
    marker = tmp_path / "ran"
    script.write_text(
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n    pass\n"
        f"for epoch in range(3):\n    open({str(marker)!r}, 'w').write('x')\n"
    )
    proc = cli("check", str(script))
    assert proc.returncode == 0
    assert not marker.exists(), "checking a script must never run it"
    proc = cli("check", str(script), "--import")
    assert not marker.exists(), "imported, but its write was refused"
    assert "refused to open" in proc.stdout and "for writing" in proc.stdout


def test_main_block_never_runs(cli, tmp_path):
    f = tmp_path / "model.py"
    marker = tmp_path / "ran"
    f.write_text(
        "import torch.nn as nn\n"
        "model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))\n"
        f"if __name__ == '__main__':\n    open({str(marker)!r}, 'w').write('x')\n"
    )
    proc = cli("check", str(f), "--format", "json")
    assert [x["code"] for x in json.loads(proc.stdout)["findings"]] == ["BN101"]
    assert not marker.exists()


def test_timeout_becomes_bn001_and_the_run_goes_on(cli, tmp_path):
    (tmp_path / "a_slow.py").write_text(
        "import time\nimport torch.nn as nn\ntime.sleep(30)\nmodel = nn.Linear(2, 2)\n"
    )
    (tmp_path / "b_ok.py").write_text(
        "import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))\n"
    )
    proc = cli("check", str(tmp_path), "--timeout", "3", "--format", "json")
    found = {(f["code"], f["path"].rsplit("/", 1)[-1]) for f in json.loads(proc.stdout)["findings"]}
    assert ("BN001", "a_slow.py") in found and ("BN101", "b_ok.py") in found
    msg = next(f["message"] for f in json.loads(proc.stdout)["findings"] if f["code"] == "BN001")
    assert "timed out after 3 s while importing" in msg


def test_crashing_user_code_is_contained(cli, tmp_path):
    (tmp_path / "crash.py").write_text(
        "import os\nimport torch.nn as nn\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        os._exit(3)\n"
    )
    proc = cli("check", str(tmp_path / "crash.py"), "--format", "json")
    f = json.loads(proc.stdout)["findings"]
    assert proc.returncode == 1 and f[0]["code"] == "BN001"
    assert "exit code 3" in f[0]["message"] and "building Net" in f[0]["message"]


def test_rule_docs(cli):
    proc = cli("rule", "BN101")
    assert proc.returncode == 0
    for section in ("What it does", "Why is this bad?", "Use instead", "Fix safety", "Flagged example 1"):
        assert section in proc.stdout
    assert cli("rule", "BN999").returncode == 2


def test_rules_list_json(cli):
    proc = cli("rules", "--format", "json")
    codes = [r["code"] for r in json.loads(proc.stdout)]
    assert codes == sorted(codes) and "BN101" in codes and "BN401" in codes


def test_help_and_version(cli):
    assert "check" in cli("--help").stdout
    assert cli("--version").stdout.startswith("bnlint ")


def test_rules_list_text_fits_a_narrow_terminal(cli):
    from bnlint.engine.registry import all_rules

    for width in ("80", "200"):
        proc = cli("rules", env={"COLUMNS": width})
        assert proc.returncode == 0
        for rule in all_rules():
            line = next(l for l in proc.stdout.splitlines() if l.lstrip().startswith(rule.code))
            assert rule.name in line
        if width == "80":  # every summary whole, on a line of its own
            assert all(rule.summary in proc.stdout for rule in all_rules())
