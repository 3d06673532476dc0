# Was a false alarm (BN402), on code bnlint was not tuned on:
# Megvii-BaseDetection/YOLOX yolox/evaluators/coco_evaluator.py:171 and
# voc_evaluator.py:93. `decoder` is a post-processing function
# (model.head.decode_outputs, or None), named like a model: the evaluator
# puts the model it runs in eval() itself, and only calls decoder beside it.
import torch
import torch.nn as nn


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(x)

    def decode_outputs(self, outputs, dtype):
        return outputs.type(dtype)


class COCOEvaluator:
    def __init__(self, dataloader):
        self.dataloader = dataloader

    def evaluate(self, model, decoder=None):
        model = model.eval()
        for imgs in self.dataloader:
            with torch.no_grad():
                outputs = model(imgs)
                if decoder is not None:
                    outputs = decoder(outputs, dtype=outputs.type())
        return outputs
