# yassouali/pytorch-segmentation train.py: the same pick through a function
# of the file, get_instance(module, name, config, *args), given the module.
import torch

import model.model as module_arch


def get_instance(module, name, config, *args):
    return getattr(module, config[name]['type'])(*args, **config[name]['args'])


def main(config, loader):
    model = get_instance(module_arch, 'arch', config, 10)
    with torch.no_grad():
        for x, y in loader:
            model(x)
