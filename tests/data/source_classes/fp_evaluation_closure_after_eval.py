# The same closure, the function that makes it putting the model in eval first.
from ignite.engine import Engine
import torch
import torch.nn as nn


def create_evaluator(model, device=None):
    if device:
        model = nn.DataParallel(model)

    model.eval()

    def _inference(engine, batch):
        with torch.no_grad():
            data, pids = batch
            return model(data).argmax(1), pids

    return Engine(_inference)
