"""`bnlint check --diff/--fix/--unsafe-fixes` as a user runs them."""

import json
import shutil

from helpers import FIXTURES, run_cli


def test_vgg_diff_fix_and_nothing_left(tmp_path):
    shutil.copy(FIXTURES / "vgg_bn.py", tmp_path / "vgg_bn.py")
    original = (tmp_path / "vgg_bn.py").read_text()
    proc = run_cli("check", "vgg_bn.py", "--diff", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("--- a/vgg_bn.py\n+++ b/vgg_bn.py\n")
    assert "+            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1, bias=False)" in proc.stdout
    assert "Would fix 8 findings in 1 file." in proc.stderr
    assert (tmp_path / "vgg_bn.py").read_text() == original, "--diff changes nothing"

    proc = run_cli("check", "vgg_bn.py", "--fix", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Fixed 8 findings in 1 file." in proc.stderr
    assert json.loads(proc.stdout)["findings"] == [], "what is left after the fix"

    proc = run_cli("check", "vgg_bn.py", "--diff", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "" and "Nothing to fix." in proc.stderr
    proc = run_cli("check", "vgg_bn.py", "--format", "json", cwd=tmp_path)
    assert not [f for f in json.loads(proc.stdout)["findings"] if f["code"] == "BN101"]


def test_unsafe_fixes_only_when_asked(tmp_path):
    shutil.copy(FIXTURES / "mlp.py", tmp_path / "mlp.py")
    safe = run_cli("check", "mlp.py", "--diff", cwd=tmp_path)
    assert "bias=False" in safe.stdout and "momentum=0.1" not in safe.stdout
    assert "more with --unsafe-fixes" in safe.stderr
    unsafe = run_cli("check", "mlp.py", "--diff", "--unsafe-fixes", cwd=tmp_path)
    assert "bias=False" in unsafe.stdout and "momentum=0.1" in unsafe.stdout


def test_a_helper_that_builds_layers_without_the_problem_is_not_edited(tmp_path):
    (tmp_path / "net.py").write_text(
        "import torch.nn as nn\n\n"
        "def conv(cin, cout):\n"
        "    return nn.Conv2d(cin, cout, 3, padding=1)\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a = nn.Sequential(conv(3, 8), nn.BatchNorm2d(8))\n"
        "        self.b = nn.Sequential(conv(8, 8), nn.ReLU())\n\n"
        "    def forward(self, x):\n"
        "        return self.b(self.a(x))\n"
    )
    proc = run_cli("check", "net.py", "--diff", cwd=tmp_path)
    assert proc.stdout == "" and proc.returncode == 0
    assert "not fixed: net.py:4: BN101:" in proc.stderr and "also builds" in proc.stderr


def test_json_findings_carry_their_edits(tmp_path):
    shutil.copy(FIXTURES / "mlp.py", tmp_path / "mlp.py")
    proc = run_cli("check", "mlp.py", "--format", "json", cwd=tmp_path)
    by_line = {(f["code"], f["line"]): f for f in json.loads(proc.stdout)["findings"]}
    [edit] = by_line[("BN101", 11)]["edits"]
    assert edit["line"] == 11 and edit["end_line"] == 12 and "bias=False" in edit["content"]
    assert by_line[("BN201", 13)]["edits"] == []


def test_flag_mistakes_are_usage_errors(tmp_path):
    shutil.copy(FIXTURES / "mlp.py", tmp_path / "mlp.py")
    assert run_cli("check", "mlp.py", "--diff", "--fix", cwd=tmp_path).returncode == 2
    proc = run_cli("check", "mlp.py", "--unsafe-fixes", cwd=tmp_path)
    assert proc.returncode == 2 and "--unsafe-fixes needs --diff or --fix" in proc.stderr
