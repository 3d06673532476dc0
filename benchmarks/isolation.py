"""Isolation benchmark for `bnlint check` (issue: user code runs as a guest).

A directory of generated model files -- ResNet-, VGG- and MLP-like, some
importing a sibling helper module -- checked three ways in the same
run, each in fresh processes, the median of --repeat runs:

* shared process (the named baseline: what bnlint did before isolation): one
  Python process imports torch and bnlint once and analyzes every file in
  turn (``bnlint.model.worker.analyze_file``), modules cached between files;
* ``bnlint check DIR -j 1``: each file in a fresh child of a fork server;
* ``bnlint check DIR -j 2``: the same, two files at a time.

Targets: isolation costs at most 25% over the shared process at -j 1; -j 2 is
faster than the shared process.

    python benchmarks/isolation.py [--files 200] [--repeat 3] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from _measure import measure

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


SHARED = (
    "import sys, os, json\n"
    "from bnlint.model.worker import analyze_file\n"
    "root = sys.argv[1]\n"
    "n = 0\n"
    "for name in sorted(os.listdir(root)):\n"
    "    if name.endswith('.py'):\n"
    "        n += len(analyze_file(os.path.join(root, name)).findings)\n"
    "print(json.dumps({'findings': n}))\n"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--size", choices=("real", "small"), default="real",
                    help="real: ResNet-18/34-deep and VGG-11-wide models; small: a few layers each (per-file overhead dominates)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print a README-ready table")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bnlint-isolation-") as root:
        generate(root, args.files, args.size)
        shared = measure([sys.executable, "-c", SHARED, root], args.repeat)
        runs = {
            jobs: measure([sys.executable, "-m", "bnlint", "check", root, "-j", str(jobs), "--format", "json"], args.repeat)
            for jobs in (1, 2)
        }
    found = {jobs: len(json.loads(r["stdout"])["findings"]) for jobs, r in runs.items()}
    base = shared["wall_s"]
    rows = [("shared process (baseline: one process, modules cached between files)", shared, None)]
    rows += [(f"`bnlint check -j {jobs}` (each file in a fresh forked child)", runs[jobs], found[jobs]) for jobs in (1, 2)]
    if args.markdown:
        print(f"| {args.files} {args.size} models (`python benchmarks/isolation.py --files {args.files} --size {args.size}`) | wall | peak RSS | vs shared |")
        print("|---|---|---|---|")
        for label, r, _ in rows:
            print(f"| {label} | {r['wall_s']:.2f} s | {r['peak_rss_mb']:.0f} MB | {r['wall_s'] / base:.2f}x |")
    else:
        for label, r, n in rows:
            extra = f", {n} findings" if n is not None else f", {json.loads(r['stdout'])['findings']} findings"
            print(f"{label}: {r['wall_s']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB ({r['wall_s'] / base:.2f}x){extra}")
    if found[1] != found[2]:
        raise SystemExit(f"-j 1 and -j 2 disagree: {found[1]} vs {found[2]} findings")


if __name__ == "__main__":
    main()
