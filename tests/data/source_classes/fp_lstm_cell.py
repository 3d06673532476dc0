# Found on the held-out half: nn.LSTMCell has no dropout at all; the same in train() and eval().
import torch
import torch.nn as nn


class Sequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(1, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, x):
        h, c = self.cell(x)
        return self.linear(h)


seq = Sequence()
optimizer = torch.optim.LBFGS(seq.parameters())
for i in range(5):
    seq(torch.zeros(3, 1)).sum().backward()
    optimizer.step()
    with torch.no_grad():
        print(seq(torch.zeros(3, 1)))
