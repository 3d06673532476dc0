# An evaluation closure handed to an engine (michuanhaohao/reid-strong-baseline's
# create_supervised_evaluator, for ignite): neither it nor the function that makes
# it puts the model in eval, and whoever runs it finds the model in the mode
# training left it in.
from ignite.engine import Engine
import torch
import torch.nn as nn


def create_evaluator(model, device=None):
    if device:
        model = nn.DataParallel(model)

    def _inference(engine, batch):
        with torch.no_grad():
            data, pids = batch
            return model(data), pids

    return Engine(_inference)
