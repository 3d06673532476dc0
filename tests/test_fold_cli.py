"""`bnlint fold` as a user runs it: a ResNet-style fixture with a saved
state_dict becomes a .pt2 that loads and matches the original; every refusal
is one line and exit 2."""

import shutil

import pytest

from helpers import FIXTURES, run_cli

torch = pytest.importorskip("torch")


def _trained(tmp_path):
    """fixtures/resnet.py's resnet18 with trained-looking weights and statistics, saved."""
    import importlib.util

    shutil.copy(FIXTURES / "resnet.py", tmp_path / "resnet.py")
    spec = importlib.util.spec_from_file_location("resnet_fixture", tmp_path / "resnet.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    model = mod.resnet18()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-2, 2)
            m.running_var.uniform_(0.5, 4.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-1, 1)
    torch.save(model.state_dict(), tmp_path / "ckpt.pt")
    torch.save({"epoch": 3, "model_state_dict": model.state_dict()}, tmp_path / "full_ckpt.pt")
    return model.eval()


@pytest.mark.slow
def test_fold_writes_an_artifact_that_matches_the_trained_model(tmp_path):
    model = _trained(tmp_path)
    proc = run_cli("fold", "resnet.py::resnet18", "--weights", "full_ckpt.pt", "-o", "r18.pt2",
                   "--input-shape", "2,3,32,32", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "folded 20 BatchNorm(s), left 0" in proc.stdout
    assert "BatchNorm layers" in proc.stdout and "max relative error" in proc.stdout
    loaded = torch.export.load(str(tmp_path / "r18.pt2")).module()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref, out = model(x), loaded(x)
    assert (out - ref).abs().max() / ref.abs().max() < 1e-4
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.modules())

    again = run_cli("fold", "resnet.py::resnet18", "--weights", "ckpt.pt", "-o", "r18.pt2",
                    "--input-shape", "2,3,32,32", cwd=tmp_path)
    assert again.returncode == 2 and "exists: pass --force" in again.stderr


def test_fold_refusals_are_one_line(tmp_path):
    _trained(tmp_path)
    cases = [
        (["resnet.py::resnet18", "-o", "a.pt2", "--input-shape", "1,3,32,32"], "folding needs the trained running statistics"),
        (["resnet.py", "-o", "a.pt2", "--weights", "ckpt.pt"], "name one, as resnet.py::Name"),
        (["resnet.py::resnet50", "-o", "a.pt2", "--weights", "ckpt.pt", "--input-shape", "1,3,32,32"], "does not fit the model"),
        (["resnet.py::resnet18", "-o", "a.pt2", "--weights", "missing.pt"], "--weights missing.pt: no such file"),
        (["resnet.py::resnet18", "-o", "a.pt2", "--weights", "ckpt.pt"], "needs example inputs"),
        (["nope.py::x", "-o", "a.pt2"], "nope.py: no such file"),
    ]
    for args, message in cases:
        proc = run_cli("fold", *args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "a.pt2").exists()
