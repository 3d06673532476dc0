# The model is built in an if/elif with no else (uoguelph-mlrg/Cutout
# train.py, its test()'s cnn.eval() deleted): on the path that binds nothing,
# nothing can run cnn either, so where it runs it is one of the models built.
import sys

import torch
import torch.nn as nn


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        return self.bn(self.fc(x))


if sys.argv[1] == "resnet18":
    cnn = ResNet18()
elif sys.argv[1] == "wideresnet":
    cnn = ResNet18()


def test(loader):
    correct = 0
    for x, y in loader:
        with torch.no_grad():
            correct += (cnn(x).argmax(1) == y).sum().item()
    cnn.train()
    return correct


optimizer = torch.optim.SGD(cnn.parameters(), lr=0.1)
for epoch in range(3):
    for x, y in train_loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(cnn(x), y).backward()
        optimizer.step()
    test(test_loader)
