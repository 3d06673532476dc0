import torch.nn as nn

__all__ = ["FCN", "get_fcn"]


class FCN(nn.Module):
    def __init__(self, nclass):
        super().__init__()
        self.conv = nn.Conv2d(3, nclass, 3)
        self.bn = nn.BatchNorm2d(nclass)

    def forward(self, x):
        return self.bn(self.conv(x))


def get_fcn(nclass=21, pretrained=False):
    model = FCN(nclass)
    return model
