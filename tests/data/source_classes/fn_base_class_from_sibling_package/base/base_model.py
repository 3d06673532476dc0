import torch.nn as nn


class BaseModel(nn.Module):
    def summary(self):
        return sum(p.numel() for p in self.parameters())
