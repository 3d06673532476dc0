# A copy of a model put in eval() is in eval: tracing it is fine.
import copy
import torch
import torchvision

model = torchvision.models.resnet18()
model.eval()
ema = copy.deepcopy(model)
traced = torch.jit.trace(ema, torch.randn(1, 3, 224, 224))
