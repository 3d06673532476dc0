"""Isolation benchmark for `bnlint check` (issue: user code runs as a guest).

A directory of generated model files -- ResNet-, VGG- and MLP-like, some
importing a sibling helper module -- checked three ways in the same
run, each in fresh processes, the median of --repeat runs:

* shared process (the named baseline: what bnlint did before isolation): the
  same ``bnlint check DIR`` with one analysis process that imports torch and
  bnlint once and every file in turn, modules cached between files
  (``benchmarks/_shared_process.py``);
* ``bnlint check DIR -j 1``: each file in a fresh child of a fork server;
* ``bnlint check DIR -j 2``: the same, two files at a time.

Targets: isolation costs at most 25% over the shared process at -j 1; -j 2 is
faster than the shared process.

    python benchmarks/isolation.py [--files 200] [--format text|json] [--repeat 3] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from _measure import measure

HERE = os.path.dirname(os.path.abspath(__file__))

COMMON = '''
import torch.nn as nn


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, stride=1):
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
'''

RESNET = '''
import torch.nn as nn
{imports}

class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias={bias})
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(x + self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class Net{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = {stem}
        self.layers = nn.Sequential(*[Block(32) for _ in range({depth})])  # ResNet-18 has 8 blocks
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))
'''

VGG = '''
import torch.nn as nn


def make_layers(cfg):
    layers, cin = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            cin = v
    return nn.Sequential(*layers)


class VGG{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = make_layers({cfg})
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear({width} * 4 * 4, 64), nn.ReLU(), nn.Dropout(), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))
'''

MLP = '''
import torch.nn as nn
import torch.nn.functional as F


class MLP{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, {width})
        self.bn1 = nn.BatchNorm1d({width}, momentum={momentum})
        self.fc2 = nn.Linear({width}, 10)

    def forward(self, x):
        return self.fc2(F.dropout(F.relu(self.bn1(self.fc1(x))), 0.1, training=self.training))
'''


VGG_CFG = {
    "small": '[16, "M", 32, "M", {width}, {width}, "M"]',
    "real": '[64, "M", 128, "M", 256, 256, "M", 512, 512, "M", {width}, {width}, "M"]',  # VGG-11's layout
}


def generate(root: str, n: int, size: str = "real") -> None:
    with open(os.path.join(root, "common.py"), "w") as fh:
        fh.write(COMMON)
    for i in range(n):
        kind = i % 3
        if kind == 0:
            helper = i % 2 == 0
            text = RESNET.format(
                i=i, bias=str(i % 4 == 0), depth=(2 + i % 3) if size == "small" else (8 + 4 * (i % 3)),
                imports="from common import ConvBN" if helper else "",
                stem="ConvBN(3, 32)" if helper else "nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())",
            )
        elif kind == 1:
            width = (32 + 16 * (i % 3)) if size == "small" else 512
            text = VGG.replace("{cfg}", VGG_CFG[size]).format(i=i, width=width)
        else:
            text = MLP.format(i=i, width=32 * (1 + i % 4), momentum=0.9 if i % 5 == 0 else 0.1)
        with open(os.path.join(root, f"model_{i:03d}.py"), "w") as fh:
            fh.write(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--size", choices=("real", "small"), default="real",
                    help="real: ResNet-18/34-deep and VGG-11-wide models; small: a few layers each (per-file overhead dominates)")
    ap.add_argument("--format", choices=("text", "json"), default="text",
                    help="the report the timed runs write (json also plans each finding's source fix, in the parent)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print a README-ready table")
    args = ap.parse_args()

    shared_cmd = [sys.executable, os.path.join(HERE, "_shared_process.py")]
    bnlint_cmd = [sys.executable, "-m", "bnlint"]
    modes = {  # label -> (command, -j)
        "shared process (baseline: one process, modules cached between files)": (shared_cmd, 1),
        "`bnlint check -j 1` (each file in a fresh forked child)": (bnlint_cmd, 1),
        "`bnlint check -j 2` (each file in a fresh forked child)": (bnlint_cmd, 2),
    }
    with tempfile.TemporaryDirectory(prefix="bnlint-isolation-") as root:
        generate(root, args.files, args.size)
        timed, found = {}, {}
        for label, (cmd, jobs) in modes.items():
            check = [*cmd, "check", root, "-j", str(jobs)]
            timed[label] = measure([*check, "--format", args.format], args.repeat)
            out = timed[label]["stdout"] if args.format == "json" else measure([*check, "--format", "json"], 1)["stdout"]
            found[label] = len(json.loads(out)["findings"])
    if len(set(found.values())) != 1:  # the generated files share no module names: all three must agree
        raise SystemExit(f"the three runs disagree on the findings: {found}")
    base = next(iter(timed.values()))["wall_s"]
    if args.markdown:
        print(f"| {args.files} {args.size} models, `--format {args.format}` | wall | peak RSS | vs shared |")
        print("|---|---|---|---|")
        for label, r in timed.items():
            print(f"| {label} | {r['wall_s']:.2f} s | {r['peak_rss_mb']:.0f} MB | {r['wall_s'] / base:.2f}x |")
    else:
        for label, r in timed.items():
            print(f"{label}: {r['wall_s']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB ({r['wall_s'] / base:.2f}x), {found[label]} findings")


if __name__ == "__main__":
    main()
