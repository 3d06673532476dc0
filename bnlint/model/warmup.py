"""What the fork server does once, before it serves, so that each forked
child starts warm: a whole analysis of a small model file of bnlint's own
(never user code) through the same path a user's file takes -- the importer,
the guest policy, the meta build with its site recorder, the tracer, every
rule, the result's serialization.

Without it every child pays, on each file, for what torch and bnlint build on
first use and keep: torch.fx's table of overridable functions (about 10 ms
a file for the first functional call traced), the rules' and the dataclasses'
first calls, the importer's caches. A child is a fork of this state, so what
is warm here is warm in every child. The probe module is removed again; the
modules torch imported for it stay (that is the point).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from typing import Callable

from bnlint.inputs import InputSpec
from bnlint.model.guest import own_code

# A model of the kinds users check: a residual stem built in a loop, functional
# calls (F.relu, F.dropout), a concatenation, a BatchNorm1d head. No findings
# without inputs (with the warm-up's batch of 2, BN302): the warm-up is about
# code paths, not findings.
PROBE = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


def make_layers(cfg):
    layers, cin = [], 3
    for v in cfg:
        layers += [nn.Conv2d(cin, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
        cin = v
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(x + self.bn(self.conv(x)))


class Probe(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = make_layers([4, 4])
        self.block = Block(4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 6, bias=False)
        self.bn = nn.BatchNorm1d(6)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        x = self.features(x)
        x = torch.cat([x, self.block(x)], dim=1)
        x = torch.flatten(self.pool(x), 1)
        x = F.relu(self.bn(self.fc(x)))
        return self.head(F.dropout(x, 0.1, training=self.training))
'''

PROBE_INPUTS = InputSpec(((2, 3, 8, 8),), ("float32",), "warm-up")


def analyze_probe(analyze: Callable[[str], object]) -> None:
    """Run ``analyze(path)`` on :data:`PROBE`, written to a scratch file, and
    leave no trace of the probe module in ``sys.modules`` or ``sys.path``."""
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    with tempfile.TemporaryDirectory(prefix="bnlint-warm-up-") as scratch:
        path = os.path.join(scratch, "bnlint_probe.py")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(PROBE)
        try:
            with warnings.catch_warnings(), own_code():
                warnings.simplefilter("ignore")
                analyze(path)
        finally:
            sys.path[:] = saved_path
            for name in set(sys.modules) - saved_modules:
                module = sys.modules.get(name)
                if getattr(module, "__file__", None) == path or name.startswith("_bnlint_target_"):
                    del sys.modules[name]
