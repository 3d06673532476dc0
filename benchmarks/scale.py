"""Scale benchmark for `bnlint check` (issue: shape-aware analysis on meta).

(a) A 10.7-billion-parameter model (fixtures/huge.py: ten 32768x32768 Linear +
    BatchNorm1d blocks, 43 GB of float32 weights, more than this machine's
    memory): wall time and peak RSS of `bnlint check --input-shape 1,32768`,
    against the size of the model's weights.
(b) `bnlint check` on VGG16-BN and ResNet-50 fixtures against the named
    baseline `python -c "import torch; <build the model eagerly>"`, measured in
    the same run, as a ratio (< 1 means the whole check is faster than merely
    constructing the model).
(c) Depth: a Sequential of N Conv2d(64, 64, 3)-BatchNorm2d-ReLU blocks (3N
    modules; N = 250, 1000, 4000), `bnlint check --input-shape 2,64,16,16`
    against its eager construction, and the time each added module costs
    (the slope between two depths: flat means no per-module cost grows with
    the model).

Each measurement runs in a fresh process; the median of --repeat runs is
reported. Usage:

    python benchmarks/scale.py [--repeat 3] [--markdown]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile

from _measure import measure as _measure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
measure = functools.partial(_measure, cwd=ROOT)


def bnlint(*args: str) -> list[str]:
    return [sys.executable, "-m", "bnlint", "check", *args, "--format", "json"]


def eager(module: str, factory: str) -> list[str]:
    code = (
        "import sys; sys.path.insert(0, 'fixtures'); import torch; "
        f"from {module} import {factory}; m = {factory}(); "
        "print(sum(p.numel() for p in m.parameters()))"
    )
    return [sys.executable, "-c", code]


DEEP = """import torch.nn as nn


def deep():
    return nn.Sequential(*[m for _ in range({n}) for m in (
        nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())])
"""
DEPTHS = (250, 1000, 4000)


def depth_rows(repeat: int) -> list[tuple[int, dict, dict]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bnlint-scale-") as root:
        for n in DEPTHS:
            path = os.path.join(root, f"deep_{n}.py")
            with open(path, "w") as fh:
                fh.write(DEEP.format(n=n))
            check = measure(bnlint(f"{path}::deep", "--input-shape", "2,64,16,16"), repeat)
            build = measure([sys.executable, "-c", f"import sys; sys.path.insert(0, {root!r}); import torch; "
                             f"from deep_{n} import deep; deep()"], repeat)
            rows.append((n, check, build))
    return rows


def slope_us(rows, key: int) -> float:
    """Microseconds per added module between the shallowest and the deepest."""
    (n0, *first), (n1, *last) = rows[0], rows[-1]
    return (last[key]["wall_s"] - first[key]["wall_s"]) / (3 * (n1 - n0)) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print a README-ready table")
    args = ap.parse_args()

    huge_params = 10 * (32768 * 32768 + 32768 + 2 * 32768)
    huge = measure(bnlint("fixtures/huge.py", "--input-shape", "1,32768"), args.repeat)
    rows = []
    for label, module, factory, shape in (
        ("VGG16-BN", "vgg_bn", "vgg16_bn", "8,3,224,224"),
        ("ResNet-50", "resnet", "resnet50", "8,3,224,224"),
    ):
        plain = measure(bnlint(f"fixtures/{module}.py::{factory}"), args.repeat)
        shaped = measure(bnlint(f"fixtures/{module}.py::{factory}", "--input-shape", shape), args.repeat)
        build = measure(eager(module, factory), args.repeat)
        rows.append((label, plain, shaped, build))
    depth = depth_rows(args.repeat)

    weights_gb = huge_params * 4 / 1e9
    if args.markdown:
        print(f"| measurement | bnlint check | baseline | ratio |")
        print("|---|---|---|---|")
        print(
            f"| 10.7B-param model (fixtures/huge.py), peak RSS | {huge['peak_rss_mb']:.0f} MB "
            f"| its float32 weights: {weights_gb:.0f} GB | {huge['peak_rss_mb'] / 1024 / weights_gb:.3f} |"
        )
        print(f"| 10.7B-param model, wall time | {huge['wall_s']:.2f} s | target 10 s | {huge['wall_s'] / 10:.2f} |")
        for label, plain, shaped, build in rows:
            for what, check in (("check", plain), ("check --input-shape 8,3,224,224", shaped)):
                print(
                    f"| {label}: `{what}` vs eager construction, wall | {check['wall_s']:.2f} s "
                    f"| {build['wall_s']:.2f} s | {check['wall_s'] / build['wall_s']:.2f} |"
                )
            print(
                f"| {label}: `check --input-shape`, peak RSS | {shaped['peak_rss_mb']:.0f} MB "
                f"| {build['peak_rss_mb']:.0f} MB | {shaped['peak_rss_mb'] / build['peak_rss_mb']:.2f} |"
            )
        for n, check, build in depth:
            print(
                f"| {n}-block Conv-BN-ReLU ({3 * n} modules): `check --input-shape 2,64,16,16` vs eager "
                f"construction, wall | {check['wall_s']:.2f} s | {build['wall_s']:.2f} s "
                f"| {check['wall_s'] / build['wall_s']:.2f} |"
            )
        for between in ((0, 2), (1, 2)):
            part = [depth[i] for i in between]
            print(
                f"| each module added from {part[0][0]} to {part[1][0]} blocks | {slope_us(part, 0):.0f} us "
                f"| {slope_us(part, 1):.0f} us | {slope_us(part, 0) / slope_us(part, 1):.2f} |"
            )
        return
    print(f"huge (10.7B params, {weights_gb:.0f} GB float32): {huge['wall_s']:.2f} s, peak RSS {huge['peak_rss_mb']:.0f} MB")
    for label, plain, shaped, build in rows:
        print(
            f"{label}: check {plain['wall_s']:.2f} s, check with shapes {shaped['wall_s']:.2f} s "
            f"({shaped['peak_rss_mb']:.0f} MB) vs eager construction {build['wall_s']:.2f} s "
            f"({build['peak_rss_mb']:.0f} MB): ratios {plain['wall_s'] / build['wall_s']:.2f} / "
            f"{shaped['wall_s'] / build['wall_s']:.2f}"
        )
    for n, check, build in depth:
        print(f"{n} blocks ({3 * n} modules): check --input-shape {check['wall_s']:.2f} s vs eager {build['wall_s']:.2f} s "
              f"({check['wall_s'] / build['wall_s']:.2f})")
    for between in ((0, 2), (1, 2)):
        part = [depth[i] for i in between]
        print(f"per added module, {part[0][0]} -> {part[1][0]} blocks: check {slope_us(part, 0):.0f} us, "
              f"eager {slope_us(part, 1):.0f} us")


if __name__ == "__main__":
    main()
