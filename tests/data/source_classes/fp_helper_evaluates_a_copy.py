# A helper that rebinds its parameter to a deep copy and changes the copy's
# mode (layumi/Person_reID_baseline_pytorch ODFA.py puts a copy in eval() for
# an adversarial attack inside the training step; here a copy is put in
# train() to recompute its BatchNorm statistics): the caller's model keeps
# its own mode.
import copy

import torch
from torchvision import models


def recalibrate_bn(model, loader):
    model = copy.deepcopy(model)
    model.train()
    with torch.no_grad():
        for x, _ in loader:
            model(x)
    return model  # (the caller puts it in eval when it needs)


model = models.resnet50()
model.eval()
swa_model = recalibrate_bn(model, train_loader)
with torch.no_grad():
    preds = [model(x) for x, _ in test_loader]
