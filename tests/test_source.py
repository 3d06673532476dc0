"""Source analysis of scripts (BN203/BN401/BN402/BN403/BN404 read from the
text): the issue's acceptance cases, the look-alikes that must stay clean,
`--static` with torch impossible to import, and a precision canary on torch's
own source."""

import json
import textwrap
from pathlib import Path

import pytest

from bnlint.rules.bn402_inference_without_eval import is_inference_name

from helpers import ROOT, line_of, source_findings


def findings(code: str, text: str, rule: str | None = None):
    return source_findings(text, rule)


# -- the "done when" --------------------------------------------------
VALIDATE = """
import torch

def validate(model, loader):
    {eval}
    total = 0
    with torch.no_grad():
        for x, y in loader:
            total += (model(x).argmax(1) == y).sum().item()
    return total

def main(model, train_loader, val_loader, optimizer):
    for epoch in range(10):
        model.train()
        for x, y in train_loader:
            model(x).sum().backward()
            optimizer.step()
        validate(model, val_loader)
"""


def test_validate_without_eval_is_bn402_at_the_model_call():
    text = VALIDATE.format(eval="pass")
    found = findings("BN402", text, "BN402")
    assert [f.line for f in found] == [line_of(text, "total += (model(x)")]
    assert "torch.no_grad()" in found[0].message and "'model'" in found[0].message
    assert found[0].path == "script.py" and found[0].source == "source"


def test_validate_with_eval_first_is_clean():
    assert findings("BN402", VALIDATE.format(eval="model.eval()"), "BN402") == []


def test_eval_in_a_caller_reaches_the_callee():
    text = VALIDATE.format(eval="pass").replace("        validate(model, val_loader)", "        model.eval()\n        validate(model, val_loader)")
    assert findings("BN402", text, "BN402") == []


EPOCHS = """
import torch

def fit(model, loader, val_loader, optimizer):
    model.train()
    for epoch in range(10):
        for x, y in loader:
            optimizer.zero_grad()
            model(x).sum().backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            [model(x) for x, _ in val_loader]
"""


def test_eval_inside_the_epoch_loop_train_only_before_it_is_bn403():
    found = findings("BN403", EPOCHS, "BN403")
    assert [f.line for f in found] == [line_of(EPOCHS, "model.eval()")]
    assert f"line {line_of(EPOCHS, 'backward()')}" in found[0].message


def test_train_at_the_top_of_each_epoch_is_clean():
    fixed = EPOCHS.replace("    model.train()\n    for epoch in range(10):\n", "    for epoch in range(10):\n        model.train()\n")
    assert findings("BN403", fixed, "BN403") == []


def test_train_on_some_paths_only_is_not_reported():
    # precision first: a train() that may run is enough
    maybe = EPOCHS.replace("        model.eval()\n", "        model.eval()\n        if epoch % 2:\n            model.train()\n")
    assert findings("BN403", maybe, "BN403") == []


def test_jit_trace_of_a_fresh_net_is_bn404():
    text = """
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))

        def forward(self, x):
            return self.body(x)

    net = Net()
    traced = torch.jit.trace(net, torch.randn(1, 3))
    """
    found = findings("BN404", text, "BN404")
    assert [f.line for f in found] == [line_of(text, "torch.jit.trace")]
    assert "torch.jit.trace()" in found[0].message
    # the same model without BatchNorm or Dropout computes the same in both modes
    inert = text.replace("nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))", "nn.Sequential(nn.Linear(3, 3), nn.ReLU())")
    assert findings("BN404", inert, "BN404") == []


def test_models_of_other_files_named_like_modules_start_in_train_mode():
    text = """
    import torch
    from model import Net

    net = Net()
    torch.onnx.export(net, (torch.randn(1, 3),), "net.onnx")
    with torch.no_grad():
        net(torch.randn(1, 3))
    """
    def codes(t):
        return [f.code for f in sorted(findings("BN4", t), key=lambda f: f.line)]

    assert codes(text) == ["BN404", "BN402"]
    assert codes(text.replace("net = Net()", "net = torch.jit.script(Net())")) == ["BN404", "BN402"]


def test_one_certain_caller_is_enough():
    text = """
    import torch

    def validate(model, loader):
        with torch.no_grad():
            return [model(x) for x, _ in loader]

    def main(args, loader, val_loader, optimizer):
        model = build_model(args)          # imported: mode unknown
        if args.evaluate:
            return validate(model, val_loader)
        for epoch in range(10):
            model.train()
            for x, y in loader:
                model(x).sum().backward()
                optimizer.step()
            validate(model, val_loader)
    """
    found = findings("BN402", text, "BN402")
    assert [f.line for f in found] == [line_of(text, "return [model(x)")]
    assert f"called at line {line_of(text, '        validate(model, val_loader)')}" in found[0].message


def test_eval_on_some_epochs_with_train_only_before_the_loop_is_bn403():
    text = """
    def fit(model, loader, optimizer, evaluate):
        model.train()
        for epoch in range(100):
            for x, y in loader:
                model(x).sum().backward()
                optimizer.step()
            if epoch % 5 == 0:
                model.eval()
                evaluate(model)
    """
    assert [f.line for f in findings("BN403", text, "BN403")] == [line_of(text, "model.eval()")]


def test_an_opaque_context_manager_given_the_model_may_set_its_mode():
    text = """
    import torch
    from detectron2.evaluation import inference_context

    def evaluate(model, loader):
        with inference_context(model), torch.no_grad():
            return [model(x) for x in loader]
    """
    assert findings("BN402", text, "BN402") == []


def test_export_after_eval_and_of_a_caller_owned_model_are_clean():
    text = """
    import torch
    import torch.nn as nn

    def export_for(model, x):
        return torch.export.export(model, (x,))

    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).eval()
    torch.jit.trace(net, torch.randn(2, 4))
    """
    assert findings("BN404", text, "BN404") == []


# -- look-alikes and the flow ------------------------------------------------
@pytest.mark.parametrize(
    "snippet",
    [
        # DDP / .to() return the same module: eval() on either covers both
        """
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP
        def validate(model, loader):
            ddp = DDP(model.to("cuda"))
            ddp.module.eval()
            with torch.no_grad():
                return [model(x) for x in loader]
        """,
        # a return in one branch: the other path put the model in eval
        """
        import torch
        def predict(model, x, cached=None):
            if cached is not None:
                return cached
            model.eval()
            with torch.no_grad():
                return model(x)
        """,
        # try/finally restores the mode after a deliberate train-mode pass
        """
        import torch
        def evaluate(model, loader):
            model.eval()
            try:
                with torch.no_grad():
                    return [model(x) for x in loader]
            finally:
                model.train()
        """,
        # the mode comes from a flag
        """
        import torch
        def evaluate(model, loader, train_mode):
            model.train(train_mode)
            with torch.no_grad():
                return [model(x) for x in loader]
        """,
        # a function not about inference, whose model comes from outside the file
        """
        import torch
        def features(model, x):
            with torch.no_grad():
                return model(x)
        """,
    ],
    ids=["ddp-alias", "return-in-branch", "try-finally", "mode-from-flag", "foreign-helper"],
)
def test_clean_look_alikes(snippet):
    assert findings("BN402", snippet, "BN402") == []


def test_inference_context_flows_into_helpers_called_under_no_grad():
    text = """
    import torch
    import torch.nn as nn

    def forward_all(model, batches):
        return [model(b) for b in batches]

    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    with torch.no_grad():
        forward_all(model, [])
    """
    found = findings("BN402", text, "BN402")
    assert [f.line for f in found] == [line_of(text, "return [model(b)")]


def test_pytest_style_names_are_not_inference_functions():
    assert is_inference_name("validate") and is_inference_name("evaluate_model")
    assert is_inference_name("run_test") and is_inference_name("predict")
    assert not is_inference_name("test_forward_shapes")
    assert not is_inference_name("train_and_validate")


def test_source_findings_honour_inline_suppression(cli, tmp_path):
    text = textwrap.dedent(VALIDATE.format(eval="pass"))
    script = tmp_path / "val.py"
    script.write_text(text)
    proc = cli("check", "--static", str(script), "--format", "json")
    assert proc.returncode == 1 and [f["code"] for f in json.loads(proc.stdout)] == ["BN402"]
    script.write_text(text.replace("(model(x).argmax(1) == y).sum().item()", "(model(x).argmax(1) == y).sum().item()  # bnlint: ignore[BN402]"))
    proc = cli("check", "--static", str(script), "--format", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def test_model_and_source_finding_at_one_line_are_reported_once(cli):
    proc = cli("check", "fixtures/mlp.py", "--format", "json", "--select", "BN203")
    found = json.loads(proc.stdout)
    assert len(found) == 1 and found[0]["source"] == "model"
    static = json.loads(cli("check", "--static", "fixtures/mlp.py", "--format", "json", "--select", "BN203").stdout)
    assert [(f["line"], f["source"]) for f in static] == [(found[0]["line"], "source")]


# -- --static ----------------------------------------------------------------
@pytest.fixture
def no_torch(tmp_path):
    """A `torch` that cannot be imported, first on the path."""
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('bnlint test: torch must not be imported here')\n")
    return {"PYTHONPATH": str(fake.parent)}


def test_static_never_imports_torch(cli, no_torch):
    proc = cli("check", "--static", "fixtures", "--format", "json", env=no_torch)
    assert proc.returncode == 1, proc.stderr
    codes = {f["code"] for f in json.loads(proc.stdout)}
    assert {"BN402", "BN403", "BN404", "BN401", "BN203"} <= codes
    assert "Traceback" not in proc.stderr and "must not be imported" not in proc.stderr
    # the same environment does break anything that imports torch: the test is real
    proc = cli("check", "fixtures/mlp.py", "--timeout", "30", env=no_torch)
    assert proc.returncode != 0 and "must not be imported" in proc.stdout + proc.stderr


def test_rules_listing_and_docs_need_no_torch(cli, no_torch):
    assert cli("rules", env=no_torch).returncode == 0
    proc = cli("rule", "BN402", env=no_torch)
    assert proc.returncode == 0 and "What it does" in proc.stdout


def test_static_conflicts_are_usage_errors(cli):
    proc = cli("check", "--static", "--import", "fixtures/mlp.py")
    assert proc.returncode == 2 and "--static" in proc.stderr
    proc = cli("check", "--static", "fixtures/mlp.py::TabularMLP")
    assert proc.returncode == 2 and "drop --static" in proc.stderr


def test_static_syntax_error_is_one_finding(cli):
    proc = cli("check", "--static", "fixtures/broken/syntax_error.py", "--format", "json")
    assert proc.returncode == 1
    assert [f["code"] for f in json.loads(proc.stdout)] == ["BN001"]


# -- precision canary -----------------------------------------------------------
def _torch_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    return Path(spec.submodule_search_locations[0])


def test_torch_own_training_utilities_are_clean(cli):
    """torch.nn, torch.optim and torch.utils (about 110k lines) hold no mode
    bugs that we know of -- swa_utils.update_bn() runs a model in train mode
    under no_grad on purpose. The analysis must neither crash nor cry wolf."""
    t = _torch_dir()
    proc = cli("check", "--static", t / "nn", t / "optim", t / "utils", "--format", "json", "--select", "BN4,BN203")
    assert proc.returncode == 0, proc.stderr + proc.stdout[:2000]
    assert json.loads(proc.stdout) == []


def test_a_model_class_of_a_file_beside_the_script_is_read_not_imported(cli, tmp_path, no_torch):
    (tmp_path / "model.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        class Net(nn.Module):              # conv + pixel shuffle: nothing mode-dependent
            def __init__(self, upscale_factor=3):
                super().__init__()
                self.conv = nn.Conv2d(1, upscale_factor ** 2, 3, padding=1)
                self.shuffle = nn.PixelShuffle(upscale_factor)

            def forward(self, x):
                return self.shuffle(self.conv(x))

        class BNNet(Net):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm2d(9)
    """))
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent("""
        import torch
        from model import Net

        model = Net()

        def test():
            with torch.no_grad():
                return model(torch.randn(1, 1, 8, 8))

        for epoch in range(3):
            test()
    """))
    proc = cli("check", "--static", str(script), "--format", "json", env=no_torch)
    assert proc.returncode == 0 and json.loads(proc.stdout) == [], proc.stdout
    script.write_text(script.read_text().replace("import Net", "import BNNet as Net"))
    proc = cli("check", "--static", str(script), "--format", "json", env=no_torch)
    assert [f["code"] for f in json.loads(proc.stdout)] == ["BN402"]


def test_pre_commit_hook_runs_the_static_check(cli):
    """The published hook's entry, as pre-commit runs it: entry + staged files."""
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    entry = next(l.split(":", 1)[1].strip() for l in text.splitlines() if l.strip().startswith("entry:"))
    assert entry.split()[:3] == ["bnlint", "check", "--static"]
    proc = cli(*entry.split()[1:], "fixtures/scripts/train_buggy.py", "fixtures/scripts/imagenet_train.py")
    assert proc.returncode == 1 and "BN403" in proc.stdout
    proc = cli(*entry.split()[1:], "fixtures/scripts/imagenet_train.py")
    assert proc.returncode == 0, proc.stdout


# -- the flow, case by case (each once a false alarm or a miss) ----------------
CLEAN = {
    "finally-after-return": """
        import torch
        import torch.nn as nn

        def evaluate(model, loader):
            model.eval()
            try:
                with torch.no_grad():
                    return sum(model(x).sum() for x in loader)
            finally:
                model.train()

        model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Dropout(0.5))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for epoch in range(10):
            for x in loader:
                model(x).sum().backward()
                opt.step()
            evaluate(model, val_loader)
    """,
    "handler-after-return": """
        import torch
        from torchvision import models

        def predict(x):
            model = models.resnet18()
            try:
                model.eval()
                with torch.no_grad():
                    return model(x.cuda())
            except RuntimeError:
                with torch.no_grad():
                    return model(x)
    """,
    "rebound-name": """
        import torch
        from torchvision import models

        model = models.resnet18(weights="DEFAULT")
        model.eval()
        reference = model
        model = models.resnet18()
        with torch.no_grad():
            baseline = reference(x)
    """,
    "branch-alias": """
        import torch
        from torchvision import models

        model = models.resnet18()
        ema = models.resnet18()
        if use_ema:
            m = model
        else:
            m = ema
        m.eval()
        with torch.no_grad():
            print(model(x))
    """,
    "global-vs-callers-local": """
        import torch
        from torchvision import models

        model = models.resnet18(weights="DEFAULT")
        model.eval()

        def predict(x):
            with torch.no_grad():
                return model(x)

        def finetune(loader):
            model = models.resnet18()
            for x, y in loader:
                model(x).sum().backward()
                opt.step()
            return predict(x)
    """,
    "teacher-in-eval-each-epoch": """
        import torch
        from torchvision import models

        teacher = models.resnet50(weights="DEFAULT")
        student = models.resnet18()
        for epoch in range(10):
            student.train()
            teacher.eval()
            for x, y in loader:
                t = teacher(x).detach()
                (student(x) - t).pow(2).mean().backward()
                opt.step()
    """,
    "instance-norm-without-running-stats": """
        import torch
        import torch.nn as nn

        class Stylizer(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.norm = nn.InstanceNorm2d(8, affine=True)

            def forward(self, x):
                return self.norm(self.conv(x))

        net = Stylizer()
        with torch.no_grad():
            out = net(torch.randn(1, 3, 16, 16))
    """,
    "closure-helper-evals": """
        import torch
        import torch.nn as nn

        def main(loader):
            model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))

            def use_eval_mode():
                model.eval()

            use_eval_mode()
            with torch.no_grad():
                return [model(x) for x in loader]
    """,
    "context-manager-of-the-file": """
        import contextlib
        import torch
        import torch.nn as nn

        @contextlib.contextmanager
        def evaluating(net):
            net.eval()
            try:
                yield net
            finally:
                net.train()

        model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        with evaluating(model), torch.no_grad():
            print(model(torch.randn(2, 4)))
    """,
    "grad-off-only-on-a-returning-branch": """
        import torch
        import torch.nn as nn

        def main(args, loader, optimizer):
            model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
            if args.evaluate:
                torch.set_grad_enabled(False)
                model.eval()
                return model(torch.randn(2, 4))
            for x, y in loader:
                nn.functional.mse_loss(model(x), y).backward()
                optimizer.step()
    """,
    "eval-then-break": """
        import torch

        def fit(model, loader, optimizer, epochs, patience):
            model.train()
            for epoch in range(epochs):
                for x, y in loader:
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
                if epoch > patience:
                    model.eval()
                    break
            return model
    """,
    "plain-class-named-model": """
        import numpy as np
        import torch

        class OnnxModel:
            def __call__(self, x):
                return x

        model = OnnxModel()
        with torch.no_grad():
            print(model(np.zeros(3)))
    """,
    "own-method-named-like-a-model": """
        import torch
        import torch.nn as nn

        class Evaluator:
            def prepare_model(self, model):
                model.eval()
                return model

            def run(self, loader):
                model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
                self.prepare_model(model)
                with torch.no_grad():
                    return [model(x) for x in loader]
    """,
    "comprehension-variable": """
        import torch
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        ensemble = [torch.load(p, weights_only=False).eval() for p in ("a.pt", "b.pt")]
        with torch.no_grad():
            preds = [model(torch.randn(2, 4)) for model in ensemble]
    """,
    "mc-dropout-train-right-before-sampling": """
        import torch
        import torch.nn as nn

        net = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 1))

        def mc_dropout_predict(model, x, n_samples=50):
            model.train()
            with torch.no_grad():
                preds = torch.stack([model(x) for _ in range(n_samples)])
            return preds.mean(0), preds.std(0)

        mc_dropout_predict(net, torch.randn(4, 8))
    """,
    "feature-extractor-keeps-the-mode": """
        import torch
        from torchvision.models import resnet50
        from torchvision.models.feature_extraction import create_feature_extractor

        model = resnet50(weights="DEFAULT").eval()
        extractor = create_feature_extractor(model, return_nodes={"layer4": "feat"})
        with torch.no_grad():
            feats = extractor(torch.randn(2, 3, 224, 224))["feat"]
    """,
    "inference-mode-false": """
        import torch
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        with torch.inference_mode(False):
            model(torch.randn(2, 4))
    """,
}
FOUND = {
    "defined-under-main-guard": ("BN402", "return [model(x)", """
        import torch
        import torch.nn as nn

        if __name__ == "__main__":
            def evaluate(model, loader):
                with torch.no_grad():
                    return [model(x) for x in loader]

            net = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
            evaluate(net, [])
    """),
    "eval-in-the-helpers-own-loop": ("BN403", "test(val_loader, model)", """
        import torch
        from torchvision.models import resnet18

        def train(loader, model, optimizer):
            for x, y in loader:
                model(x).sum().backward()
                optimizer.step()

        def test(loader, model):
            with torch.no_grad():
                for x, _ in loader:
                    model.eval()
                    model(x)

        def main():
            model = resnet18()
            model.train()
            for epoch in range(10):
                train(loader, model, optimizer)
                test(val_loader, model)
    """),
    "set-grad-enabled-statement": ("BN402", "y = model(x)", """
        import torch
        from torchvision.models import resnet18

        model = resnet18()
        torch.set_grad_enabled(False)
        y = model(x)
    """),
    "inline-module-call": ("BN402", "nn.Sequential(", """
        import torch
        import torch.nn as nn

        with torch.no_grad():
            y = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))(torch.randn(2, 4))
    """),
    "keyword-export": ("BN404", "torch.onnx.export(", """
        import torch
        from torchvision.models import resnet18

        torch.onnx.export(model=resnet18(), args=(torch.randn(1, 3, 224, 224),), f="m.onnx")
    """),
    "parameter-passed-a-model": ("BN402", "sample = g_ema(", """
        import torch
        from torchvision.models import resnet18

        def train(args, generator, g_ema):
            for i in range(10):
                generator(torch.randn(2, 3)).sum().backward()
                with torch.no_grad():
                    sample = g_ema(torch.randn(2, 3))

        train(None, resnet18(), resnet18())
    """),
    "three-levels-of-unnamed-parameters": ("BN402", "net(torch.randn", """
        import torch
        import torch.nn as nn

        def level3(c, x):
            return c(x)

        def level2(b, x):
            return level3(b, x)

        def level1(a, x):
            return level2(a, x)

        model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        level1(model, torch.randn(2, 4))

        net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
        with torch.no_grad():
            net(torch.randn(2, 4))
    """),
    "inference-class-never-evals-its-model": ("BN402", "return self.model(images)", """
        import torch
        from torchvision import models

        class Detector:
            def __init__(self):
                self.model = models.resnet50(weights=None)

            def process(self, images):
                with torch.no_grad():
                    return self.model(images)
    """),
    "frozen-builder-inside-a-class-of-the-file": ("BN401", "param.requires_grad = False", """
        import torch.nn as nn
        from torchvision.models import resnet18

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.f = resnet18()
                self.fc = nn.Linear(1000, 10)

        model = Net()
        for param in model.f.parameters():
            param.requires_grad = False
        for epoch in range(10):
            model.train()
            for x, y in loader:
                model(x).sum().backward()
                optimizer.step()
    """),
    "mode-neutral-context-manager": ("BN403", "model.eval()", """
        def fit(model, loader, optimizer, accelerator):
            model.train()
            for epoch in range(10):
                for x, y in loader:
                    with accelerator.accumulate(model):
                        accelerator.backward(model(x).sum())
                        optimizer.step()
                model.eval()
    """),
}


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_flow_clean(name):
    assert findings("BN4", CLEAN[name]) == []


@pytest.mark.parametrize("name", sorted(FOUND))
def test_flow_found(name):
    code, needle, text = FOUND[name]
    found = [f for f in findings(code, text) if f.code == code]
    assert [f.line for f in found] == [line_of(text, needle)], [f.message for f in found]


def test_huge_and_deep_files_do_not_break_the_run(cli, tmp_path):
    chain = ["import torch", "import torch.nn as nn", "model = nn.Sequential(nn.BatchNorm1d(4))"]
    chain += [f"def f{i}(model):\n    return f{i + 1}(model)" for i in range(1500)]
    chain += ["def f1500(model):\n    with torch.no_grad():\n        return model(1)", "f0(model)"]
    (tmp_path / "chain.py").write_text("\n".join(chain) + "\n")
    (tmp_path / "sum.py").write_text("x = " + " + ".join(["1"] * 2000) + "\n")
    (tmp_path / "deeper.py").write_text("x = " + "(" * 300 + "1" + ")" * 300 + "\n")
    proc = cli("check", "--static", tmp_path, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = {(Path(f["path"]).name, f["code"]) for f in json.loads(proc.stdout)}
    assert ("chain.py", "BN402") in found  # a thousand-helper chain, followed to the end
    assert ("deeper.py", "BN001") in found  # too deep for Python's own parser: said, not crashed
    assert not any(name == "sum.py" for name, _ in found)


def test_explicit_training_true_is_reported_without_the_safe_fix():
    """F.dropout(x, p, training=True) may be Monte-Carlo dropout: still BN203
    (eval() does not turn it off), but the finding offers no 'safe' fix."""
    text = """
    import torch.nn as nn
    import torch.nn.functional as F

    class MCDropout(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.5, training=True) + F.dropout(x, 0.5)
    """
    found = sorted(findings("BN203", text, "BN203"), key=lambda f: f.col)
    assert [(f.fix is None, "Monte-Carlo" in f.message) for f in found] == [(True, True), (False, False)]
