# The epoch loop of a base trainer (yassouali/pytorch-segmentation, after
# victoresque/pytorch-template): the subclass of another file implements the
# epochs, and `self._valid_epoch()` here runs its override.
import torch


class BaseTrainer:
    def __init__(self, model, loader, val_loader, epochs):
        self.model = model
        self.loader, self.val_loader, self.epochs = loader, val_loader, epochs
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def train(self):
        for epoch in range(self.epochs):
            self._train_epoch(epoch)
            self._valid_epoch(epoch)

    def _train_epoch(self, epoch):
        raise NotImplementedError

    def _valid_epoch(self, epoch):
        raise NotImplementedError
