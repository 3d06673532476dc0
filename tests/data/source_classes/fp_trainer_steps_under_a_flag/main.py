import torch.nn as nn
import torch.optim as optim

from trainer import Trainer


def main(train_loader, val_loader, epochs):
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    for epoch in range(epochs):
        trainer.train(train_loader)
        trainer.validate(val_loader)
