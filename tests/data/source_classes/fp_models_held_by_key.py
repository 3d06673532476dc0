# The same trainer with its set_train() intact, and one model of the dict put
# in eval() by key: the others keep their modes, nothing is certain.
import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))


class Trainer:
    def __init__(self):
        self.models = {}
        self.models["encoder"] = Encoder()
        self.models["pose"] = Encoder()
        self.optimizer = torch.optim.SGD(self.models["encoder"].parameters(), lr=0.1)

    def set_train(self):
        for m in self.models.values():
            m.train()

    def set_eval(self):
        for m in self.models.values():
            m.eval()

    def run_epoch(self, loader):
        self.set_train()
        self.models["pose"].eval()
        for x in loader:
            loss = self.models["encoder"](x).sum()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.val(loader)

    def val(self, loader):
        self.set_eval()
        with torch.no_grad():
            for x in loader:
                self.models["encoder"](x)
        self.set_train()
