# eval() of a setting that does not name the model picks nothing known: the criterion built by
# eval(CONFIG.LOSS.NAME) is not taken for one of the file's models (it would be run "in training
# mode" under no_grad below); the model picked by eval(CONFIG.MODEL.NAME) is put in eval first.
import torch
import torch.nn as nn


class DeepLabV2(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.head = nn.Conv2d(3, n_classes, 1)

    def forward(self, x):
        return self.head(self.bn(x))


class DiceLoss(nn.Module):
    def forward(self, logits, target):
        return (logits - target).abs().mean()


def evaluate(CONFIG, loader):
    model = eval(CONFIG.MODEL.NAME)(n_classes=21)
    model.eval()
    criterion = eval(CONFIG.LOSS.NAME)()
    with torch.no_grad():
        return [criterion(model(x), y).item() for x, y in loader]
