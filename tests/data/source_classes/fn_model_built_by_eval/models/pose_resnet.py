import torch.nn as nn


class PoseResNet(nn.Module):
    def __init__(self, joints=17):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, bias=False)
        self.bn = nn.BatchNorm2d(64)
        self.head = nn.Conv2d(64, joints, 1)

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).relu())


def get_pose_net(cfg, is_train, **kwargs):
    model = PoseResNet(cfg.MODEL.NUM_JOINTS)
    if is_train:
        model.init_weights()
    return model
