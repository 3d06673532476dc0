"""Shape-aware analysis: example inputs from the CLI, the file or the hook;
batch-size rules; models far larger than memory, on the meta device."""

import json
import subprocess
import sys

import pytest

from bnlint.model.worker import analyze_file

from helpers import FIXTURES, ROOT


def codes(findings):
    return sorted(f.code for f in findings)


def test_cli_input_shape_overrides_the_file(cli):
    proc = cli("check", "fixtures/shapes.py::EmbeddingHead", "--input-shape", "16,3,64,64", "--format", "json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["findings"] == []
    proc = cli("check", "fixtures/shapes.py::EmbeddingHead", "--input-shape", "4,3,64,64", "--format", "json")
    assert [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["BN302"]
    msg = json.loads(proc.stdout)["findings"][0]["message"]
    assert "batch size 4" in msg and "[4, 3, 64, 64]" in msg


def test_batch_size_overrides_the_first_dimension(cli):
    proc = cli("check", "fixtures/shapes.py::EmbeddingHead", "--batch-size", "32", "--format", "json")
    assert json.loads(proc.stdout)["findings"] == []
    proc = cli("check", "fixtures/shapes.py::EmbeddingHead", "--batch-size", "1", "--format", "json")
    found = json.loads(proc.stdout)["findings"]
    assert [f["code"] for f in found] == ["BN302", "BN301"]
    bn301 = found[1]
    assert bn301["message"].startswith("BatchNorm1d 'fc_bn' sees 1 value per channel at batch size 1 (input [1, 16])")


def test_two_inputs_with_dtypes(cli):
    proc = cli(
        "check", "fixtures/shapes.py::TwoTower", "--input-shape", "1,3,32,32", "--input-shape", "1,5",
        "--dtype", "float32,int64", "--format", "json",
    )
    assert [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["BN302", "BN301"], proc.stderr


def test_without_inputs_the_report_says_so_once(cli, tmp_path):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(
            "import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(4, 4, bias=False), nn.BatchNorm1d(4))\n"
        )
    proc = cli("check", str(tmp_path))
    assert proc.returncode == 0
    notes = [l for l in proc.stdout.splitlines() if "batch-size rules" in l]
    assert len(notes) == 1 and "no example inputs" in notes[0] and "a.py::model" in notes[0]


def test_bad_shapes_and_dtypes_exit_2(cli):
    for args, msg in (
        (["--input-shape", "8,three"], "expected positive integers"),
        (["--input-shape", "0,3"], "expected positive integers"),
        (["--input-shape", "1,3", "--dtype", "float32,int64"], "give one per input"),
        (["--input-shape", "1,3", "--dtype", "quaternion"], "--dtype 'quaternion'"),
        (["--dtype", "int64"], "--dtype needs --input-shape"),
    ):
        proc = cli("check", "fixtures/shapes.py", *args)
        assert proc.returncode == 2 and msg in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_malformed_shapes_are_rejected_not_shortened():
    from bnlint.inputs import parse_shape

    for text, shape in (("8,3,224,224", (8, 3, 224, 224)), ("8x3x32x32", (8, 3, 32, 32)),
                        ("(8, 16)", (8, 16)), ("8,", (8,))):
        assert parse_shape(text) == shape
    # a stray separator or a space must not drop or merge a dimension
    for text in ("8,x", "x8", "8,,3", "8 3 224 224", "1x", "8,3.5"):
        with pytest.raises(ValueError, match="expected positive integers"):
            parse_shape(text)


def test_constructor_needing_real_data_falls_back_to_cpu(tmp_path):
    f = tmp_path / "needs_data.py"
    f.write_text(
        "import torch\nimport torch.nn as nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        width = int(torch.tensor(16).item())\n"
        "        self.fc = nn.Linear(8, width)\n"
        "        self.bn = nn.BatchNorm1d(width)\n\n"
        "    def forward(self, x):\n"
        "        return self.bn(self.fc(x))\n\n"
        "example_inputs = ((1, 8),)\n"
    )
    result = analyze_file(str(f))
    assert codes(result.findings) == ["BN101", "BN301"]
    assert any("built on the CPU" in n and "meta" in n for n in result.notes), result.notes


@pytest.mark.slow
def test_huge_model_stays_small_in_memory():
    """The 43 GB model of fixtures/huge.py, through the real CLI: the analysis
    process's peak RSS stays far below the model's size."""
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run([sys.executable, '-m', 'bnlint', 'check', 'fixtures/huge.py', "
        "'--input-shape', '1,32768', '--format', 'json'], capture_output=True, text=True)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(p.stdout)\n"
        "print(p.stderr, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    head, body = out.stdout.split("\n", 1)
    rc, maxrss_kb = map(int, head.split())
    assert rc == 1, out.stderr
    found = json.loads(body)["findings"]
    assert {f["code"] for f in found} == {"BN101", "BN301"}, (body, out.stderr)
    assert maxrss_kb < 1.5 * 1024 * 1024, f"peak RSS {maxrss_kb / 1024:.0f} MB"


def test_shape_only_layers_give_dense_outputs_as_torch_does():
    # BatchNorm/activation/dropout outputs are computed shape-only on meta; for
    # a sliced or expanded input torch's result is dense, so a .view() after
    # it works -- the shape run must not fail where the real forward does not.
    import torch
    import torch.nn as nn

    from bnlint.inputs import InputSpec
    from bnlint.model.shapes import propagate

    class Sliced(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.act = nn.ReLU()
            self.fc = nn.Linear(8 * 16 * 32, 10)

        def forward(self, x):
            x = self.bn(self.conv(x)[:, :, ::2])  # every other row: not contiguous
            return self.fc(self.act(x).view(x.size(0), -1))

    class Expanded(nn.Module):
        def __init__(self):
            super().__init__()
            self.query = nn.Parameter(torch.zeros(1, 4, 8))
            self.drop = nn.Dropout(0.1)

        def forward(self, x):
            return self.drop(self.query.expand(x.size(0), -1, -1)).view(x.size(0), -1)

    for cls, shape in ((Sliced, (2, 3, 32, 32)), (Expanded, (2, 3))):
        cls().eval()(torch.randn(*shape))  # real torch: fine
        with torch.device("meta"):
            model = cls()
        info = propagate(model, InputSpec((shape,), ("float32",), "test"))
        assert info.error is None, (cls.__name__, info.error)


def test_shape_only_convolutions_agree_with_torch():
    # A Conv1d/2d/3d's output on meta is computed by bnlint (torch's kernel on
    # meta is Python, and its first call imports sympy); the shape, or the
    # failure, must be torch's for any configuration a model can have.
    import warnings

    import torch
    import torch.nn as nn
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from bnlint.inputs import InputSpec
    from bnlint.model.shapes import propagate

    @st.composite
    def cases(draw):
        rank = draw(st.integers(1, 3))
        groups = draw(st.sampled_from([1, 1, 2, 3]))
        cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
        stride = draw(st.integers(1, 3))
        padding = draw(st.sampled_from([0, 1, 2, "valid"] + (["same"] if stride == 1 else [])))
        conv = dict(kernel_size=draw(st.integers(1, 4)), stride=stride, padding=padding,
                    dilation=draw(st.integers(1, 2)), groups=groups, bias=draw(st.booleans()))
        channels = draw(st.sampled_from([cin, cin, cin, cin + 1]))
        shape = ((2,) if draw(st.booleans()) else ()) + (channels,) + tuple(draw(st.integers(1, 9)) for _ in range(rank))
        shape += (3,) if draw(st.integers(0, 9)) == 0 else ()  # one dim too many
        dtype = draw(st.sampled_from(["float32"] * 5 + ["float64"]))
        return rank, cin, cout, conv, shape, dtype

    @settings(max_examples=300, deadline=None)
    @given(cases())
    def check(case):
        rank, cin, cout, conv, shape, dtype = case
        with torch.device("meta"):
            model = nn.Sequential(getattr(nn, f"Conv{rank}d")(cin, cout, **conv), nn.Identity()).eval()
        try:  # torch's own kernel on meta
            warnings.simplefilter("ignore")  # torch's note on padding="same" with an even kernel
            expected = tuple(model[0](torch.empty(shape, dtype=getattr(torch, dtype), device="meta")).shape)
        except RuntimeError:
            expected = None
        info = propagate(model, InputSpec((shape,), (dtype,), "test"))
        assert (info.input_shape("1") if info.error is None else None) == expected, (case, info.error)

    check()


def test_meta_kernels_run_without_importing_dynamo():
    """The analysis server makes torch's Python meta kernels skip their
    lazy import of torch._dynamo (1 s, a residual model's first `+` on meta),
    in a fresh interpreter of its own: the results are the kernels' own, type
    promotion and broadcasting errors included, and a shape run of a residual
    model imports no dynamo."""
    probe = (
        "import sys, torch\n"
        "from bnlint.model.shapes import meta_kernels_called_directly, propagate\n"
        "from bnlint.inputs import InputSpec\n"
        "assert meta_kernels_called_directly() > 0 or not hasattr(torch, '_compile')\n"
        "x = torch.empty(2, 3, 4, 4, device='meta')\n"
        "y = x + torch.empty(3, 1, 1, dtype=torch.float64, device='meta')\n"
        "assert (y.shape, y.dtype) == ((2, 3, 4, 4), torch.float64), (y.shape, y.dtype)\n"
        "try:\n"
        "    x * torch.empty(5, 1, device='meta')\n"
        "    raise SystemExit('no broadcasting error')\n"
        "except RuntimeError:\n"
        "    pass\n"
        "sys.path.insert(0, 'fixtures')\n"
        "from resnet import resnet50\n"
        "with torch.device('meta'):\n"
        "    model = resnet50()\n"
        "info = propagate(model, InputSpec(((2, 3, 64, 64),), ('float32',), 'test'))\n"
        "assert info.error is None, info.error\n"
        "assert info.input_shape('fc') == (2, 2048), info.input_shape('fc')\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", out.stdout
