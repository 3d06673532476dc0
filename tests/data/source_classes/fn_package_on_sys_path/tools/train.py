import torch
import torch.nn as nn

import _init_paths  # noqa: F401 -- puts ../lib on sys.path
from core.function import train, validate


def main(train_loader, val_loader, epochs=10):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 1, 1))
    optimizer = torch.optim.Adam(model.parameters())
    for epoch in range(epochs):
        train(train_loader, model, optimizer)
        validate(val_loader, model)
