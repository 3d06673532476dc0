# A module given an activation function it stores and calls (RL actor/critic
# code: activation=F.relu) holds no BatchNorm or Dropout from it: its mode
# does not matter. (A false alarm found in review of this round's change.)
import torch
import torch.nn as nn
import torch.nn.functional as F

class MLP(nn.Module):
    def __init__(self, dim, act):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.act = act
    def forward(self, x):
        return self.act(self.fc(x))

def predict(loader):
    head = MLP(16, F.relu)
    with torch.no_grad():
        return [head(x) for x in loader]

def export():
    head = MLP(16, act=torch.tanh)
    torch.jit.trace(head, torch.randn(1, 16))

predict([torch.randn(2, 16)])
