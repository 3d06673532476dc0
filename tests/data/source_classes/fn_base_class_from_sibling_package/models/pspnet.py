import torch.nn as nn
from base import BaseModel


class PSPNet(BaseModel):
    def __init__(self, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(3, num_classes, 3, padding=1)
        self.bn = nn.BatchNorm2d(num_classes)

    def forward(self, x):
        return self.bn(self.conv(x))
