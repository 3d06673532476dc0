# Was missed: michuanhaohao/reid-strong-baseline engine/inference.py:34 and
# engine/trainer.py:119, an export moved before the model.eval() of the
# evaluation closure handed to ignite's Engine: whoever runs it finds the
# model in the mode training left it in, and the trace records that mode.
from ignite.engine import Engine
import torch
import torch.nn as nn


def create_supervised_evaluator(model, device=None):
    if device:
        model = nn.DataParallel(model)

    def _inference(engine, batch):
        traced = torch.jit.trace(model, batch[0])
        model.eval()
        with torch.no_grad():
            data, pids = batch
            return model(data), pids

    return Engine(_inference)


def create_exporter(model):
    def _inference(engine, batch):
        return torch.jit.trace(model, batch[0])  # no eval() in it at all

    return Engine(_inference)


def create_checked_exporter(model):
    model.eval()  # the function that makes it puts the model in eval: not reported

    def _inference(engine, batch):
        return torch.jit.trace(model, batch[0])

    return Engine(_inference)
