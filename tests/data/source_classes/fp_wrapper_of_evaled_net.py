# FALSE POSITIVE (BN402): the wrapped network is put in eval() before wrapping,
# `Wrap(net.eval())`; the wrapper holds no mode-dependent layer of its own, so the
# forward runs in eval -- but the fresh Wrap(...) is read as a training-mode model.
# Real: ajbrock/BigGAN-PyTorch calculate_inception_moments.py:61
# (inception_utils.load_inception_net: WrapInception(inception_model.eval()).cuda()).
# Was reported at line 24 (a false alarm); `Wrap(net)` without the eval() is a real BN402.
import torch
import torch.nn as nn
import torchvision


class Wrap(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.fc(x)


net = torchvision.models.inception_v3()
net = Wrap(net.eval())
with torch.no_grad():
    out = net(torch.randn(1, 2048))
