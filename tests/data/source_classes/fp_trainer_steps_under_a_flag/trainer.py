# eladhoffer/convNet.pytorch: one forward() for training and validation, its
# training steps under `if training` in a helper it hands the flag on to (and
# under `if training and ...`); validate() passes training=False, so it
# trains nothing: putting the model in eval() there is no eval-mode training.
import torch
import torch.nn as nn


class Trainer:
    def __init__(self, model, criterion, optimizer, grad_clip=0):
        self.model, self.criterion, self.optimizer = model, criterion, optimizer
        self.grad_clip = grad_clip

    def _step(self, inputs, target, training=False):
        output = self.model(inputs)
        loss = self.criterion(output, target)
        if training:
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return loss

    def forward(self, data_loader, training=False):
        for i, (inputs, target) in enumerate(data_loader):
            if training and self.grad_clip > 0 and i == 0:
                self.criterion(self.model(inputs), target).backward()
            self._step(inputs, target, training=training)

    def train(self, data_loader):
        self.model.train()
        return self.forward(data_loader, training=True)

    def validate(self, data_loader):
        self.model.eval()
        with torch.no_grad():
            return self.forward(data_loader, training=False)
