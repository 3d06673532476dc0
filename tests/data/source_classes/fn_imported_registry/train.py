# RepDistiller's train_teacher.py: the model is picked by name from a
# registry of another module of the tree (every choice has BatchNorm), and a
# helper freezes it, then trains it in train mode.
import torch

from models import model_dict


def train(epoch, loader, model, criterion, optimizer):
    model.train()
    for p in model.parameters():
        p.requires_grad = False
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def main(arch, loader):
    model = model_dict[arch](num_classes=100)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = torch.nn.CrossEntropyLoss()
    for epoch in range(10):
        train(epoch, loader, model, criterion, optimizer)
