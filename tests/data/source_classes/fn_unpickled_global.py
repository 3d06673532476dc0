# After salesforce/awd-lstm-lm finetune.py (fresh round): the global `model` is built, then
# replaced by an unpickled model (`model = torch.load(f)`: a model, in the mode it was saved
# in); train() puts it in training mode on every batch, and evaluate() -- its model.eval()
# deleted -- runs it after train(): dropout on.
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
    total_loss = 0
    for x in data_source:
        output = model(x)  # BN402: after train(), in training mode
        total_loss += output.sum().item()
    return total_loss


def train(train_data, optimizer):
    i = 0
    while i < len(train_data):  # awd-lstm's batch loop: taken to run at least once, as a for loop is
        model.train()
        optimizer.zero_grad()
        loss = model(train_data[i]).sum()
        loss.backward()
        optimizer.step()
        i += 1


with open("model.pt", "rb") as f:
    model = torch.load(f)

optimizer = torch.optim.ASGD(model.parameters(), lr=1.0)
stored_loss = evaluate([])
for epoch in range(1, 3):
    train([], optimizer)
    val_loss2 = evaluate([])
