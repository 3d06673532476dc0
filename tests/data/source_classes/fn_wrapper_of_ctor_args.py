# Was missed: a wrapper module built from submodules held in local variables
# (`SegModule(enc)`) holds what they hold -- BatchNorm here -- so the eval-less
# evaluate() it is passed to is reported (BN402; BN404 likewise).
# Real: CSAILVision/semantic-segmentation-pytorch eval.py:47 (eval() deleted):
#   segmentation_module = SegmentationModule(net_encoder, net_decoder, crit)
import torch
import torch.nn as nn
import torchvision


class SegModule(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.encoder = enc

    def forward(self, x):
        return self.encoder(x)


def evaluate(module, loader):
    # module.eval()   <- deleted
    for x in loader:
        with torch.no_grad():
            out = module(x)


def main():
    enc = torchvision.models.resnet18()
    module = SegModule(enc)
    evaluate(module, [])
