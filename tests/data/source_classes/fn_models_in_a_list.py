# Two models compared side by side, kept in a list (MorvanZhou's
# 504_batch_normalization.py): the loops over the list treat each alike.
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, bn=False):
        super().__init__()
        self.fc = nn.Linear(1, 10)
        self.bn = nn.BatchNorm1d(10) if bn else nn.Identity()

    def forward(self, x):
        return self.bn(self.fc(x))


nets = [Net(bn=False), Net(bn=True)]
opts = [torch.optim.Adam(net.parameters(), lr=0.01) for net in nets]
loss_func = nn.MSELoss()

for epoch in range(10):
    for net in nets:
        for p in net.parameters():
            p.requires_grad = False
    for step, (b_x, b_y) in enumerate(train_loader):
        for net, opt in zip(nets, opts):
            loss = loss_func(net(b_x), b_y)
            opt.zero_grad()
            loss.backward()
            opt.step()

with torch.no_grad():
    preds = [net(test_x) for net in nets]
