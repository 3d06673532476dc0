# After JDAI-CV/fast-reid fastreid/evaluation/evaluator.py (inference_context; fresh round):
# a context manager that saves model.training, yields and restores model.train(training_mode).
# Its model.eval() is missing, so the evaluation runs in training mode.
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
    yield
    model.train(training_mode)


def inference_on_dataset(model, data_loader):
    with inference_context(model), torch.no_grad():
        for inputs in data_loader:
            outputs = model(inputs)  # BN402: the block runs in the caller's mode, training
    return outputs


def do_test(data_loader):
    model = Net()
    return inference_on_dataset(model, data_loader)
