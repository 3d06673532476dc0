"""Discovery and import safety, in-process (the CLI runs the same code in a
child process)."""

import textwrap

import pytest

from bnlint.discover.paths import Target
from bnlint.discover.policy import classify
from bnlint.model.process import analyze_models
from bnlint.model.worker import analyze_file


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_building_blocks_are_reported_as_part_of_their_model(tmp_path):
    f = write(tmp_path / "net.py", """
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self, c=8):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)
                self.bn = nn.BatchNorm2d(c)

            def forward(self, x):
                return self.bn(self.conv(x))

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b = Block(), Block()

            def forward(self, x):
                return self.b(self.a(x))
    """)
    result = analyze_file(str(f))
    assert result.models == ["Net"]
    assert sorted(x.module for x in result.findings) == ["a.conv", "b.conv"]


def test_instance_wins_over_its_class_and_private_names_are_skipped(tmp_path):
    f = write(tmp_path / "m.py", """
        import torch.nn as nn

        class Net(nn.Sequential):
            def __init__(self):
                super().__init__(nn.Linear(4, 4), nn.BatchNorm1d(4))

        model = Net()
        _scratch = Net()
    """)
    assert analyze_file(str(f)).models == ["model"]


def test_classes_needing_arguments_are_skipped_unless_the_hook_builds_them(tmp_path):
    f = write(tmp_path / "m.py", """
        import torch.nn as nn

        class Net(nn.Sequential):
            def __init__(self, width):
                super().__init__(nn.Linear(4, width), nn.BatchNorm1d(width))
    """)
    assert analyze_file(str(f)).models == []
    f.write_text(f.read_text() + "\ndef bnlint_models():\n    return {'wide': Net(64)}\n")
    result = analyze_file(str(f))
    assert result.models == ["wide"] and [x.code for x in result.findings] == ["BN101"]


def test_hook_must_return_a_dict_of_modules(tmp_path):
    f = write(tmp_path / "m.py", """
        import torch.nn as nn

        def bnlint_models():
            return [nn.Linear(2, 2)]
    """)
    [finding] = analyze_file(str(f)).findings
    assert finding.code == "BN001" and finding.line == 4 and "must return a dict" in finding.message


def test_files_inside_packages_keep_relative_imports(tmp_path):
    pkg = tmp_path / "proj" / "models"
    pkg.mkdir(parents=True)
    (tmp_path / "proj" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    write(pkg / "layers.py", """
        import torch.nn as nn

        def conv_bn(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.BatchNorm2d(cout))
    """)
    f = write(pkg / "net.py", """
        import torch.nn as nn
        from .layers import conv_bn

        model = nn.Sequential(conv_bn(3, 8), nn.ReLU())
    """)
    result = analyze_file(str(f))
    [finding] = result.findings
    assert finding.code == "BN101" and finding.path.endswith("layers.py") and finding.line == 5


def test_untraceable_root_reports_only_what_is_really_opaque(tmp_path):
    # The root's forward branches on a value: its children are traced on their
    # own. BatchNorm children are leaves, not forwards that "could not be traced".
    f = write(tmp_path / "m.py", """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                if x.sum() > 0:
                    x = self.body(x)
                return self.bn(x)

        bn = nn.BatchNorm1d(4)
    """)
    result = analyze_file(str(f))
    assert sorted((x.code, x.model, x.module) for x in result.findings) == [
        ("BN002", "Net", None), ("BN101", "Net", "body.0"),
    ]
    [bn002] = [x for x in result.findings if x.code == "BN002"]
    assert "the model (Net)" in bn002.message


def test_files_in_the_working_directory_do_not_shadow_the_stdlib(tmp_path, monkeypatch):
    # A user's struct.py next to their model must not break `import torch`
    # in the analysis process; their own sibling imports still work.
    (tmp_path / "struct.py").write_text("raise RuntimeError('user struct.py imported')\n")
    (tmp_path / "blocks.py").write_text("WIDTH = 4\n")
    f = write(tmp_path / "net.py", """
        import torch.nn as nn
        from blocks import WIDTH

        model = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.BatchNorm1d(WIDTH))
    """)
    monkeypatch.chdir(tmp_path)
    [result] = analyze_models([Target("net.py")], ["BN001", "BN101"])
    assert [(x.code, x.module) for x in result.findings] == [("BN101", "0")], result.findings


@pytest.mark.parametrize(
    "source, importable, why",
    [
        ("import torch.nn as nn\nclass Net(nn.Module):\n    pass\n", True, "defines classes"),
        ("import torch.nn as nn\nmodel = nn.Linear(2, 2)\n", True, "builds objects"),
        ("def bnlint_models():\n    return {}\n", True, "bnlint_models"),
        ("import torch\nfor epoch in range(10):\n    pass\n", False, "loop at module level (line 2)"),
        ("import torch\nwith torch.no_grad():\n    pass\n", False, "`with` block"),
        ("import argparse\nargs = argparse.ArgumentParser().parse_args()\n", False, ".parse_args()"),
        ("def main():\n    pass\nmain()\n", False, "calls main()"),
        ("import torch\nloss = torch.zeros(1)\nloss.backward()\n", False, ".backward()"),
        ("def main():\n    pass\nif __name__ == '__main__':\n    main()\n", False, "defines no models"),
        (
            "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n"
            "if __name__ == '__main__':\n    for i in range(3):\n        Net()\n",
            True, "defines classes",
        ),
    ],
)
def test_import_safety_is_decided_from_source(tmp_path, source, importable, why):
    f = tmp_path / "f.py"
    f.write_text(source)
    verdict = classify(str(f))
    assert verdict.importable is importable and why in verdict.reason


def test_initializers_skip_meta_tensors_only_and_keep_their_errors(tmp_path):
    # A meta build does not fill meta weights (torch's Python decompositions
    # were a third of the build), but a real tensor is initialized as ever,
    # and an initializer that reads a weight's fans still raises on a 1-D one.
    import torch
    import torch.nn as nn

    from bnlint.model.worker import _on_device

    real, original = torch.zeros(4, 4), nn.init.kaiming_uniform_
    with _on_device(True):
        conv = nn.Conv2d(3, 8, 3)
        nn.init.kaiming_uniform_(real)
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            nn.init.kaiming_uniform_(torch.empty(5))
    assert conv.weight.is_meta and real.abs().sum() > 0
    assert nn.init.kaiming_uniform_ is original  # restored after the build
    f = write(tmp_path / "net.py", """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                nn.init.kaiming_normal_(self.conv.weight, mode="fan_out")
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))
    """)
    result = analyze_file(str(f))
    assert [x.code for x in result.findings] == ["BN101"]
