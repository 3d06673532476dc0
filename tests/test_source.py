"""Source analysis of scripts (BN203/BN401/BN402/BN403/BN404 read from the
text): the issue's acceptance cases, the look-alikes that must stay clean,
`--static` with torch impossible to import, and a precision canary on torch's
own source."""

import json
import os
import textwrap
from pathlib import Path

import pytest

from bnlint.api import check_source

from bnlint.rules.bn402_inference_without_eval import is_inference_name

from helpers import ROOT, line_of, source_findings


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
    found = source_findings(text, "BN402")
    assert [f.line for f in found] == [line_of(text, "total += (model(x)")]
    assert "torch.no_grad()" in found[0].message and "'model'" in found[0].message
    assert found[0].path == "script.py" and found[0].source == "source"


def test_validate_with_eval_first_is_clean():
    assert source_findings(VALIDATE.format(eval="model.eval()"), "BN402") == []


def test_eval_in_a_caller_reaches_the_callee():
    text = VALIDATE.format(eval="pass").replace("        validate(model, val_loader)", "        model.eval()\n        validate(model, val_loader)")
    assert source_findings(text, "BN402") == []


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
    found = source_findings(EPOCHS, "BN403")
    assert [f.line for f in found] == [line_of(EPOCHS, "model.eval()")]
    assert f"line {line_of(EPOCHS, 'backward()')}" in found[0].message


def test_train_at_the_top_of_each_epoch_is_clean():
    fixed = EPOCHS.replace("    model.train()\n    for epoch in range(10):\n", "    for epoch in range(10):\n        model.train()\n")
    assert source_findings(fixed, "BN403") == []


def test_train_on_some_paths_only_is_not_reported():
    # precision first: a train() that may run is enough
    maybe = EPOCHS.replace("        model.eval()\n", "        model.eval()\n        if epoch % 2:\n            model.train()\n")
    assert source_findings(maybe, "BN403") == []


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
    found = source_findings(text, "BN404")
    assert [f.line for f in found] == [line_of(text, "torch.jit.trace")]
    assert "torch.jit.trace()" in found[0].message
    # the same model without BatchNorm or Dropout computes the same in both modes
    inert = text.replace("nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))", "nn.Sequential(nn.Linear(3, 3), nn.ReLU())")
    assert source_findings(inert, "BN404") == []


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
        return [f.code for f in sorted(source_findings(t), key=lambda f: f.line)]

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
    found = source_findings(text, "BN402")
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
    assert [f.line for f in source_findings(text, "BN403")] == [line_of(text, "model.eval()")]


def test_an_opaque_context_manager_given_the_model_may_set_its_mode():
    text = """
    import torch
    from detectron2.evaluation import inference_context

    def evaluate(model, loader):
        with inference_context(model), torch.no_grad():
            return [model(x) for x in loader]
    """
    assert source_findings(text, "BN402") == []


def test_export_after_eval_and_of_a_caller_owned_model_are_clean():
    text = """
    import torch
    import torch.nn as nn

    def export_for(model, x):
        return torch.export.export(model, (x,))

    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).eval()
    torch.jit.trace(net, torch.randn(2, 4))
    """
    assert source_findings(text, "BN404") == []


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
    assert source_findings(snippet, "BN402") == []


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
    found = source_findings(text, "BN402")
    assert [f.line for f in found] == [line_of(text, "return [model(b)")]


def test_pytest_style_names_are_not_inference_functions():
    assert is_inference_name("validate") and is_inference_name("evaluate_model")
    assert is_inference_name("run_test") and is_inference_name("predict") and is_inference_name("detect_image")
    assert not is_inference_name("test_forward_shapes")
    assert not is_inference_name("train_and_validate")


def test_source_findings_honour_inline_suppression(cli, tmp_path):
    text = textwrap.dedent(VALIDATE.format(eval="pass"))
    script = tmp_path / "val.py"
    script.write_text(text)
    proc = cli("check", "--static", str(script), "--format", "json")
    assert proc.returncode == 1 and [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["BN402"]
    script.write_text(text.replace("(model(x).argmax(1) == y).sum().item()", "(model(x).argmax(1) == y).sum().item()  # bnlint: ignore[BN402]"))
    proc = cli("check", "--static", str(script), "--format", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["findings"] == []


def test_model_and_source_finding_at_one_line_are_reported_once(cli):
    proc = cli("check", "fixtures/mlp.py", "--format", "json", "--select", "BN203")
    found = json.loads(proc.stdout)["findings"]
    assert len(found) == 1 and found[0]["source"] == "model"
    static = json.loads(cli("check", "--static", "fixtures/mlp.py", "--format", "json", "--select", "BN203").stdout)["findings"]
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
    codes = {f["code"] for f in json.loads(proc.stdout)["findings"]}
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
    assert [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["BN001"]


# -- precision canary -----------------------------------------------------------
def _torch_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    return Path(spec.submodule_search_locations[0])


def test_torch_own_training_utilities_are_clean(cli):
    """torch.nn, torch.optim and torch.utils (about 110k lines) hold no mode
    bugs that we know of -- swa_utils.update_bn() runs a model in train mode
    under no_grad on purpose, convert_sync_batchnorm() passes eps
    positionally on purpose. The analysis must neither crash nor cry wolf."""
    t = _torch_dir()
    proc = cli("check", "--static", t / "nn", t / "optim", t / "utils", "--format", "json")  # every source rule
    assert proc.returncode == 0, proc.stderr + proc.stdout[:2000]
    assert json.loads(proc.stdout)["findings"] == []


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
    assert proc.returncode == 0 and json.loads(proc.stdout)["findings"] == [], proc.stdout
    script.write_text(script.read_text().replace("import Net", "import BNNet as Net"))
    proc = cli("check", "--static", str(script), "--format", "json", env=no_torch)
    assert [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["BN402"]


def static_findings(cli, tree, env) -> list[dict]:
    """``bnlint check --static TREE`` as JSON findings (a clean exit or exit 1)."""
    proc = cli("check", "--static", str(tree), "--format", "json", env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)["findings"]


def test_a_model_whose_nn_comes_from_a_star_import_is_a_model(cli, tmp_path, no_torch):
    # milesial/Pytorch-UNet: unet/unet_model.py has `from .unet_parts import *`
    # and `class UNet(nn.Module)`, its `nn` and its BatchNorm blocks bound by
    # the star import; predict.py runs it under no_grad with no eval().
    pkg = tmp_path / "unet"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .unet_model import UNet\n")
    (pkg / "unet_parts.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        __all__ = ["nn", "DoubleConv"]

        class DoubleConv(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))

            def forward(self, x):
                return self.body(x)
    """))
    (pkg / "unet_model.py").write_text(textwrap.dedent("""
        from .unet_parts import *

        class UNet(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.inc = DoubleConv(c)

            def forward(self, x):
                return self.inc(x)
    """))
    script = tmp_path / "predict.py"
    script.write_text(textwrap.dedent("""
        import torch
        from unet import UNet

        def predict_img(net, img):
            net.eval()
            with torch.no_grad():
                return net(img)

        if __name__ == "__main__":
            net = UNet(3)
            net.load_state_dict(torch.load("model.pth"))
            predict_img(net=net, img=torch.zeros(1, 3, 8, 8))
    """))
    found = static_findings(cli, tmp_path, no_torch)
    assert found == []
    script.write_text(script.read_text().replace("    net.eval()\n", ""))
    found = static_findings(cli, tmp_path, no_torch)
    assert [(f["code"], Path(f["path"]).name) for f in found] == [("BN402", "predict.py")]
    # `__all__` without `nn`: the star import binds no `nn`, UNet is not known to be a model
    (pkg / "unet_parts.py").write_text((pkg / "unet_parts.py").read_text().replace('["nn", "DoubleConv"]', '["DoubleConv"]'))
    found = static_findings(cli, tmp_path, no_torch)
    assert found == []


def test_a_factory_whose_unknown_branch_exits_returns_a_model_built_from_its_arguments(cli, tmp_path, no_torch):
    # weiaicunzai/pytorch-cifar100: utils.get_network() imports a builder per
    # branch and calls sys.exit() for an unknown name; vgg16_bn() returns
    # VGG(make_layers(cfg, batch_norm=True)), whose BatchNorm comes from the
    # argument, not from VGG's own body.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "vgg.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        class VGG(nn.Module):
            def __init__(self, features):
                super().__init__()
                self.features = features

            def forward(self, x):
                return self.features(x)

        def make_layers(cfg, batch_norm=False):
            layers = []
            for v in cfg:
                layers += [nn.Conv2d(3, v, 3)]
                if batch_norm:
                    layers += [nn.BatchNorm2d(v)]
            return nn.Sequential(*layers)

        def vgg16_bn():
            return VGG(make_layers([64], batch_norm=True))
    """))
    (tmp_path / "utils.py").write_text(textwrap.dedent("""
        import sys

        def get_network(args):
            if args.net == "vgg16":
                from models.vgg import vgg16_bn
                net = vgg16_bn()
            else:
                print("the network name you have entered is not supported yet")
                sys.exit()
            return net
    """))
    script = tmp_path / "test.py"
    script.write_text(textwrap.dedent("""
        import torch
        from utils import get_network

        if __name__ == "__main__":
            net = get_network(args)
            net.load_state_dict(torch.load(args.weights))
            net.eval()
            with torch.no_grad():
                for image, label in test_loader:
                    output = net(image)
    """))
    found = static_findings(cli, tmp_path, no_torch)
    assert found == []
    script.write_text(script.read_text().replace("    net.eval()\n", ""))
    found = static_findings(cli, tmp_path, no_torch)
    assert [(f["code"], Path(f["path"]).name) for f in found] == [("BN402", "test.py")]
    # a VGG built from layers without BatchNorm or Dropout stays inert
    (tmp_path / "models" / "vgg.py").write_text(
        (tmp_path / "models" / "vgg.py").read_text().replace("nn.BatchNorm2d(v)", "nn.ReLU()").replace("batch_norm", "relu")
    )
    found = static_findings(cli, tmp_path, no_torch)
    assert found == []


def test_arguments_that_build_no_layer_leave_an_inert_model_inert():
    # A model's arguments make it hold BatchNorm only when they build it:
    # `int(math.sqrt(16))` (a library function bnlint cannot read) builds none.
    text = """
        import math
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, n, head=None):
                super().__init__()
                self.fc = nn.Linear(n, 2)
                self.head = head

            def forward(self, x):
                return self.fc(x)

        model = Net(int(math.sqrt(16)))
        with torch.no_grad():
            model(torch.zeros(1, 4))
    """
    assert source_findings(text) == []
    live = text.replace("Net(int(math.sqrt(16)))", "Net(4, head=nn.Sequential(nn.Linear(2, 2), nn.Dropout()))")
    assert [f.code for f in source_findings(live)] == ["BN402"]


def test_a_builder_function_picked_by_name_from_a_module_of_the_tree(cli, tmp_path, no_torch):
    # akamaster/pytorch_resnet_cifar10: `resnet.__dict__[args.arch]()` with
    # `add_argument('--arch', '-a', default='resnet32')` -- argparse's dest is
    # the long option -- and resnet32() a function returning ResNet(...).
    (tmp_path / "resnet.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        class ResNet(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.bn1 = nn.BatchNorm2d(16)

            def forward(self, x):
                return self.bn1(x)

        def resnet32():
            return ResNet(5)
    """))
    script = tmp_path / "trainer.py"
    script.write_text(textwrap.dedent("""
        import argparse
        import torch
        import resnet

        parser = argparse.ArgumentParser()
        parser.add_argument('--arch', '-a', metavar='ARCH', default='resnet32')
        args = parser.parse_args()

        def train(loader, model, criterion, optimizer):
            model.train()
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        def main():
            model = torch.nn.DataParallel(resnet.__dict__[args.arch]())
            optimizer = torch.optim.SGD(model.parameters(), 0.1)
            for epoch in range(10):
                train(loader, model, criterion, optimizer)
    """))
    found = static_findings(cli, tmp_path, no_torch)
    assert found == []
    script.write_text(script.read_text().replace(
        "    model.train()\n", "    for p in model.parameters():\n        p.requires_grad = False\n    model.train()\n"
    ))
    found = static_findings(cli, tmp_path, no_torch)
    assert [f["code"] for f in found] == ["BN401"], found


def test_a_lowercase_class_named_like_a_model_is_a_class():
    # znxlwm/pytorch-MNIST-CelebA-GAN-DCGAN: `class generator(nn.Module)` and
    # `G = generator(128)`; the name reads like a model variable, and the
    # construction was taken for a forward of it (G was then unknown).
    text = """
        import torch
        import torch.nn as nn

        class generator(nn.Module):
            def __init__(self, d=128):
                super(generator, self).__init__()
                self.deconv1 = nn.ConvTranspose2d(100, d, 4, 1, 0)
                self.deconv1_bn = nn.BatchNorm2d(d)

            def forward(self, x):
                return self.deconv1_bn(self.deconv1(x))

        def show_result(num_epoch):
            G.eval()
            images = G(fixed_z)
            G.train()

        G = generator(128)
        G_optimizer = torch.optim.Adam(G.parameters(), lr=0.0002)
        for epoch in range(20):
            for x, _ in train_loader:
                G.zero_grad()
                G(z).mean().backward()
                G_optimizer.step()
            show_result(epoch + 1)
    """
    assert source_findings(text) == []
    frozen = text.replace("            G.train()", "            for p in G.parameters():\n                p.requires_grad = False\n            G.train()")
    found = source_findings(frozen)
    assert [(f.code, f.line) for f in found] == [("BN401", line_of(frozen, "p.requires_grad = False"))]
    assert "class generator" in found[0].message


def test_a_model_picked_from_a_module_whose_models_are_built_of_batchnorm_blocks(cli, tmp_path, no_torch):
    # 4uiiurz1/pytorch-nested-unet: `archs.__dict__[config['arch']](...)`;
    # UNet and NestedUNet hold BatchNorm through their VGGBlock, not in
    # their own bodies. The finding names a whole model, not the block.
    (tmp_path / "archs.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        __all__ = ["UNet", "NestedUNet"]

        class VGGBlock(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)
                self.bn = nn.BatchNorm2d(c)

            def forward(self, x):
                return self.bn(self.conv(x))

        class UNet(nn.Module):
            def __init__(self, num_classes):
                super().__init__()
                self.block = VGGBlock(num_classes)

            def forward(self, x):
                return self.block(x)

        class NestedUNet(nn.Module):
            def __init__(self, num_classes):
                super().__init__()
                self.block = VGGBlock(num_classes)
                self.deep = VGGBlock(num_classes)

            def forward(self, x):
                return self.deep(self.block(x))
    """))
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import torch
        import archs

        def train(config, loader, model, criterion, optimizer):
            model.train()
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        def main(config):
            model = archs.__dict__[config['arch']](config['num_classes'])
            optimizer = torch.optim.Adam(model.parameters())
            for epoch in range(config['epochs']):
                train(config, loader, model, criterion, optimizer)
    """))
    found = static_findings(cli, tmp_path, no_torch)
    assert found == []
    script.write_text(script.read_text().replace(
        "    model.train()\n", "    for p in model.parameters():\n        p.requires_grad = False\n    model.train()\n"
    ))
    found = static_findings(cli, tmp_path, no_torch)
    assert [f["code"] for f in found] == ["BN401"], found
    assert "class archs.UNet" in found[0]["message"]


def test_pre_commit_hook_runs_the_static_check(cli):
    """The published hook's entry, as pre-commit runs it: entry + staged files."""
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    entry = next(l.split(":", 1)[1].strip() for l in text.splitlines() if l.strip().startswith("entry:"))
    assert entry.split()[:3] == ["bnlint", "check", "--static"]
    proc = cli(*entry.split()[1:], "fixtures/scripts/train_buggy.py", "fixtures/scripts/imagenet_train.py")
    assert proc.returncode == 1 and "BN403" in proc.stdout
    proc = cli(*entry.split()[1:], "fixtures/scripts/imagenet_train.py")
    assert proc.returncode == 0, proc.stdout


# The flow, case by case (each once a false alarm or a miss): the misses are
# the rules' INVALID examples (BN401-BN404), the look-alikes that must stay
# clean are marked fixtures under fixtures/scripts/lookalikes/.


def test_flow_state_forks_and_joins():
    """A fork is independent of its origin; where two paths meet, modes and
    gradient states join, and a name the paths alias to different models
    stops being an alias: it may be either, in the join of their modes."""
    from bnlint.source.flow import EITHER, EVALUATING, FROM_CALLER, TRAINING, Flow

    a = Flow(lambda key: FROM_CALLER, models={"model", "other"})
    a.modes.update(model=TRAINING, other=EVALUATING)
    a.aliases["net"] = "model"
    b = a.fork()
    b.modes["model"] = EVALUATING
    b.aliases["net"] = "other"
    b.set_grad("torch.set_grad_enabled(False)")
    assert (a.modes["model"], a.aliases["net"], a.grad_off()) == (TRAINING, "model", None)
    assert b.grad_off() == "torch.set_grad_enabled(False)"
    assert b.mode("model.backbone") == EVALUATING and b.mode("unset") == FROM_CALLER
    joined = Flow.join(a, b)
    assert joined.mode("model") == EITHER and joined.grad_off() is None
    assert "net" not in joined.aliases and joined.ambiguous["net"] == {"model", "other"}
    assert joined.mode("net") == EITHER
    assert Flow.join(a, a.fork()).aliases == {"net": "model"}
    alone = Flow.join(a, None)
    assert alone is not a and alone.modes == a.modes and Flow.join(None, None) is None


def test_huge_and_deep_files_do_not_break_the_run(cli, tmp_path):
    chain = ["import torch", "import torch.nn as nn", "model = nn.Sequential(nn.BatchNorm1d(4))"]
    chain += [f"def f{i}(model):\n    return f{i + 1}(model)" for i in range(1500)]
    chain += ["def f1500(model):\n    with torch.no_grad():\n        return model(1)", "f0(model)"]
    (tmp_path / "chain.py").write_text("\n".join(chain) + "\n")
    (tmp_path / "sum.py").write_text("x = " + " + ".join(["1"] * 2000) + "\n")
    (tmp_path / "deeper.py").write_text("x = " + "(" * 300 + "1" + ")" * 300 + "\n")
    proc = cli("check", "--static", tmp_path, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = {(Path(f["path"]).name, f["code"]) for f in json.loads(proc.stdout)["findings"]}
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
    found = sorted(source_findings(text, "BN203"), key=lambda f: f.col)
    assert [(f.fix is None, "Monte-Carlo" in f.message) for f in found] == [(True, True), (False, False)]


# -- a loop's first iteration -------------------------------------------------
FIRST_ITERATION = """
import torch
import torchvision

def predict(net, image):
    {before}
    net.eval()
    with torch.no_grad():
        return net(image)

if __name__ == "__main__":
    net = torchvision.models.resnet18()
    {setup}
    for image in images:
        mask = predict(net=net, image=image)
"""


def test_an_export_before_eval_in_a_helper_called_in_a_loop_is_bn404_on_the_first_iteration():
    # Each call puts the model in eval, so at the loop head it is "train or
    # eval"; on the first iteration it is certainly still in training mode.
    text = FIRST_ITERATION.format(before="traced = torch.jit.trace(net, image)", setup="pass")
    found = source_findings(text, "BN404")
    assert [f.line for f in found] == [line_of(text, "traced = torch.jit.trace")]
    assert "predict() is called at line" in found[0].message


def test_a_loop_whose_first_iteration_is_in_eval_stays_clean():
    text = FIRST_ITERATION.format(before="traced = torch.jit.trace(net, image)", setup="net.eval()")
    assert source_findings(text, "BN404") == []
    # and a forward before the eval() in the loop body, on a fresh model: the first iteration infers in train mode
    loop = (
        "import torch\nimport torchvision\n\nnet = torchvision.models.resnet18()\n"
        "for image in images:\n    with torch.no_grad():\n        out = net(image)\n    net.eval()\n"
    )
    assert [f.line for f in source_findings(loop, "BN402")] == [7]
    assert source_findings(loop.replace("for image", "net.eval()\nfor image"), "BN402") == []


# -- callers in the other files of the run ------------------------------------
ENGINE = """
import torch


def train_one_epoch(model, loader, optimizer):
    model.train()
    for x, y in loader:
        model(x).sum().backward()
        optimizer.step()


def evaluate(loader, model):
    {export}
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            model(x)
"""
MAIN = """
import timm
import torch

from engine import evaluate, train_one_epoch


def main(args):
    model = timm.create_model(args.model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        train_one_epoch(model, train_loader, optimizer)
        {before}
        evaluate(val_loader, model)
"""


def test_a_helper_module_is_asked_about_its_callers_in_the_other_files_of_the_run(cli, tmp_path, no_torch):
    # deit / mae: engine.py's evaluate() exports the model it is given; main.py
    # calls it right after training. Checked together, the export is in train mode.
    engine = ENGINE.format(export="traced = torch.jit.trace(model, None)")
    (tmp_path / "engine.py").write_text(engine)
    (tmp_path / "main.py").write_text(MAIN.format(before="pass"))
    found = static_findings(cli, tmp_path, no_torch)
    assert [(f["code"], f["path"].rsplit("/", 1)[-1], f["line"]) for f in found] == [
        ("BN404", "engine.py", line_of(engine, "traced = torch.jit.trace"))
    ], found
    assert f"main.py:{line_of(MAIN, 'evaluate(val_loader')} with it in training mode" in found[0]["message"]
    # the caller puts it in eval first: nothing to report
    (tmp_path / "main.py").write_text(MAIN.format(before="model.eval()"))
    assert static_findings(cli, tmp_path, no_torch) == []


def test_a_model_class_picked_from_a_module_imported_by_a_computed_name(cli, tmp_path, no_torch):
    # hysts/pytorch_image_classification: create_model() imports
    # f"pkg.models.{type}.{name}" with importlib and builds its `Network`;
    # every Network of the package holds BatchNorm, so the model may too.
    models = tmp_path / "pkg" / "models"
    for kind, layer in (("cifar", "nn.BatchNorm2d(8)"), ("imagenet", "nn.Dropout(0.5)")):
        (models / kind).mkdir(parents=True)
        (models / kind / "__init__.py").write_text("")
        (models / kind / "resnet.py").write_text(textwrap.dedent(f"""
            import torch.nn as nn

            class Network(nn.Module):
                def __init__(self, config):
                    super().__init__()
                    self.body = nn.Sequential(nn.Conv2d(3, 8, 3), {layer})

                def forward(self, x):
                    return self.body(x)
        """))
    (tmp_path / "pkg" / "__init__.py").write_text("from .models import create_model\n")
    (models / "__init__.py").write_text(textwrap.dedent("""
        import importlib

        def create_model(config):
            module = importlib.import_module('pkg.models' f'.{config.model.type}.{config.model.name}')
            model = getattr(module, 'Network')(config)
            model.to(config.device)
            return model
    """))
    script = tmp_path / "evaluate.py"
    text = textwrap.dedent("""
        import torch
        from pkg import create_model

        def evaluate(model, loader):
            {eval}
            with torch.no_grad():
                for x, y in loader:
                    model(x)

        def main(config):
            model = create_model(config)
            evaluate(model, loader)
    """)
    script.write_text(text.format(eval="model.eval()"))
    assert static_findings(cli, tmp_path, no_torch) == []
    script.write_text(text.format(eval="pass"))
    found = static_findings(cli, tmp_path, no_torch)
    assert [(f["code"], f["line"]) for f in found] == [("BN402", line_of(text, "model(x)"))], found
    # with no module of the package holding BatchNorm or Dropout, nothing to say
    for kind in ("cifar", "imagenet"):
        f = models / kind / "resnet.py"
        f.write_text(f.read_text().replace("nn.BatchNorm2d(8)", "nn.ReLU()").replace("nn.Dropout(0.5)", "nn.ReLU()"))
    assert static_findings(cli, tmp_path, no_torch) == []


# a training function that freezes the model it is given, then trains it in train()
FROZEN_TRAINING = """
def train(model, optimizer, loader):
    for p in model.parameters():
        p.requires_grad = False
    model.train()
    for x, y in loader:
        model(x).sum().backward()
        optimizer.step()
"""

FREEZE_AND_TRAIN = """
    import torch
    from apex import amp
    from {factory} import create_model
""" + textwrap.indent(FROZEN_TRAINING, "    ") + """
    def main(config, loader, accelerator):
        model = {build}
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        if config.amp:
            {hand_back}
        train(model, optimizer, loader)
"""

NETWORK = """
    import torch.nn as nn

    class Network(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), {layer})

        def forward(self, x):
            return self.body(x)
"""


@pytest.mark.parametrize("hand_back", [
    "pass",
    "model, optimizer = amp.initialize(model, optimizer, opt_level='O1')",
    "model, optimizer, loader = accelerator.prepare(model, optimizer, loader)",
    "model = apex.parallel.convert_syncbn_model(model)",
])
def test_a_model_built_by_a_factory_of_another_module_keeps_what_it_is(cli, tmp_path, no_torch, hand_back):
    # A factory in another file returns its own class: the model is known to
    # hold BatchNorm in the script (what it was built as used to be the bare
    # class name, meaningless outside the factory's file). A call that takes
    # the model and hands it back (apex's amp.initialize, accelerate's
    # prepare) keeps it the same model.
    (tmp_path / "nets.py").write_text(textwrap.dedent(NETWORK.format(layer="nn.BatchNorm2d(8)")) + textwrap.dedent("""
        def create_model(config):
            return Network(config)
    """))
    text = FREEZE_AND_TRAIN.format(factory="nets", build="create_model(config)", hand_back=hand_back)
    (tmp_path / "train.py").write_text(textwrap.dedent(text))
    found = static_findings(cli, tmp_path, no_torch)
    assert [(f["code"], os.path.basename(f["path"]), f["line"]) for f in found] == [
        ("BN401", "train.py", line_of(text, "    train(model, optimizer, loader)"))
    ], found
    assert "class Network, which has BatchNorm layers" in found[0]["message"]
    # without BatchNorm in the factory's class, there is nothing to report
    (tmp_path / "nets.py").write_text((tmp_path / "nets.py").read_text().replace("nn.BatchNorm2d(8)", "nn.ReLU()"))
    assert static_findings(cli, tmp_path, no_torch) == []


def test_a_frozen_model_picked_from_a_package_by_a_computed_name(cli, tmp_path, no_torch):
    # hysts/pytorch_image_classification (an injected freeze): create_model()
    # imports f"pkg.models.{type}.{name}" and builds its `Network`; every
    # Network of the package holds BatchNorm, so the frozen model does.
    models = tmp_path / "pkg" / "models"
    for kind in ("cifar", "imagenet"):
        (models / kind).mkdir(parents=True)
        (models / kind / "__init__.py").write_text("")
        (models / kind / "resnet.py").write_text(textwrap.dedent(NETWORK.format(layer="nn.BatchNorm2d(8)")))
    (tmp_path / "pkg" / "__init__.py").write_text("from .models import create_model\n")
    (models / "__init__.py").write_text(textwrap.dedent("""
        import importlib

        def create_model(config):
            module = importlib.import_module('pkg.models' f'.{config.model.type}.{config.model.name}')
            return getattr(module, 'Network')(config)
    """))
    text = FREEZE_AND_TRAIN.format(factory="pkg", build="create_model(config)", hand_back="pass")
    (tmp_path / "train.py").write_text(textwrap.dedent(text))
    found = static_findings(cli, tmp_path, no_torch)
    assert [(f["code"], os.path.basename(f["path"])) for f in found] == [("BN401", "train.py")], found
    # one Network of the package without BatchNorm: the model may have none
    f = models / "imagenet" / "resnet.py"
    f.write_text(f.read_text().replace("nn.BatchNorm2d(8)", "nn.ReLU()"))
    assert static_findings(cli, tmp_path, no_torch) == []


def test_a_model_picked_by_name_from_a_package_of_builder_functions(cli, tmp_path, no_torch):
    # Cadene/pretrained-models.pytorch (an injected freeze): the model is
    # `pretrainedmodels.__dict__[args.arch]()`, the argument's default names a
    # builder function of the package that returns a class of another file.
    pkg = tmp_path / "zoo"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .models.mobile import mobilenet\n")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "models" / "mobile.py").write_text(textwrap.dedent(NETWORK.format(layer="nn.BatchNorm2d(8)")) + textwrap.dedent("""
        def mobilenet(num_classes=1000, pretrained=None):
            model = Network(None)
            if pretrained is not None:
                model.load_state_dict(pretrained)
            return model
    """))
    text = textwrap.dedent("""
        import argparse
        import torch
        import zoo

        parser = argparse.ArgumentParser()
        parser.add_argument("--arch", default="mobilenet")
    """) + FROZEN_TRAINING + textwrap.dedent("""
        def main(loader):
            args = parser.parse_args()
            model = zoo.__dict__[args.arch](num_classes=10)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            train(model, optimizer, loader)
    """)
    (tmp_path / "train.py").write_text(text)
    found = static_findings(cli, tmp_path, no_torch)
    assert [(f["code"], f["line"]) for f in found] == [("BN401", line_of(text, "    train(model, optimizer, loader)"))]
    assert "class Network, which has BatchNorm layers" in found[0]["message"]


@pytest.mark.parametrize("resume, found", [
    # built on one path, loaded on the other: on the first it is an Encoder
    ("if checkpoint is None:\n        encoder = Encoder()\n    else:\n        encoder = torch.load(checkpoint)['encoder']", True),
    ("encoder = Encoder()\n    if checkpoint is not None:\n        encoder = torch.load(checkpoint)['encoder']", True),
    # built, then replaced on every path: what it is is not known
    ("encoder = Encoder()\n    encoder = torch.load(checkpoint)['encoder']", False),
])
def test_what_a_model_was_built_as_survives_a_rebinding_on_another_path(cli, tmp_path, no_torch, resume, found):
    # sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning (an injected freeze):
    # the encoder is built, or unpickled from a checkpoint when resuming.
    (tmp_path / "nets.py").write_text(textwrap.dedent(NETWORK.format(layer="nn.BatchNorm2d(8)")).replace("Network", "Encoder"))
    text = textwrap.dedent("""
        import torch
        from nets import Encoder
    """) + FROZEN_TRAINING + textwrap.dedent("""
        def main(checkpoint, loader):
            {resume}
            optimizer = torch.optim.SGD(encoder.parameters(), lr=0.1)
            train(encoder, optimizer, loader)
    """).format(resume=resume)
    (tmp_path / "train.py").write_text(text)
    codes = [f["code"] for f in static_findings(cli, tmp_path, no_torch)]
    assert codes == (["BN401"] if found else []), codes


@pytest.mark.parametrize("before, found", [
    ("fill_memory_bank(loader, model)", []),  # puts the model in eval() first: it arrives in eval
    ("pass", [("BN402", "evaluate_utils.py")]),  # right after training
])
def test_an_evaluation_helper_with_a_caller_in_another_file_is_judged_by_it(cli, tmp_path, no_torch, before, found):
    # wvangansbeke/Unsupervised-Classification: contrastive_evaluate(loader,
    # model) never calls eval(); its only caller, in simclr.py, calls it after
    # fill_memory_bank(), which does. "Leaves the mode to its callers" is
    # for a helper that has none.
    (tmp_path / "evaluate_utils.py").write_text(textwrap.dedent("""
        import torch

        @torch.no_grad()
        def contrastive_evaluate(val_loader, model):
            for x in val_loader:
                model(x)
    """))
    (tmp_path / "simclr.py").write_text(textwrap.dedent(f"""
        import torch
        import torchvision
        from evaluate_utils import contrastive_evaluate

        def fill_memory_bank(loader, model):
            model.eval()
            with torch.no_grad():
                for x in loader:
                    model(x)

        def main(loader):
            model = torchvision.models.resnet18()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(10):
                model.train()
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()
                {before}
                contrastive_evaluate(loader, model)
    """))
    got = [(f["code"], os.path.basename(f["path"])) for f in static_findings(cli, tmp_path, no_torch)]
    assert got == found, got


@pytest.mark.parametrize("body, found", [
    ("traced = torch.jit.trace(model, x)\n    model.eval()", True),  # the export before the function's own eval()
    ("model.eval()\n    traced = torch.jit.trace(model, x)", False),
    ("traced = torch.jit.trace(model, x)", False),  # the mode is the caller's, and there is none to ask
])
def test_an_export_before_the_helpers_own_eval(tmp_path, body, found):
    # eriklindernoren/PyTorch-YOLOv3's detect_image(model, image) (an export
    # injected before its model.eval()): nothing in the repository calls it,
    # and the function itself does not count on an eval-mode model.
    text = textwrap.dedent("""
        import torch

        def detect_image(model, x):
            {body}
            with torch.no_grad():
                return model(x)
    """).format(body=body)
    path = tmp_path / "detect.py"
    path.write_text(text)
    codes = [f.code for f in check_source(str(path)) if f.code == "BN404"]
    assert codes == (["BN404"] if found else []), codes


def test_a_class_star_imported_through_a_package_init_is_known(cli, tmp_path, no_torch):
    # kuangliu/pytorch-cifar: main.py does `from models import *`, and
    # models/__init__.py `from .dla_simple import *`: SimpleDLA is
    # models.dla_simple.SimpleDLA, a class with BatchNorm layers.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("from .dla_simple import *\n")
    (tmp_path / "models" / "dla_simple.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        class SimpleDLA(nn.Module):
            def __init__(self):
                super().__init__()
                self.base = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(True))

            def forward(self, x):
                return self.base(x)
    """))
    (tmp_path / "main.py").write_text(textwrap.dedent("""
        import torch
        from models import *

        net = SimpleDLA()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)

        def train(epoch):
            for p in net.parameters():
                p.requires_grad = False
            net.train()
            for x, y in trainloader:
                optimizer.zero_grad()
                net(x).sum().backward()
                optimizer.step()

        for epoch in range(10):
            train(epoch)
    """))
    found = static_findings(cli, tmp_path, no_torch)
    assert [f["code"] for f in found] == ["BN401"], found
    assert "class models.dla_simple.SimpleDLA" in found[0]["message"]


def test_a_model_whose_methods_call_a_tensor_helper_of_the_file_is_mode_independent():
    # hunkim/PyTorchZeroToAll: RNNClassifier (Embedding, GRU without dropout,
    # Linear) builds its hidden state with the file's create_variable(): a
    # tensor helper builds no layer, so test() running it in train mode is fine.
    text = """
    import torch
    import torch.nn as nn
    from torch.autograd import Variable

    def create_variable(tensor):
        if torch.cuda.is_available():
            return Variable(tensor.cuda())
        return Variable(tensor)

    class RNNClassifier(nn.Module):
        def __init__(self, n, hidden, out):
            super().__init__()
            self.embedding = nn.Embedding(n, hidden)
            self.gru = nn.GRU(hidden, hidden, 1, bidirectional=True)
            self.fc = nn.Linear(hidden, out)

        def forward(self, x):
            hidden = create_variable(torch.zeros(2, x.size(1), self.fc.in_features))
            output, hidden = self.gru(self.embedding(x), hidden)
            return self.fc(hidden[-1])

    classifier = RNNClassifier(128, 100, 18)

    def test():
        for names, countries in test_loader:
            output = classifier(names)
            correct = output.argmax(1).eq(countries).sum()

    for epoch in range(10):
        for names, countries in train_loader:
            loss = criterion(classifier(names), countries)
            loss.backward()
            optimizer.step()
        test()
    """
    assert source_findings(text, "BN402") == []
    # a helper that builds a dropout layer does make the class mode-dependent
    live = text.replace("return Variable(tensor)", "return nn.Dropout(0.5)(Variable(tensor))")
    assert [f.line for f in source_findings(live, "BN402")] == [line_of(live, "output = classifier(names)")]


LEGACY_GAN = """
import torch
import torch.nn as nn
from torch.autograd import Variable

class generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(100, 64, 4)
        self.bn = nn.BatchNorm2d(64)

    def forward(self, z):
        return torch.tanh(self.bn(self.deconv(z)))

G = generator()
fixed_z_ = torch.randn((25, 100)).view(-1, 100, 1, 1)
fixed_z_ = Variable(fixed_z_, volatile=True)

def show_result(epoch):
    z_ = torch.randn((25, 100)).view(-1, 100, 1, 1)
    z_ = Variable(z_, volatile=True)
    {eval}
    test_images = G(z_)
    fixed_images = G(fixed_z_)
    G.train()

for epoch in range(10):
    for x in loader:
        G_result = G(Variable(torch.randn(8, 100, 1, 1)))
        G_result.sum().backward()
        G_optimizer.step()
    show_result(epoch)
"""


def test_a_forward_on_volatile_variables_is_an_inference():
    # znxlwm/pytorch-MNIST-CelebA-GAN-DCGAN: before torch 0.4,
    # Variable(..., volatile=True) was how a forward ran without gradients.
    assert source_findings(LEGACY_GAN.format(eval="G.eval()"), "BN402") == []
    text = LEGACY_GAN.format(eval="pass")
    found = source_findings(text, "BN402")
    assert [f.line for f in found] == [line_of(text, "test_images = G(z_)"), line_of(text, "fixed_images = G(fixed_z_)")]
    assert "volatile" in found[0].message


def test_a_target_forward_in_a_one_step_training_function_is_deliberate():
    # L1aoXingyu/pytorch-beginner's DQN: optimize_model() computes the next
    # states' values with the same network on volatile inputs, then steps.
    text = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.autograd import Variable

    class DQN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(3, 16, 5), nn.BatchNorm2d(16), nn.ReLU(True))

        def forward(self, x):
            return self.conv(x).flatten(1)

    model = DQN()

    def optimize_model():
        next_states = Variable(torch.cat(batch.next_state), volatile=True)
        values = model(Variable(torch.cat(batch.state)))
        next_values = model(next_states).max(1)[0]
        loss = F.smooth_l1_loss(values, next_values)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for episode in range(100):
        optimize_model()
    """
    assert source_findings(text, "BN402") == []


def test_a_model_class_picked_from_a_registry_dict_is_built_where_it_is_called(cli, tmp_path, no_torch):
    # meetps/pytorch-semseg: _get_model_instance(name) returns
    # {"unet": unet, "fcn8s": fcn8s, ...}[name]; get_model() calls it with
    # the config's arguments in each branch; validate.py runs the model.
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        class unet(nn.Module):
            def __init__(self, n_classes=2):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))

            def forward(self, x):
                return self.body(x)

        class fcn(nn.Module):
            def __init__(self, n_classes=2):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())

            def forward(self, x):
                return self.body(x)
    """))
    (pkg / "models.py").write_text(textwrap.dedent("""
        from pkg.nets import unet, fcn

        def get_model(model_dict, n_classes):
            name = model_dict["arch"]
            model = _get_model_instance(name)
            if name == "unet":
                model = model(n_classes=n_classes)
            else:
                model = model(n_classes=n_classes)
            return model

        def _get_model_instance(name):
            try:
                return {"unet": unet, "fcn": fcn}[name]
            except KeyError:
                raise ValueError(name)
    """))
    script = tmp_path / "validate.py"
    text = textwrap.dedent("""
        import torch
        from pkg.models import get_model

        model = get_model(cfg["model"], 3).to(device)
        {eval}
        for images, labels in valloader:
            with torch.no_grad():
                outputs = model(images)
    """)
    script.write_text(text.format(eval="model.eval()"))
    assert static_findings(cli, tmp_path, no_torch) == []
    script.write_text(text.format(eval="pass"))
    found = static_findings(cli, tmp_path, no_torch)
    assert [(f["code"], f["line"]) for f in found] == [("BN402", line_of(text, "outputs = model(images)"))], found
    # a registry of classes none of which holds BatchNorm or Dropout: nothing to say
    (pkg / "nets.py").write_text((pkg / "nets.py").read_text().replace("nn.BatchNorm2d(8)", "nn.ReLU()"))
    assert static_findings(cli, tmp_path, no_torch) == []


def test_a_freeze_done_by_a_method_of_the_model_is_a_freeze_at_its_call():
    # sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning: Encoder.fine_tune(False)
    # freezes the whole ResNet inside a method of the model; train() then
    # runs encoder.train(), so its BatchNorm statistics keep updating.
    text = """
    import torch
    import torch.nn as nn
    import torchvision

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            resnet = torchvision.models.resnet101(weights="DEFAULT")
            self.resnet = nn.Sequential(*list(resnet.children())[:-2])

        def forward(self, images):
            return self.resnet(images)

        def fine_tune(self, fine_tune=True):
            for p in self.resnet.parameters():
                p.requires_grad = False
            for c in list(self.resnet.children())[5:]:
                for p in c.parameters():
                    p.requires_grad = fine_tune

    encoder = Encoder()
    encoder.fine_tune(False)
    decoder = Decoder()

    def train(loader, encoder, decoder, optimizer):
        decoder.train()
        encoder.train()
        for imgs, caps in loader:
            loss = criterion(decoder(encoder(imgs)), caps)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    for epoch in range(10):
        train(loader, encoder, decoder, optimizer)
    """
    found = source_findings(text, "BN401")
    assert [f.line for f in found] == [line_of(text, "encoder.fine_tune(False)")]
    assert "'encoder.resnet'" in found[0].message and "Encoder.fine_tune()" in found[0].message
    # a method that freezes nothing of the model is no freeze
    assert source_findings(text.replace("p.requires_grad = False", "p.requires_grad = True"), "BN401") == []
