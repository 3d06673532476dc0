"""Scale benchmark for `bnlint check` (issue: shape-aware analysis on meta).

(a) A 10.7-billion-parameter model (fixtures/huge.py: ten 32768x32768 Linear +
    BatchNorm1d blocks, 43 GB of float32 weights, more than this machine's
    memory): wall time and peak RSS of `bnlint check --input-shape 1,32768`,
    against the size of the model's weights.
(b) `bnlint check` on VGG16-BN and ResNet-50 fixtures against the named
    baseline `python -c "import torch; <build the model eagerly>"`, measured in
    the same run, as a ratio (< 1 means the whole check is faster than merely
    constructing the model).

Each measurement runs in a fresh process; the median of --repeat runs is
reported. Usage:

    python benchmarks/scale.py [--repeat 3] [--markdown]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

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
        return
    print(f"huge (10.7B params, {weights_gb:.0f} GB float32): {huge['wall_s']:.2f} s, peak RSS {huge['peak_rss_mb']:.0f} MB")
    for label, plain, shaped, build in rows:
        print(
            f"{label}: check {plain['wall_s']:.2f} s, check with shapes {shaped['wall_s']:.2f} s "
            f"({shaped['peak_rss_mb']:.0f} MB) vs eager construction {build['wall_s']:.2f} s "
            f"({build['peak_rss_mb']:.0f} MB): ratios {plain['wall_s'] / build['wall_s']:.2f} / "
            f"{shaped['wall_s'] / build['wall_s']:.2f}"
        )


if __name__ == "__main__":
    main()
