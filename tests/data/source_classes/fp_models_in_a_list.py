# The same list of models, put in eval() one by one (a comprehension, an
# enumerate loop) before inference and back in train() before training.
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 10)
        self.bn = nn.BatchNorm1d(10)

    def forward(self, x):
        return self.bn(self.fc(x))


nets = [Net() for _ in range(3)]
opts = [torch.optim.Adam(net.parameters(), lr=0.01) for net in nets]
for epoch in range(10):
    for i, net in enumerate(nets):
        net.train()
    for b_x, b_y in train_loader:
        for net, opt in zip(nets, opts):
            loss = (net(b_x) - b_y).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    [net.eval() for net in nets]
    with torch.no_grad():
        preds = [net(test_x) for net in nets]
