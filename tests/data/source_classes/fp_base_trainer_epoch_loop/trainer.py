import torch

from base import BaseTrainer


class Trainer(BaseTrainer):
    def _train_epoch(self, epoch):
        self.model.train()
        for x, y in self.loader:
            self.optimizer.zero_grad()
            torch.nn.functional.mse_loss(self.model(x), y).backward()
            self.optimizer.step()
        return {}

    def _valid_epoch(self, epoch):
        self.model.eval()
        with torch.no_grad():
            losses = [torch.nn.functional.mse_loss(self.model(x), y) for x, y in self.val_loader]
        return {"val_loss": sum(losses) / len(losses)}
