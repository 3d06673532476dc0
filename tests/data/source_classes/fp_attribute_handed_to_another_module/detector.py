# The network attribute is put in eval() by a helper of another module, called
# from __init__: nothing says it stays in train mode.
import torch
import torch.nn as nn

from modes import set_eval


class Detector:
    def __init__(self):
        self.onet = nn.Sequential(nn.Linear(8, 4), nn.Dropout(0.25))
        set_eval(self.onet)

    def detect(self, img):
        with torch.no_grad():
            return self.onet(img)
