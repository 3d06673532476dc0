# A wrapper of a network put in eval() before wrapping, as BigGAN's
# inception_utils.WrapInception: its own code holds Parameter constants (no
# layer at all) and a functional dropout called with training=False (off in
# either mode) -- nothing of its own depends on the mode, so the forward runs
# in the wrapped network's eval mode. (ajbrock/BigGAN-PyTorch
# calculate_inception_moments.py:61, a false alarm.)
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.nn import Parameter as P


class WrapInception(nn.Module):
    def __init__(self, net):
        super(WrapInception, self).__init__()
        self.net = net
        self.mean = P(torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1), requires_grad=False)

    def forward(self, x):
        pool = torch.mean(self.net.Mixed_7c(x - self.mean), [2, 3])
        return self.net.fc(F.dropout(pool, training=False))


def load_inception_net():
    return WrapInception(torchvision.models.inception_v3().eval())


def moments(loader):
    net = load_inception_net()
    for x, y in loader:
        with torch.no_grad():
            net(x)
