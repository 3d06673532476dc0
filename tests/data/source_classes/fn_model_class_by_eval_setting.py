# After kazuto1011/deeplab-pytorch demo.py (round 6, scored before tuning): the model class is
# picked by a setting with the builtin eval -- eval(CONFIG.MODEL.NAME)(n_classes=...) -- among the
# model classes the file sees; its model.eval() is missing before inference.
import torch
import torch.nn as nn


class DeepLabV2(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Conv2d(16, n_classes, 1)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))))


def inference(model, image):
    return model(image).argmax(1)  # BN402: called with the model in training mode


def single(CONFIG, image):
    model = eval(CONFIG.MODEL.NAME)(n_classes=CONFIG.DATASET.N_CLASSES)
    model.load_state_dict(torch.load(CONFIG.MODEL.INIT_MODEL))
    with torch.no_grad():
        return inference(model, image)
