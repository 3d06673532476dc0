"""Fold benchmark: `bnlint.fix.fold_batchnorm` against torch's FX `fuse` (issue 9).

In one run, on ResNet-50, VGG16-BN and MobileNetV2 (fixtures/), a DenseNet-121
built from fixtures/densenet.py's dense blocks, and three models made of what
torch's fuse leaves (ResNet-50 with torchvision-style FrozenBatchNorm2d,
ResNet-50 with a BatchNorm2d subclass, an encoder-decoder with
ConvTranspose + BN and BN -> Linear), every BatchNorm given statistics like
a trained model's (running means from -3 to 5, variances from 0.05 to 20,
gammas from 0.2 to 2.5), all in this process:

* fold time, best of --repeat, the two alternating: `fold_batchnorm(model,
  (x,))` -- tracing, folding and the two verification runs on the example
  input (the original and the folded model) included -- against
  `torch.fx.experimental.optimization.fuse(model)` with its default deep copy
  and no verification; "of which analysis" is the fold time less those two
  runs (the unfolded and folded inference times below), the part that does
  not grow with the example input;
* CPU inference time on the example input (best of --runs, inference mode):
  the unfolded model, bnlint's folded model, torch's fused model;
* max relative error (max |out - ref| / max |ref|) of each against the unfolded
  model, and the BatchNorms each leaves.

The example input is one image, 1 x 3 x --size x --size. `--device cuda` adds
folded-vs-unfolded inference timings on the GPU (skipped, with a note, when
there is none). Usage:

    python benchmarks/fold.py [--repeat 3] [--runs 10] [--size 224] [--device cpu|cuda] [--markdown]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "fixtures"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bnlint.fix import fold_batchnorm  # noqa: E402
from bnlint.fix.modules import is_batchnorm_like  # noqa: E402
from bnlint.fix.verify import relative_error  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from torch.fx.experimental.optimization import fuse  # noqa: E402

from densenet import DenseBlock  # noqa: E402
from mobilenet_v2 import MobileNetV2  # noqa: E402
from resnet import resnet50  # noqa: E402
from vgg_bn import vgg16_bn  # noqa: E402


# -- models ---------------------------------------------------------------------


class DenseNet121(nn.Module):
    """torchvision's DenseNet-121 layout: a stem, four dense blocks (6, 12,
    24, 16 layers, growth 32) joined by BN-ReLU-Conv-Pool transitions."""

    def __init__(self, blocks=(6, 12, 24, 16), growth=32, classes=1000):
        super().__init__()
        layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                  nn.MaxPool2d(3, 2, 1)]
        c = 64
        for i, n in enumerate(blocks):
            layers.append(DenseBlock(n, c, growth, drop_rate=0.0))
            c += n * growth
            if i < len(blocks) - 1:
                layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c // 2, 1, bias=False),
                           nn.AvgPool2d(2)]
                c //= 2
        layers.append(nn.BatchNorm2d(c))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(F.relu(self.features(x)), 1).flatten(1)
        return self.classifier(x)


class FrozenBatchNorm2d(nn.Module):
    """torchvision.ops.FrozenBatchNorm2d's shape (buffers, its own forward)."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.eps = bn.eps
        for name in ("weight", "bias", "running_mean", "running_var"):
            self.register_buffer(name, getattr(bn, name).detach().clone())

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        return x * scale.reshape(1, -1, 1, 1) + (self.bias - self.running_mean * scale).reshape(1, -1, 1, 1)


class SubclassBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d subclass, as detectron2's NaiveSyncBatchNorm is one."""


def _replace_bns(model: nn.Module, make) -> nn.Module:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.BatchNorm2d:
                setattr(parent, name, make(child))
    return model


def _as_subclass(bn):
    bn.__class__ = SubclassBatchNorm2d
    return bn


class EncoderDecoder(nn.Module):
    """What torch's fuse leaves: ConvTranspose + BN (grouped too) and a BN before a Linear."""

    def __init__(self, classes=10):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.Conv2d(64, 128, 3, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 2, 2, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(64, 32, 2, 2, groups=4, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(32), nn.Linear(32, classes))

    def forward(self, x):
        y = self.decoder(self.encoder(x))
        return self.head(F.adaptive_avg_pool2d(y, 1))


MODELS = {
    "ResNet-50": resnet50,
    "VGG16-BN": vgg16_bn,
    "MobileNetV2": MobileNetV2,
    "DenseNet-121": DenseNet121,
    "ResNet-50, FrozenBatchNorm2d": lambda: _replace_bns(resnet50(), FrozenBatchNorm2d),
    "ResNet-50, BatchNorm2d subclass": lambda: _replace_bns(resnet50(), _as_subclass),
    "Encoder-decoder (ConvTranspose, BN -> Linear)": EncoderDecoder,
}


def trained_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Statistics like a trained model's, far from the 0 / 1 of a fresh one."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if not is_batchnorm_like(m):
                continue
            n = m.running_mean.numel()
            m.running_mean.copy_(torch.rand(n, generator=g) * 8 - 3)
            m.running_var.copy_(torch.exp(torch.rand(n, generator=g) * math.log(400)) * 0.05)
            if m.weight is not None:
                m.weight.copy_(torch.rand(n, generator=g) * 2.3 + 0.2)
                m.bias.copy_(torch.rand(n, generator=g) * 2 - 1)
    return model


def count_bns(model: nn.Module) -> int:
    """The BatchNorms a model computes: its BN-like modules, and in an FX
    graph module the BN-like modules it calls plus the modules a trace went
    into whose class is BN-like (a frozen BN becomes a mul and an add there,
    each node naming it in its ``nn_module_stack``)."""
    if not isinstance(model, torch.fx.GraphModule):
        return sum(is_batchnorm_like(m) for m in model.modules())
    left = set()
    for n in model.graph.nodes:
        if n.op == "call_module" and is_batchnorm_like(model.get_submodule(n.target)):
            left.add(n.target)
        for path, (_, cls) in (n.meta.get("nn_module_stack") or {}).items():
            if isinstance(cls, type) and cls.__name__ == "FrozenBatchNorm2d":
                left.add(path)
    return len(left)


# -- timing ---------------------------------------------------------------------


def best(fn, repeat: int):
    """(best wall time over ``repeat`` calls, the last result)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def inference(model: nn.Module, x: torch.Tensor, runs: int, device: str = "cpu") -> float:
    with torch.inference_mode():
        for _ in range(2):
            model(x)
        sync(device)

        def once():
            model(x)
            sync(device)

        return best(once, runs)[0]


def measure(name: str, build, args) -> dict:
    model = trained_statistics(build()).eval()
    x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = model(x)
    row = {"model": name, "bns": count_bns(model)}
    # fold and fuse alternate, so that both meet the same machine load
    fold_times, fuse_times, fused = [], [], None
    for _ in range(args.repeat):
        t, result = best(lambda: fold_batchnorm(model, (x,)), 1)
        fold_times.append(t)
        if "fuse_error" in row:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t, fused = best(lambda: fuse(model), 1)
            fuse_times.append(t)
        except Exception as exc:  # noqa: BLE001 -- torch's fuse fails on some models: that is a result
            row["fuse_error"] = type(exc).__name__
    row["fold_s"], row["fuse_s"] = min(fold_times), min(fuse_times) if fuse_times else None
    row["left"] = len(result.left)
    assert count_bns(result.model) == row["left"]
    if fused is not None:
        row["fuse_left"] = count_bns(fused)
    with torch.inference_mode():
        row["err"] = relative_error(ref, result.model(x))
        row["fuse_err"] = relative_error(ref, fused(x)) if fused is not None else None
    row["verified_err"] = result.max_rel_error
    row["cpu_ms"] = 1e3 * inference(model, x, args.runs)
    row["cpu_folded_ms"] = 1e3 * inference(result.model, x, args.runs)
    row["cpu_fused_ms"] = 1e3 * inference(fused, x, args.runs) if fused is not None else None
    if args.device == "cuda" and torch.cuda.is_available():
        xc = x.cuda()
        # the result owns its Parameter objects: moving it moves nothing of the original
        row["gpu_folded_ms"] = 1e3 * inference(result.model.cuda(), xc, args.runs, "cuda")
        row["gpu_ms"] = 1e3 * inference(model.cuda(), xc, args.runs, "cuda")
    return row


# -- report ---------------------------------------------------------------------


def _f(value, fmt, missing="--"):
    return missing if value is None else format(value, fmt)


def _ratio(a, b):
    return "--" if a is None or b is None else f"{a / b:.2f}"


def analysis(r) -> float:
    """Fold time less its two verification runs (one unfolded, one folded
    forward): what tracing, checking, folding and rebuilding cost."""
    return max(0.0, r["fold_s"] - (r["cpu_ms"] + r["cpu_folded_ms"]) / 1e3)


def table(rows, gpu: bool) -> str:
    head = ["model", "BNs", "fold: bnlint (verified)", "of which analysis", "fuse", "ratio",
            "CPU ms: unfolded", "bnlint", "fuse", "bnlint / unfolded",
            "max rel err: bnlint", "fuse", "BNs left: bnlint", "fuse"]
    if gpu:
        head += ["GPU ms: unfolded", "bnlint", "bnlint / unfolded"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        fuse_s = _f(r["fuse_s"], ".3f") + " s" if r["fuse_s"] is not None else f"fails ({r['fuse_error']})"
        cells = [
            r["model"], str(r["bns"]), f"{r['fold_s']:.3f} s", f"{analysis(r):.3f} s", fuse_s,
            _ratio(r["fold_s"], r["fuse_s"]),
            f"{r['cpu_ms']:.1f}", f"{r['cpu_folded_ms']:.1f}", _f(r["cpu_fused_ms"], ".1f"),
            _ratio(r["cpu_folded_ms"], r["cpu_ms"]),
            f"{r['err']:.1e}", _f(r["fuse_err"], ".1e"), str(r["left"]), str(r.get("fuse_left", "--")),
        ]
        if gpu:
            cells += [_f(r.get("gpu_ms"), ".2f"), _f(r.get("gpu_folded_ms"), ".2f"),
                      _ratio(r.get("gpu_folded_ms"), r.get("gpu_ms"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="fold / fuse timings: best of this many")
    ap.add_argument("--runs", type=int, default=10, help="inference timings: best of this many")
    ap.add_argument("--size", type=int, default=224, help="example input: 1 x 3 x size x size")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--only", nargs="*", help="model names to run (default: all)")
    ap.add_argument("--markdown", action="store_true", help="print only the README-ready table")
    args = ap.parse_args()
    gpu = args.device == "cuda" and torch.cuda.is_available()
    if args.device == "cuda" and not gpu:
        print("note: --device cuda asked for, but no CUDA GPU is available: GPU timings skipped", file=sys.stderr)
    rows = []
    for name, build in MODELS.items():
        if args.only and name not in args.only:
            continue
        rows.append(measure(name, build, args))
        if not args.markdown:
            r = rows[-1]
            print(f"{name}: fold {r['fold_s']:.3f} s vs fuse {_f(r['fuse_s'], '.3f')} s, "
                  f"error {r['err']:.1e}, left {r['left']}", file=sys.stderr)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, input 1x3x{args.size}x{args.size}, "
          f"fold/fuse best of {args.repeat}, inference best of {args.runs}")
    print()
    print(table(rows, gpu))


if __name__ == "__main__":
    main()
