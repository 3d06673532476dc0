# Was missed (BN404): tracing a part of a training-mode model that holds
# BatchNorm records it in training mode, as tracing the model does. A part of a
# library's model is not known to hold any (resnet18().fc is a Linear).
# (KaiyangZhou/deep-person-reid torchreid/utils/torchtools.py:220 traces a child
# got from a named_children() loop, which is still not followed.)
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.layer1(x).mean((2, 3)))


model = Net()
traced = torch.jit.trace(model.layer1, torch.randn(1, 3, 32, 32))
head = torch.jit.trace(model.fc, torch.randn(1, 8))
model.eval()
