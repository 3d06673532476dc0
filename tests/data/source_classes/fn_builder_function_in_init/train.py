# bubbliiiing/yolov4-pytorch: YoloBody gets its BatchNorm layers only through
# builders called in __init__ -- darknet53() of another module, and a
# conv2d() helper of this file returning nn.Sequential(Conv2d, BatchNorm2d,
# LeakyReLU). The backbone is frozen (Freeze_Train) and trained in train mode.
import torch
import torch.nn as nn

from backbones import darknet53


def conv2d(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1))


class YoloBody(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = darknet53(False)
        self.neck = conv2d(8, 8)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.head(self.neck(self.backbone(x)))


model = YoloBody()
for p in model.backbone.parameters():
    p.requires_grad = False
optimizer = torch.optim.SGD(model.parameters(), 0.1)
for epoch in range(3):
    model.train()
    for x in loader:
        model(x).sum().backward()
        optimizer.step()
