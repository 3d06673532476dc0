# One branch builds a module, the other binds something bnlint cannot follow
# (4uiiurz1/pytorch-nested-unet's criterion): the name is bound on both paths,
# so it is not known to be that module after the if.
import torch
import torch.nn as nn

import losses

if config["loss"] == "BCEWithLogitsLoss":
    criterion = nn.Sequential(nn.Dropout(0.1))
else:
    criterion = losses.make(config["loss"])

with torch.no_grad():
    value = criterion(torch.randn(2, 3))
