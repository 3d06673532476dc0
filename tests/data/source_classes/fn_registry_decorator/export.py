# Was missed (fresh round): JDAI-CV/fast-reid tools/deploy/onnx_export.py:151,
# an export moved before model.eval(). build_model(cfg) picks the class from
# a Registry its classes enter by a @META_ARCH_REGISTRY.register() decorator
# (modeling/meta_arch/): every one of them is a model, so the trace records
# one in training mode.
import torch

from modeling import build_model


def export(cfg, x):
    model = build_model(cfg)
    return torch.jit.trace(model, x)
