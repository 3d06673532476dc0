# An image transform that holds a Sequential of its own convolution
# attributes (sthalles/SimCLR's GaussianBlur): every assignment of self.blur
# builds inert layers, so running it under no_grad needs no eval().
import torch
from torch import nn


class GaussianBlur(object):
    def __init__(self, kernel_size):
        self.blur_h = nn.Conv2d(3, 3, kernel_size=(kernel_size, 1), bias=False, groups=3)
        self.blur_v = nn.Conv2d(3, 3, kernel_size=(1, kernel_size), bias=False, groups=3)
        self.blur = nn.Sequential(nn.ReflectionPad2d(kernel_size // 2), self.blur_h, self.blur_v)

    def __call__(self, img):
        with torch.no_grad():
            return self.blur(img)
