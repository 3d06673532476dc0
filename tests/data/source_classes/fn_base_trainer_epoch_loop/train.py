from models import Net
from trainer import Trainer


def main(loader, val_loader):
    Trainer(Net(), loader, val_loader, epochs=10).train()
