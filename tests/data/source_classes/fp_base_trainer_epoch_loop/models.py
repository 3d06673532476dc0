import torch.nn as nn


def mlp(width=64):
    return nn.Sequential(nn.Linear(16, width), nn.Dropout(0.5), nn.ReLU(), nn.Linear(width, 1))
