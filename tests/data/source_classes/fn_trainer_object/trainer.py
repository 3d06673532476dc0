# An engine object (eladhoffer/convNet.pytorch, many others): main.py trains and
# validates through the methods of a Trainer of trainer.py; validate() never
# calls self.model.eval(), and trainer.train() left it in training mode.
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))


class Trainer:
    def __init__(self, model):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def train(self, loader):
        self.model.train()
        for x, y in loader:
            self.optimizer.zero_grad()
            loss = (self.model(x) - y).pow(2).mean()
            loss.backward()
            self.optimizer.step()

    def validate(self, loader):
        with torch.no_grad():
            for x, y in loader:
                out = self.model(x)
