# A model whose class builds only a head and is given its backbone -- here in
# a dict (wvangansbeke/Unsupervised-Classification: ClusteringModel(backbone,
# ...) with backbone = {"backbone": resnet18(), "dim": 512}) -- holds whatever
# it is given: it may hold BatchNorm, and the export before eval() is BN404.
import torch
import torch.nn as nn
import torchvision


class ClusteringModel(nn.Module):
    def __init__(self, backbone, nclusters):
        super().__init__()
        self.backbone = backbone["backbone"]
        self.head = nn.Linear(backbone["dim"], nclusters)
        if nclusters < 1:
            raise ValueError(f"{nclusters} clusters")

    def forward(self, x):
        return self.head(self.backbone(x))


def resnet18():
    return {"backbone": torchvision.models.resnet18(), "dim": 1000}


def main():
    backbone = resnet18()
    model = ClusteringModel(backbone, 10)
    return torch.jit.trace(model, torch.randn(1, 3, 32, 32))
