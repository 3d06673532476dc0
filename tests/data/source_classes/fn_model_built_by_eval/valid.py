# eval('models.' + arch)(): one name of the models package, every model of
# which has BatchNorm: an inference under no_grad without eval() is BN402.
import torch

import models


def valid(arch, loader):
    model = eval('models.' + arch)()
    with torch.no_grad():
        for x in loader:
            out = model(x)
