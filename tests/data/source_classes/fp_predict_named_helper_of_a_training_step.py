# A helper named for prediction that is part of the training step
# (nianticlabs/monodepth2: predict_poses() runs the pose network for the loss,
# called by process_batch() in the batch loop that steps): not an inference.
import torch
import torch.nn as nn


class Trainer:
    def __init__(self):
        self.models = {}
        self.models["pose"] = nn.Sequential(nn.Conv2d(6, 8, 3), nn.BatchNorm2d(8))
        self.optimizer = torch.optim.Adam(self.models["pose"].parameters())

    def predict_poses(self, inputs):
        return self.models["pose"](inputs)

    def process_batch(self, inputs):
        return self.predict_poses(inputs).abs().mean()

    def run_epoch(self, loader):
        for m in self.models.values():
            m.train()
        for inputs in loader:
            loss = self.process_batch(inputs)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
