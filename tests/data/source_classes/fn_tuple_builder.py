# Was missed: the model comes out of a builder that returns a tuple
# (`model, classifier, criterion = set_model(opt)`): the unpacked model is a new
# model in training mode, so its no_grad forward in train() is reported (BN402;
# a jit.trace there by BN404 likewise).
# Real: HobbitLong/SupContrast main_linear.py:135 with `model.eval()` deleted.
import torch
import torch.nn as nn
import torchvision


def set_model():
    model = torchvision.models.resnet18()
    classifier = nn.Linear(1000, 10)
    return model, classifier


def train(loader, model, classifier, optimizer):
    # model.eval()   <- deleted (the linear probe's encoder is frozen)
    classifier.train()
    for x, y in loader:
        with torch.no_grad():
            features = model(x)
        loss = nn.functional.cross_entropy(classifier(features), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def main():
    model, classifier = set_model()
    optimizer = torch.optim.SGD(classifier.parameters(), lr=0.1)
    for epoch in range(3):
        train([], model, classifier, optimizer)
