# Was missed: victoresque/pytorch-template test.py:42, model.eval() deleted.
# The model is config.init_obj('arch', module_arch): ConfigParser.init_obj
# (the one class this file imports with that method) returns
# getattr(module, name)(...) of the module it is given, and every class of
# model/model.py is a model.
import argparse

import torch

import model.metric as module_metric
import model.model as module_arch
from parse_config import ConfigParser


def main(config, data_loader):
    model = config.init_obj('arch', module_arch)
    model.load_state_dict(torch.load(config.resume)['state_dict'])
    # model.eval()   <- deleted
    with torch.no_grad():
        for data, target in data_loader:
            output = model(data)


def metrics(config):
    # the same method given a module without models builds nothing known
    return config.init_obj('metric', module_metric)


if __name__ == '__main__':
    main(ConfigParser.from_args(argparse.ArgumentParser().parse_args()), [])
