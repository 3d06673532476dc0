import torch
import torch.nn as nn


class CSPDarkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))


def darknet53(pretrained):
    model = CSPDarkNet()
    if pretrained:
        model.load_state_dict(torch.load("darknet53.pth"))
    return model
