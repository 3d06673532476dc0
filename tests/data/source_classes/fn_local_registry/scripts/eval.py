# Was missed: Tramac/awesome-semantic-segmentation-pytorch scripts/eval.py:61,
# self.model.eval() deleted. The model is picked from a registry local to
# get_segmentation_model(); every builder in it returns a model with
# BatchNorm or Dropout, so the eval-less inference is BN402.
import os
import sys

cur_path = os.path.abspath(os.path.dirname(__file__))
root_path = os.path.split(cur_path)[0]
sys.path.append(root_path)

import torch

from core.models.model_zoo import get_extended_model, get_segmentation_model


def evaluate(name, loader):
    model = get_segmentation_model(model=name, nclass=21)
    for image, target in loader:
        with torch.no_grad():
            outputs = model(image)


def evaluate_extended(name, loader):
    model = get_extended_model(model=name)
    for image, target in loader:
        with torch.no_grad():
            outputs = model(image)
