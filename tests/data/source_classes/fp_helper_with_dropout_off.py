# A model whose forward calls a helper of the file that applies a functional
# dropout with training=False -- off in either mode, so nothing of the model
# depends on the mode (the function-level twin of fp_wrapper_with_constants).
import torch
import torch.nn as nn
import torch.nn.functional as F


def smooth(x):
    return F.dropout(x, p=0.1, training=False)


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(smooth(x))


model = Head()
with torch.no_grad():
    scores = model(torch.randn(2, 16))
