# Was missed (BN404): tracing a submodule of a training-mode model records it in
# training mode, as tracing the model does.
# (KaiyangZhou/deep-person-reid torchreid/utils/torchtools.py:220 traces a child
# got from a named_children() loop, which is still not followed.)
import torch
import torchvision

model = torchvision.models.resnet50()
traced = torch.jit.trace(model.layer1, torch.randn(1, 64, 56, 56))
model.eval()
