import torch.nn as nn

__all__ = ["extra_models"]


class Plain(nn.Module):
    def __init__(self, nclass=21):
        super().__init__()
        self.conv = nn.Conv2d(3, nclass, 1)

    def forward(self, x):
        return self.conv(x)


def extra_models():
    return {"plain": Plain}
