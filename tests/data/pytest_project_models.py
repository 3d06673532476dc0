"""A user's model module, imported by the pytest-plugin tests."""

import torch.nn as nn


def make_layers(widths):
    layers, cin = [], 3
    for w in widths:
        layers += [nn.Conv2d(cin, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
        cin = w
    return nn.Sequential(*layers)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Sequential(
            nn.Linear(8, 4),
            nn.BatchNorm1d(4),
        )
        self.features = make_layers([8])

    def forward(self, x):
        x = self.bn(self.stem(x))
        x = self.features(x)
        return self.head(x.mean((2, 3)))


class Clean(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))
