"""The zoo classes of issue 12, in-process: the run tracer, the retry without
a cap, one BN002 per model, lazy hooks, meta builds that keep `__init__`
arithmetic, and BN201 stopping where the variance shift does."""

from pathlib import Path

import torch.nn as nn

from bnlint.engine.registry import get_rule
from bnlint.inputs import InputSpec
from bnlint.model.context import build_context
from bnlint.model.worker import analyze_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def codes(result, code):
    return [f for f in result.findings if f.code == code]


def test_seventy_untraceable_blocks_get_their_seventy_findings():
    result = analyze_file(str(FIXTURES / "zoo_many_blocks.py"))
    assert len(codes(result, "BN101")) == 70
    [bn002] = codes(result, "BN002")
    assert "70 parts in all" in bn002.message and bn002.extra["untraced_parts"] == 70
    assert "zoo_many_blocks.py:14" in bn002.message  # the failing line


def test_containers_and_forwardless_modules_are_never_bn002():
    result = analyze_file(str(FIXTURES / "zoo_modulelist.py"))
    [bn002] = codes(result, "BN002")
    assert bn002.module is None and "missing" not in bn002.message
    assert {f.module for f in codes(result, "BN101")} == {"blocks.0.0", "blocks.1.0"}


def test_a_model_traced_not_at_all_is_bn001(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "import torch.nn as nn\n\n"
        "class Gate(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(8, 8, 1)\n"
        "        self.bn = nn.BatchNorm2d(8)\n\n"
        "    def forward(self, x):\n"
        "        if x.sum() > 0:\n"
        "            return self.bn(self.conv(x))\n"
        "        return x\n"
    )
    result = analyze_file(str(f))
    [bn001] = codes(result, "BN001")
    assert "could not be traced at all" in bn001.message and bn001.line == 10
    assert not codes(result, "BN002")


def test_shape_dependent_forward_is_recorded_from_a_run_with_an_inferred_input():
    result = analyze_file(str(FIXTURES / "zoo_shape_if.py"))
    assert [f.module for f in codes(result, "BN101")] == ["mlp.fc1"]
    assert not codes(result, "BN002")
    assert any("inferred from the first layer" in n and "not for the batch-size rules" in n for n in result.notes)
    assert any("ShapeIfNet" in n for n in result.no_inputs)  # batch-size rules did not use it


def test_list_iterating_detection_model_is_analyzed_whole_given_inputs():
    result = analyze_file(str(FIXTURES / "zoo_detection_head.py"))
    assert sorted(f.module for f in codes(result, "BN101")) == ["head.convs.0", "head.convs.1"]
    assert not codes(result, "BN002") and not codes(result, "BN001")


def _relpos_block(drop_on_values: bool):
    import importlib.util

    spec = importlib.util.spec_from_file_location("zoo_relpos", FIXTURES / "zoo_relpos_mlp.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    block = mod.RelPosBlock()
    if drop_on_values:  # a dropout on the attention output does reach the BN
        block.attn.proj = nn.Sequential(nn.Dropout(0.1), block.attn.proj)
    return block


def test_bn201_stops_at_softmax_for_an_attention_bias_mlp():
    spec = InputSpec(((16, 8, 4, 4),), ("float32",), "test")
    ctx = build_context(_relpos_block(False), inputs=spec, needs=("graph",))
    assert any(n.op == "call_module" for frag in ctx.graph.fragments for n in frag.graph.nodes)
    assert not ctx.graph.opaque
    rule = get_rule("BN201")()
    assert list(rule.check_model(ctx)) == []
    ctx = build_context(_relpos_block(True), inputs=spec, needs=("graph",))
    [finding] = rule.check_model(ctx)
    assert finding.module == "attn.proj.0"
    assert "along Dropout 'attn.proj.0' -> Linear 'attn.proj.1' ->" in finding.message
    assert finding.message.count("BatchNorm2d 'bn'") == 2  # named, and at the end of the path


def test_regnet_style_init_builds_without_the_cpu_fallback():
    result = analyze_file(str(FIXTURES / "zoo_regnet_init.py"))
    assert len(codes(result, "BN101")) == 3
    # __init__ ran on real tensors, the weights were put on meta: no CPU weights
    assert any("parameters and buffers were put on meta" in n for n in result.notes), result.notes


def test_lazy_hook_builds_each_model_on_its_own():
    result = analyze_file(str(FIXTURES / "zoo_hook_lazy.py"))
    assert result.models == ["good"]
    [bn001] = codes(result, "BN001")
    assert bn001.model == "bad" and bn001.line == 11
    assert [f.model for f in codes(result, "BN101")] == ["good"]


def test_bn106_on_the_model_and_in_source():
    result = analyze_file(str(FIXTURES / "zoo_gan_eps.py"))
    [finding] = codes(result, "BN106")
    assert finding.module == "bn" and "eps=0.8" in finding.message


def test_parts_run_on_their_own_when_the_whole_run_fails_further_on(tmp_path):
    # The head iterates a tensor (torch.fx cannot); the whole model cannot run
    # on meta tensors (a copy to the CPU, for which no stand-in exists, before
    # its last layer), but the head was called before that and is run on its
    # own with the arguments it got.
    f = tmp_path / "det.py"
    f.write_text(
        "import torch\nimport torch.nn as nn\n\n"
        "class Head(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.convs = nn.ModuleList([nn.Conv2d(8, 8, 3, padding=1) for _ in range(2)])\n"
        "        self.bns = nn.ModuleList([nn.BatchNorm2d(8) for _ in range(2)])\n\n"
        "    def forward(self, feats):\n"
        "        return [bn(conv(f)) for f, conv, bn in zip(feats, self.convs, self.bns)]\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)\n"
        "        self.head = Head()\n"
        "        self.tail = nn.Conv2d(8, 8, 1, bias=False)\n\n"
        "    def forward(self, x):\n"
        "        y = self.stem(x)\n"
        "        outs = self.head(torch.stack([y, y]))\n"
        "        return self.tail(outs[0].cpu())\n\n"
        "example_inputs = ((16, 3, 8, 8),)\n"
    )
    result = analyze_file(str(f))
    assert sorted(x.module for x in codes(result, "BN101")) == ["head.convs.0", "head.convs.1"]
    assert not codes(result, "BN002") and not codes(result, "BN001") and not codes(result, "BN102")
