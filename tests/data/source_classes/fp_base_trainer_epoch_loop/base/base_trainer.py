# A base trainer whose subclass switches modes as it should: nothing to report.
import torch


class BaseTrainer:
    def __init__(self, model, loader, val_loader, epochs, val_every=2):
        self.model, self.epochs, self.val_every = model, epochs, val_every
        self.loader, self.val_loader = loader, val_loader
        self.optimizer = torch.optim.Adam(model.parameters())

    def train(self):
        for epoch in range(1, self.epochs + 1):
            log = self._train_epoch(epoch)
            if epoch % self.val_every == 0:
                log.update(self._valid_epoch(epoch))
