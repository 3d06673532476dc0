import torch.nn as nn


class PNet(nn.Module):  # convolutions and PReLU only: nothing depends on the mode
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 10, 3), nn.PReLU(10), nn.MaxPool2d(2, 2))
        self.head = nn.Conv2d(10, 2, 1)

    def forward(self, x):
        return self.head(self.features(x))


class ONet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 10, 3), nn.Dropout(0.25))

    def forward(self, x):
        return self.body(x)
