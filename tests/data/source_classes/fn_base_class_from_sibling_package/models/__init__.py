from .pspnet import PSPNet
