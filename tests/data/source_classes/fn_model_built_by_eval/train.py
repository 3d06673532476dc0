# Was missed: microsoft/human-pose-estimation.pytorch lib/core/function.py:36,
# a freeze added before model.train(). The model is
# eval('models.' + config.MODEL.NAME + '.get_pose_net')(...): every
# get_pose_net of the models package returns a PoseResNet, which has
# BatchNorm -- frozen, then trained in train mode (BN401).
import torch

import models


def train(loader, model, criterion, optimizer):
    for p in model.parameters():
        p.requires_grad = False
    model.train()
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def main(config, loader):
    model = eval('models.' + config.MODEL.NAME + '.get_pose_net')(config, is_train=True)
    optimizer = torch.optim.Adam(model.parameters())
    for epoch in range(10):
        train(loader, model, torch.nn.MSELoss(), optimizer)
