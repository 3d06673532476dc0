# An inference class whose network is built in __init__ and run by a method
# that another method calls (TreB1eN/InsightFace_Pytorch mtcnn.py with the
# `self.onet.eval()` deleted): calls of the class's own methods do not hand
# the attribute to anyone -- no method puts it in eval().
import torch
import torch.nn as nn


class ONet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.drop = nn.Dropout(0.25)

    def forward(self, x):
        return self.drop(self.fc(x))


class MTCNN:
    def __init__(self):
        self.onet = ONet()

    def align(self, img):
        return self.detect_faces(img)

    def detect_faces(self, img):
        with torch.no_grad():
            return self.onet(img)
