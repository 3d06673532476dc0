# The freeze_bn idiom: each BatchNorm submodule put in eval (and frozen) inside a modules()
# loop, after model.train(), every epoch. Putting a part of the model in eval does not put the
# model in eval: no BN403 for the epoch loop, no BN401 for the freeze (the BNs stay in eval,
# and the epoch's validation runs after model.eval()).
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        return self.drop(self.bn(self.conv(x)))


def freeze_bn(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            for p in m.parameters():
                p.requires_grad = False


def main(train_loader, val_loader):
    model = Net()
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)
    for epoch in range(10):
        model.train()
        freeze_bn(model)
        for x in train_loader:
            optimizer.zero_grad()
            model(x).sum().backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for x in val_loader:
                model(x)
