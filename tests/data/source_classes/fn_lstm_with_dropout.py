# nn.LSTM built with dropout= does depend on the mode (the control of fp_lstm_without_dropout.py).
import torch
import torch.nn as nn


class RNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, 2, batch_first=True, dropout=0.3)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1, :])


model = RNN()
with torch.no_grad():
    print(model(torch.zeros(1, 28, 28)))
