# The research-repository idiom (microsoft/human-pose-estimation.pytorch,
# faster-rcnn ports): the scripts import this module for its effect, which
# puts ../lib on sys.path, so `from core.function import train` means
# lib/core/function.py.
import os.path as osp
import sys


def add_path(path):
    if path not in sys.path:
        sys.path.insert(0, path)


this_dir = osp.dirname(__file__)
add_path(osp.join(this_dir, "..", "lib"))
