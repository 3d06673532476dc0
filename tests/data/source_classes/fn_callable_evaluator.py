# Was missed (fresh round): CoinCheung/BiSeNet tools/evaluate.py:306 and
# old/bisenetv2/evaluatev2.py:66, net.eval() deleted. eval_model() hands the
# net to an evaluator object whose __call__ runs the forward: calling the
# object runs its __call__ as a method, on the net passed.
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(x)


class MscEval(object):
    def __init__(self, scales=(1.0,)):
        self.scales = scales

    def __call__(self, net, dl):
        hist = 0
        for imgs, label in dl:
            logits = net(imgs)
            hist += (logits.argmax(1) == label).sum()
        return hist


@torch.no_grad()
def eval_model(net, dl):
    # net.eval()   <- deleted
    single_scale = MscEval(scales=(1.0,))
    return single_scale(net, dl)


def main(dl):
    net = Net()
    return eval_model(net, dl)
