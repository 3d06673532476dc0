# A linear probe on a frozen backbone (simsiam's main_lincls.py with the
# eval() of its train() removed): validate() puts the model in eval after
# each epoch, so the first epoch trains the frozen BatchNorm in train mode.
import torch
import torchvision.models as models


def train(loader, model, criterion, optimizer):
    for images, target in loader:
        loss = criterion(model(images), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def validate(loader, model):
    model.eval()
    with torch.no_grad():
        return [model(images).argmax(1) for images, _ in loader]


def main(train_loader, val_loader, epochs):
    model = models.resnet50()
    for name, param in model.named_parameters():
        if name not in ["fc.weight", "fc.bias"]:
            param.requires_grad = False
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.1)
    criterion = torch.nn.CrossEntropyLoss()
    for epoch in range(epochs):
        train(train_loader, model, criterion, optimizer)
        validate(val_loader, model)
