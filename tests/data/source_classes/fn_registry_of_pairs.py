# SupContrast's resnet_big.py: the class builds its encoder from a table of
# (builder, width) pairs, and each builder returns a BatchNorm ResNet.
import torch
import torch.nn as nn


class ResNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.bn = nn.BatchNorm2d(width)


def resnet18():
    return ResNet(512)


model_dict = {"resnet18": [resnet18, 512]}


class SupCEResNet(nn.Module):
    def __init__(self, name="resnet18", num_classes=10):
        super().__init__()
        model_fun, dim_in = model_dict[name]
        self.encoder = model_fun()
        self.fc = nn.Linear(dim_in, num_classes)


model = SupCEResNet()
model.requires_grad_(False)
model.fc.requires_grad_(True)
optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.1)
for x, y in loader:
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
