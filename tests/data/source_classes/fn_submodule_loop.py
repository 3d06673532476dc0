# After Megvii-BaseDetection/YOLOX yolox/utils/model_utils.py (freeze_module) and its test (fresh
# round): each submodule taken from a named_modules() loop is traced before it is put in eval,
# and the caller hands over a model in training mode -- the part is in the model's mode.
import torch
import torch.nn as nn


def freeze_module(module: nn.Module, name=None) -> nn.Module:
    for param_name, parameter in module.named_parameters():
        parameter.requires_grad = False
    for module_name, sub_module in module.named_modules():
        if name is None or name in module_name:
            traced = torch.jit.trace(sub_module, torch.rand(1, 3, 10, 10))  # BN404: in training mode
            sub_module.eval()
    return module


def test_freeze_module():
    model = nn.Sequential(nn.Conv2d(3, 10, 1), nn.BatchNorm2d(10), nn.ReLU())
    model.train()
    freeze_module(model)


def export_children(loader):
    model = nn.Sequential(nn.Conv2d(3, 10, 1), nn.BatchNorm2d(10), nn.ReLU())
    for name, child in model.named_children():
        torch.jit.trace(child, torch.rand(1, 3, 4, 4))  # BN404: a fresh model trains
