# A model file's shape check (mit-han-lab/temporal-shift-module online_demo): an
# untrained model built in place, run under no_grad on random tensors, only the
# output's shape looked at -- its mode changes nothing anyone reads.
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn(self.fc(x))


if __name__ == '__main__':
    net = Net()
    x = torch.rand(2, 4)
    with torch.no_grad():
        for _ in range(3):
            y = net(x)
            print(y.shape)
