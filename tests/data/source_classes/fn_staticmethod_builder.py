# Was missed: a model built by a @staticmethod builder (CSAILVision's
# ModelBuilder.build_encoder) is a new model in training mode, so the eval-less
# evaluate() it is passed to runs it in training mode (BN402).
# Real: CSAILVision/semantic-segmentation-pytorch eval.py:47 (eval() deleted),
# also eval_multipro.py:43, test.py:56.
import torch
import torchvision


class ModelBuilder:
    @staticmethod
    def build_encoder():
        return torchvision.models.resnet18()


def evaluate(net, loader):
    # net.eval()   <- deleted
    for x in loader:
        with torch.no_grad():
            out = net(x)


def main():
    net = ModelBuilder.build_encoder()
    evaluate(net, [])
