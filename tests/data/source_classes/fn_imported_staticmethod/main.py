# The builder class of fn_staticmethod_builder.py, imported from another module
# (CSAIL: from mit_semseg.models import ModelBuilder).
import torch
from builders import ModelBuilder


def evaluate(net, loader):
    for x in loader:
        with torch.no_grad():
            out = net(x)


def main():
    net = ModelBuilder.build_encoder()
    evaluate(net, [])
