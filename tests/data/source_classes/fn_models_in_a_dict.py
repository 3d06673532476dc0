# A GAN's networks kept in a dict literal and put in eval() in a loop over
# its values -- but the sampling runs before that loop: the generator samples
# in train mode (BatchNorm on the sample batch).
import torch
import torch.nn as nn


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 8))

    def forward(self, z):
        return self.net(z)


nets = {"G": Generator(), "D": nn.Sequential(nn.Linear(8, 1))}
with torch.no_grad():
    samples = nets["G"](torch.randn(64, 16))
for net in nets.values():
    net.eval()
with torch.no_grad():
    more = nets["G"](torch.randn(64, 16))
