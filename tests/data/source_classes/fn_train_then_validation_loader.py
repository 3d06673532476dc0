# The first mistake of the BatchNorm/Dropout guides: train() before a validation loop under no_grad.
import torch
import torchvision

model = torchvision.models.resnet18()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    model.train()
    for imgs, labels in train_loader:
        loss = torch.nn.functional.cross_entropy(model(imgs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.train()
    correct = 0
    for imgs, labels in val_loader:
        with torch.no_grad():
            out = model(imgs)
        correct += (out.argmax(1) == labels).sum()
