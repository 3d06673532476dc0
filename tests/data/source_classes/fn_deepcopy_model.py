# Was missed (BN404): `copy.deepcopy(model)` of a freshly built (training-mode)
# model is another model in training mode: tracing the copy records train mode.
# Real: kekmodel/FixMatch-pytorch models/ema.py:10 (ModelEMA: self.ema =
# deepcopy(model); a torch.jit.trace inserted before self.ema.eval()).
from copy import deepcopy

import torch
import torchvision

model = torchvision.models.resnet18()
ema = deepcopy(model)
traced = torch.jit.trace(ema, torch.randn(1, 3, 224, 224))
ema.eval()
