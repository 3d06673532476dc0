"""Speed of the source analysis: `bnlint check --static` against TorchFix.

Both tools read the same corpus of real PyTorch source, in the same run, each
in a fresh process (median wall time of --repeat runs, largest peak RSS):

* bnlint: `bnlint check --static CORPUS --format json` (one process);
* baseline, TorchFix (`pip install torchfix`, a libcst-based PyTorch linter):
  `torchfix CORPUS` with its default rules and its default parallelism (one
  worker per CPU).

The default corpus is torch's own `torch/nn`, `torch/optim` and `torch/utils`
from the installed torch, located without importing it; `--corpus DIR ...`
measures other trees (timm, torchvision, your code). What each tool reported
is printed too -- the two check different things, so the counts are context,
not a comparison.

    pip install torchfix
    python benchmarks/static.py [--repeat 3] [--markdown] [--torchfix PATH] [--corpus DIR ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys

from _measure import measure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bnlint.discover.paths import expand_paths  # noqa: E402  (torch-free)


def default_corpus() -> list[str]:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("torch is not installed: pass --corpus DIR")
    base = spec.submodule_search_locations[0]
    return [os.path.join(base, sub) for sub in ("nn", "optim", "utils")]


def corpus_size(paths: list[str]) -> tuple[int, int]:
    files = [t.path for t in expand_paths(paths)]
    lines = 0
    for f in files:
        with open(f, "rb") as fh:
            lines += fh.read().count(b"\n")
    return len(files), lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print a README-ready table")
    ap.add_argument("--torchfix", default=shutil.which("torchfix"), help="the torchfix executable (default: on PATH)")
    ap.add_argument("--corpus", nargs="+", help="directories to analyze (default: torch's nn, optim, utils)")
    args = ap.parse_args()
    if not args.torchfix:
        raise SystemExit("torchfix not found: `pip install torchfix` (or pass --torchfix PATH)")

    corpus = args.corpus or default_corpus()
    n_files, n_lines = corpus_size(corpus)
    ours = measure([sys.executable, "-m", "bnlint", "check", "--static", *corpus, "--format", "json"], args.repeat, cwd=ROOT)
    theirs = measure([args.torchfix, *corpus], args.repeat, cwd=ROOT)
    n_ours = len(json.loads(ours["stdout"])["findings"])
    n_theirs = sum(1 for line in theirs["stdout"].splitlines() if ": TOR" in line)
    ratio = theirs["wall_s"] / ours["wall_s"]
    cpus = os.cpu_count()
    where = ", ".join(os.path.relpath(p, os.path.dirname(os.path.dirname(p))) for p in corpus)

    if args.markdown:
        print(f"Corpus: {where} ({n_files} files, {n_lines:,} lines); {cpus} CPUs; median of {args.repeat}.")
        print()
        print("| tool | wall time | peak RSS | reported | speed-up |")
        print("|---|---|---|---|---|")
        print(f"| `bnlint check --static` (1 process) | {ours['wall_s']:.2f} s | {ours['peak_rss_mb']:.0f} MB | {n_ours} findings | **{ratio:.0f}x** |")
        print(f"| TorchFix `torchfix` ({cpus} workers) | {theirs['wall_s']:.2f} s | {theirs['peak_rss_mb']:.0f} MB | {n_theirs} violations | 1x |")
        return
    print(f"corpus: {where}: {n_files} files, {n_lines} lines")
    print(f"bnlint check --static: {ours['wall_s']:.2f} s, peak RSS {ours['peak_rss_mb']:.0f} MB, {n_ours} findings")
    print(f"torchfix ({cpus} workers): {theirs['wall_s']:.2f} s, peak RSS {theirs['peak_rss_mb']:.0f} MB, {n_theirs} violations")
    print(f"bnlint is {ratio:.1f}x faster ({n_lines / ours['wall_s']:,.0f} lines/s)")


if __name__ == "__main__":
    main()
