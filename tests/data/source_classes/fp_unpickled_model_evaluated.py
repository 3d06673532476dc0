# The same script with evaluate()'s model.eval() in place, and a resumed model exported after
# its eval(): an unpickled model is a model in an unknown mode, and the training loop leaving
# it in training mode is undone by each eval().
import torch
import torch.nn as nn


class RNNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(self.drop(x))


model = RNNModel()


def evaluate(data_source):
    model.eval()
    total_loss = 0
    with torch.no_grad():
        for x in data_source:
            total_loss += model(x).sum().item()
    return total_loss


def train(train_data, optimizer):
    for x in train_data:
        model.train()
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()


with open("model.pt", "rb") as f:
    model = torch.load(f)

optimizer = torch.optim.ASGD(model.parameters(), lr=1.0)
stored_loss = evaluate([])
for epoch in range(1, 3):
    train([], optimizer)
    val_loss2 = evaluate([])

model = torch.load("best.pt")
model.eval()
torch.onnx.export(model, torch.rand(1, 4), "model.onnx")
