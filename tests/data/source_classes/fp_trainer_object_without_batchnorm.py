# A trainer object of the file whose model has no BatchNorm or Dropout: its
# validate() needs no eval(), whatever mode train() left it in.
import torch
import torch.nn as nn


class Trainer:
    def __init__(self, model, lr=0.01):
        self.model = model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)

    def fit(self, loader):
        self.model.train()
        for x, y in loader:
            self.optimizer.zero_grad()
            nn.functional.mse_loss(self.model(x), y).backward()
            self.optimizer.step()

    def validate(self, loader):
        with torch.no_grad():
            return sum(nn.functional.mse_loss(self.model(x), y).item() for x, y in loader)


def run(train_loader, val_loader, epochs=5):
    regression = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    trainer = Trainer(regression)
    for _ in range(epochs):
        trainer.fit(train_loader)
        print(trainer.validate(val_loader))
