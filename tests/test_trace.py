"""The tracer: what bnlint's own shortcuts in torch.fx produce is what
torch.fx itself produces."""

import glob
import os

import pytest
import torch

from bnlint.model import trace
from bnlint.model.worker import _empty_weights, _on_device, discover, import_file

from helpers import FIXTURES


def _models():
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.py"))):
        if os.path.basename(path) == "huge.py":
            continue
        module = import_file(path)
        targets = {"resnet.py": ["resnet50"], "vgg_bn.py": ["vgg16_bn"]}.get(os.path.basename(path))
        for cand in discover(module, path, targets)[0]:
            if cand.kind in ("class", "factory"):
                yield f"{os.path.basename(path)}::{cand.name}", cand


def _graphs(model, direct: bool):
    saved = trace.Tracer.direct_leaf_calls
    trace.Tracer.direct_leaf_calls = direct
    try:
        result = trace.trace_model(model)
    finally:
        trace.Tracer.direct_leaf_calls = saved
    return (
        [(f.prefix, [(n.name, n.op, str(n.target), str(n.args), str(n.kwargs), dict(n.meta.get("nn_module_stack", {})),
                      n.meta.get(trace.SITE_KEY)) for n in f.graph.nodes]) for f in result.fragments],
        [(o.qualname, o.reason) for o in result.opaque],
    )


@pytest.mark.parametrize("label,cand", list(_models()), ids=lambda v: v if isinstance(v, str) else "")
def test_direct_leaf_calls_give_the_graph_fx_gives(label, cand):
    """Every fixture model (ResNet-50, VGG16-BN, MobileNetV2, DenseNet, the
    zoo's partial-trace cases): the same nodes, names, arguments, module
    stacks and lines, and the same untraceable parts, with the shortcut as
    with torch.fx's own call_module."""
    model = _built(cand)
    assert _graphs(model, True) == _graphs(model, False)


def _built(cand):
    try:
        with _on_device(True):
            model = cand.build()
    except NotImplementedError:  # __init__ arithmetic on meta (RegNet-like): weights on meta only
        with _empty_weights():
            model = cand.build()
    return model.eval()


def test_direct_leaf_calls_are_taken(monkeypatch):
    """The shortcut is what traces ResNet-50's layers (the comparison above
    is not between two runs of torch.fx's own path)."""
    made = []
    original = trace.Tracer._leaf_node
    monkeypatch.setattr(trace.Tracer, "_leaf_node", lambda self, m, arg: made.append(m) or original(self, m, arg))
    cand = dict(_models())["resnet.py::resnet50"]
    result = trace.trace_model(_built(cand))
    assert result.complete
    assert len(made) > 150  # 53 convs, 53 BNs, the ReLUs, pooling, fc
