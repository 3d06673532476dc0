"""[tool.bnlint] in pyproject.toml, --config/--isolated, and what the CLI
overrides; unknown keys and bad values are one clear error."""

import json
import textwrap

import pytest

from helpers import run_cli

BUGGY = textwrap.dedent(
    """
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.bn = nn.BatchNorm2d(8, momentum=0.9)
            self.drop = nn.Dropout2d(0.1)

        def forward(self, x):
            return self.bn(self.conv(self.drop(x)))
    """
)


def project(tmp_path, config: str, files=None):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n" + textwrap.dedent(config))
    for name, text in (files or {"net.py": BUGGY}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def codes(proc):
    assert proc.returncode in (0, 1), proc.stderr
    return sorted(f["code"] for f in json.loads(proc.stdout)["findings"])


def test_no_config_reports_everything(tmp_path):
    project(tmp_path, "")
    assert codes(run_cli("check", "--format", "json", cwd=tmp_path)) == ["BN101", "BN103", "BN201"]


def test_ignore_a_family_and_cli_overrides(tmp_path):
    project(tmp_path, '[tool.bnlint]\nignore = ["BN2"]\n')
    assert codes(run_cli("check", "--format", "json", cwd=tmp_path)) == ["BN101", "BN103"]
    assert codes(run_cli("check", "--format", "json", "--ignore", "BN103", cwd=tmp_path)) == ["BN101", "BN201"]
    assert codes(run_cli("check", "--format", "json", "--isolated", cwd=tmp_path)) == ["BN101", "BN103", "BN201"]


def test_select_and_extend_select(tmp_path):
    project(tmp_path, '[tool.bnlint]\nselect = ["BN101"]\nextend-select = ["BN201"]\n')
    assert codes(run_cli("check", "--format", "json", cwd=tmp_path)) == ["BN101", "BN201"]


def test_per_file_and_per_module_ignores(tmp_path):
    project(tmp_path, """
        [tool.bnlint]
        per-file-ignores = { "legacy/*.py" = ["BN1"] }
        per-module-ignores = { "conv" = ["BN101"], "b*" = ["BN103"] }
        """, {"net.py": BUGGY, "legacy/old.py": BUGGY})
    proc = run_cli("check", "--format", "json", cwd=tmp_path)
    found = sorted((f["path"], f["code"]) for f in json.loads(proc.stdout)["findings"])
    assert found == [("legacy/old.py", "BN201"), ("net.py", "BN201")]


def test_exclude_and_fail_on_and_timeout(tmp_path):
    project(tmp_path, """
        [tool.bnlint]
        extend-exclude = ["generated"]
        fail-on = "error"
        timeout = 30
        """, {"net.py": BUGGY, "generated/net.py": BUGGY})
    proc = run_cli("check", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, "warnings do not fail with fail-on = error"
    assert {f["path"] for f in json.loads(proc.stdout)["findings"]} == {"net.py"}
    proc = run_cli("check", "--format", "json", "--exclude", "net.py", cwd=tmp_path)
    assert json.loads(proc.stdout)["findings"] == []


def test_gitignored_files_are_skipped(tmp_path):
    import subprocess

    project(tmp_path, "", {"net.py": BUGGY, "build_out/net.py": BUGGY})
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".gitignore").write_text("build_out/\n")
    proc = run_cli("check", "--format", "json", ".", cwd=tmp_path)
    assert {f["path"] for f in json.loads(proc.stdout)["findings"]} == {"net.py"}


def test_default_input_shape_from_config(tmp_path):
    project(tmp_path, '[tool.bnlint]\nselect = ["BN302"]\ninput-shape = ["2,3,16,16"]\n')
    assert codes(run_cli("check", "--format", "json", cwd=tmp_path)) == ["BN302"]


@pytest.mark.parametrize(
    "config, message",
    [
        ('[tool.bnlint]\nselct = ["BN1"]\n', "unknown key 'selct'"),
        ('[tool.bnlint]\nselect = "BN9"\n', "unknown rule selector 'BN9'"),
        ('[tool.bnlint]\nfail-on = "fatal"\n', "unknown severity 'fatal'"),
        ('[tool.bnlint]\ntimeout = -1\n', "`timeout` must be a positive number"),
        ('[tool.bnlint]\nper-file-ignores = ["x"]\n', "`per-file-ignores` must be a table"),
        ('[tool.bnlint]\ninput-shape = ["8,x"]\n', "expected positive integers"),
        ('[tool.bnlint\n', "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, config, message):
    (tmp_path / "pyproject.toml").write_text(config)
    (tmp_path / "net.py").write_text(BUGGY)
    proc = run_cli("check", "net.py", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_explicit_config_file(tmp_path):
    project(tmp_path, "")
    (tmp_path / "strict.toml").write_text('ignore = ["BN1"]\n')
    proc = run_cli("check", "--format", "json", "--config", "strict.toml", cwd=tmp_path)
    assert codes(proc) == ["BN201"]
    proc = run_cli("check", "--config", "missing.toml", cwd=tmp_path)
    assert proc.returncode == 2 and "missing.toml" in proc.stderr
