"""The published pre-commit hooks, for real: a fresh git repo using the
documented config, a commit with a pitfall refused with the finding shown, the
fixed commit let through; the `bnlint` hook's environment holds no torch."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from helpers import ROOT

SCRIPT_BUGGY = textwrap.dedent(
    """
    import torch

    def predict(model, loader):
        with torch.no_grad():
            return [model(x) for x in loader]
    """
)
SCRIPT_FIXED = SCRIPT_BUGGY.replace("    with torch.no_grad():", "    model.eval()\n    with torch.no_grad():")
MODEL_BUGGY = textwrap.dedent(
    """
    import torch.nn as nn

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    """
)
MODEL_FIXED = MODEL_BUGGY.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3, bias=False)")


def _git(cwd, *args, check=True, env=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check, env=env)


def _snapshot_of_this_checkout(dest):
    """The hook repo pre-commit clones: this checkout's files as they are now
    (committed or not), committed in a repository of their own."""
    files = _git(ROOT, "ls-files", "-co", "--exclude-standard").stdout.split()
    for rel in files:
        if os.path.isfile(ROOT / rel):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "snapshot")
    return _git(dest, "rev-parse", "HEAD").stdout.strip()


@pytest.mark.slow
def test_hooks_refuse_pitfalls_and_let_fixes_through(tmp_path):
    pytest.importorskip("pre_commit")
    hook_repo, work, home = tmp_path / "hooks", tmp_path / "work", tmp_path / "cache"
    hook_repo.mkdir()
    work.mkdir()
    rev = _snapshot_of_this_checkout(hook_repo)
    env = {
        **os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1",
        # the `bnlint-models` hook runs the bnlint of the user's environment: this one
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
    }
    # The README's snippet, pointed at the snapshot.
    (work / ".pre-commit-config.yaml").write_text(textwrap.dedent(f"""\
        repos:
          - repo: {hook_repo}
            rev: {rev}
            hooks:
              - id: bnlint
              - id: bnlint-models
        """))
    _git(work, "init", "-q")
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=work, env=env, check=True, capture_output=True)

    def commit(name, text):
        (work / name).write_text(text)
        _git(work, "add", name, ".pre-commit-config.yaml", env=env)
        proc = _git(work, "commit", "-q", "-m", f"add {name}", check=False, env=env)
        return proc.returncode, proc.stdout + proc.stderr

    rc, out = commit("predict.py", SCRIPT_BUGGY)
    assert rc != 0 and "predict.py:6:" in out and "BN402" in out, out
    rc, out = commit("predict.py", SCRIPT_FIXED)
    assert rc == 0, out

    rc, out = commit("net.py", MODEL_BUGGY)
    assert rc != 0 and "net.py:4:" in out and "BN101" in out, out
    rc, out = commit("net.py", MODEL_FIXED)
    assert rc == 0, out

    # The `bnlint` hook's environment: a few MB, no torch.
    [env_dir] = [p for p in home.glob("repo*/py_env-*")]
    site = list(env_dir.glob("lib/python*/site-packages"))[0]
    assert not (site / "torch").exists(), "the source hook's environment must not install torch"
    size_mb = sum(p.stat().st_size for p in env_dir.rglob("*") if p.is_file()) / 2**20
    print(f"\nbnlint hook environment: {size_mb:.0f} MB ({env_dir})")
    assert size_mb < 150
