# The same context manager with its model.eval() (fast-reid's own), and its try/finally
# variant: the evaluation inside runs in eval, and after the block the model is back in the
# mode it had (train), so the next epoch trains in training mode -- neither BN402 nor BN403.
from contextlib import contextmanager

import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(x)


@contextmanager
def inference_context(model):
    training_mode = model.training
    model.eval()
    yield
    model.train(training_mode)


@contextmanager
def evaluating(net):
    was_training = net.training
    try:
        net.eval()
        yield net
    finally:
        net.train(was_training)


def validate(model, loader):
    with inference_context(model), torch.no_grad():
        return [model(x) for x in loader]


def main(train_loader, val_loader):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        for x in train_loader:
            optimizer.zero_grad()
            model(x).sum().backward()
            optimizer.step()
        validate(model, val_loader)
        with evaluating(model), torch.no_grad():
            for x in val_loader:
                model(x)
