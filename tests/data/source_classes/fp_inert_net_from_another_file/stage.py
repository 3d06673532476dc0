import torch


def run_stage(image, net):
    with torch.no_grad():
        return net(image)
