from . import pose_resnet
from .pose_resnet import PoseResNet
