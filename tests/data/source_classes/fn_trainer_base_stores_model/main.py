import torch.nn as nn

from trainer import Trainer


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(x)


def main(config, loader, x):
    trainer = Trainer(model=Net(), loss=None, config=config, loader=loader)
    trainer.export(x)
