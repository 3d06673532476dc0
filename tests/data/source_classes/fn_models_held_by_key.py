# A trainer that holds its networks in a dict attribute and switches them in
# loops over its values (nianticlabs/monodepth2 trainer.py with set_train()'s
# m.train() deleted): val()'s set_eval() leaves every model in eval for the
# training steps that follow.
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
        self.optimizer = torch.optim.SGD(self.models["encoder"].parameters(), lr=0.1)

    def set_train(self):
        for m in self.models.values():
            m.requires_grad_(True)

    def set_eval(self):
        for m in self.models.values():
            m.eval()

    def run_epoch(self, loader):
        self.set_train()
        for x in loader:
            loss = self.models["encoder"](x).sum()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.val(x)

    def val(self, x):
        self.set_eval()
        with torch.no_grad():
            self.models["encoder"](x)
