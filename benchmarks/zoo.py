"""Zoo benchmark: bnlint over every torchvision and/or timm model installed.

Each model gets a file of its own with a lazy ``bnlint_models()`` hook (the
model built from its library with no weights, with its own example input),
analyzed in-process with :func:`bnlint.model.worker.analyze_file` under a time
limit. Reported as a table:

- coverage: ``full`` (one whole graph), ``partial`` (a BN002: parts seen only
  as a module tree), ``BN001`` (not analyzable), ``crash`` (an internal error
  or the time limit);
- findings per code;
- with ``--verify-bn101``, each BN101 checked against its definition on the
  eagerly built model: change the bias, the train-mode output (float64, the
  same seed for dropout) does not move;
- time per model: the analysis against building the same model eagerly on
  the CPU (``get_model(name)`` / ``timm.create_model(name)``), measured in
  the same run.

Usage (neither library is needed by the test suite)::

    python benchmarks/zoo.py --torchvision [--timm] [--limit N] [--every N] [--match vgg] [--markdown]
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import statistics
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


_TV_HEADER = """import inspect
import torchvision.models as tvm


def build(name):  # no weights, no backbone weights either: nothing is downloaded
    builder = tvm.get_model_builder(name)
    extra = {"weights_backbone": None} if "weights_backbone" in inspect.signature(builder).parameters else {}
    return builder(weights=None, **extra)


"""


def _tv_build(name: str):
    namespace: dict = {}
    exec(_TV_HEADER, namespace)
    return namespace["build"](name)


def _torchvision_models(match: str | None):
    import torchvision.models as tvm

    for name in tvm.list_models():
        if match and match not in name:
            continue
        module = tvm.get_model_builder(name).__module__
        if ".video." in module:
            shape = (8, 3, 8, 112, 112)
        elif ".optical_flow." in module:
            continue  # two image inputs of the same shape: declared below
        else:
            shape = (8, 3, 224, 224)
        yield (
            "torchvision", name,
            _TV_HEADER + f"def bnlint_models():\n    return {{{name!r}: (lambda: build({name!r}), ({shape!r},))}}\n",
            lambda name=name: _tv_build(name), (shape,),
        )
    for name in tvm.list_models(module=tvm.optical_flow):
        if match and match not in name:
            continue
        yield (
            "torchvision", name,
            _TV_HEADER + f"def bnlint_models():\n    return {{{name!r}: (lambda: build({name!r}), "
            f"((1, 3, 128, 128), (1, 3, 128, 128)))}}\n",
            lambda name=name: _tv_build(name), ((1, 3, 128, 128), (1, 3, 128, 128)),
        )


def _timm_models(match: str | None):
    import timm

    for name in timm.list_models():
        if match and match not in name:
            continue
        try:
            cfg = timm.models.get_pretrained_cfg(name)
            size = tuple(getattr(cfg, "input_size", None) or (3, 224, 224))
        except Exception:  # noqa: BLE001
            size = (3, 224, 224)
        yield (
            "timm", name,
            f"import timm\n\ndef bnlint_models():\n"
            f"    return {{{name!r}: (lambda: timm.create_model({name!r}, pretrained=False), ((8, *{size!r}),))}}\n",
            lambda name=name: timm.create_model(name, pretrained=False), ((8, *size),),
        )


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _timed(fn, limit: float):
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    start = time.perf_counter()
    try:
        return fn(), time.perf_counter() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def redundant_biases(build, shapes, modules) -> tuple[int, list[str]]:
    """The numerical check of BN101: each flagged module's bias changed, the
    model's train-mode output in float64 (dropout on the same seed) does not
    move. (modules checked, those whose change moved the output)."""
    import torch

    torch.manual_seed(0)
    model = build().double().train()
    inputs = [torch.randn((min(s[0], 2), *s[1:]), dtype=torch.float64) for s in shapes]
    moved = []
    with torch.no_grad():
        torch.manual_seed(1)
        ref = model(*inputs)
        for q in modules:
            conv = model.get_submodule(q)
            saved = conv.bias.clone()
            conv.bias.add_(torch.randn_like(conv.bias) * 3)
            torch.manual_seed(1)
            out = model(*inputs)
            conv.bias.copy_(saved)
            if ((out - ref).abs().max() / ref.abs().max()).item() > 1e-9:
                moved.append(q)
    return len(modules), moved


def run(models, limit: float, eager: bool, workdir: str, verify: bool = False):
    from bnlint.model.worker import analyze_file

    rows = []
    for lib, name, source, build, shapes in models:
        path = os.path.join(workdir, f"{lib}_{name.replace('.', '_').replace('-', '_')}.py")
        with open(path, "w") as fh:
            fh.write(source)
        status, codes, seconds, eager_s, why = "full", collections.Counter(), None, None, ""
        try:
            result, seconds = _timed(lambda: analyze_file(path), limit)
            codes.update(f.code for f in result.findings)
            if result.internal_errors:
                status, why = "crash", result.internal_errors[0].splitlines()[-1]
            elif codes["BN001"]:
                status = "BN001"
                why = next(f.message for f in result.findings if f.code == "BN001")
            elif codes["BN002"]:
                status = "partial"
                why = next(f.message for f in result.findings if f.code == "BN002")
        except _Timeout:
            status, why = "crash", f"over {limit:g} s"
        except Exception as exc:  # noqa: BLE001
            status, why = "crash", traceback.format_exception_only(exc)[-1].strip()
        if eager and status != "crash":
            try:
                _, eager_s = _timed(build, limit)
            except BaseException:  # noqa: BLE001
                eager_s = None
        if verify and codes["BN101"]:
            flagged = sorted({f.module for f in result.findings if f.code == "BN101" and f.module})
            try:
                (checked, moved), _ = _timed(lambda: redundant_biases(build, shapes, flagged), 10 * limit)
                codes["BN101 checked"], codes["BN101 not redundant"] = checked, len(moved)
                if moved:
                    why = f"BN101 bias not redundant: {', '.join(moved[:3])}"
            except BaseException as exc:  # noqa: BLE001
                codes["BN101 not checked"] = len(flagged)
                why = f"BN101 check failed: {type(exc).__name__}"
        rows.append((lib, name, status, codes, seconds, eager_s, why))
        print(f"{lib:12} {name:45} {status:8} {seconds or 0:6.2f}s "
              f"{dict(sorted((c, n) for c, n in codes.items() if c not in ('BN001',)))} {why[:100]}",
              file=sys.stderr, flush=True)
    return rows


def report(rows, markdown: bool) -> None:
    libs = sorted({r[0] for r in rows})
    statuses = ("full", "partial", "BN001", "crash")
    print("| library | models | " + " | ".join(statuses) + " | median check s | median eager build s | check / build |")
    print("|---|---|" + "---|" * (len(statuses) + 3))
    for lib in libs:
        mine = [r for r in rows if r[0] == lib]
        count = collections.Counter(r[2] for r in mine)
        checks = [r[4] for r in mine if r[4] is not None]
        builds = [r[5] for r in mine if r[5] is not None]
        ratios = [r[4] / r[5] for r in mine if r[4] and r[5]]
        med = lambda xs: f"{statistics.median(xs):.2f}" if xs else "-"  # noqa: E731
        print(f"| {lib} | {len(mine)} | " + " | ".join(
            f"{count[s]} ({100 * count[s] / len(mine):.1f}%)" for s in statuses
        ) + f" | {med(checks)} | {med(builds)} | {med(ratios)} |")
    print()
    total = collections.Counter()
    for r in rows:
        total.update(r[3])
    print("| code | findings | models |")
    print("|---|---|---|")
    for code in sorted(total):
        print(f"| {code} | {total[code]} | {sum(1 for r in rows if r[3][code])} |")
    if not markdown:
        bad = [r for r in rows if r[2] != "full"]
        if bad:
            print()
            for lib, name, status, _, _, _, why in bad:
                print(f"{status:8} {lib}/{name}: {why[:200]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torchvision", action="store_true")
    ap.add_argument("--timm", action="store_true")
    ap.add_argument("--match", help="only models whose name contains this")
    ap.add_argument("--limit", type=int, help="at most this many models per library")
    ap.add_argument("--every", type=int, default=1,
                    help="a systematic sample: every N-th model of each library's sorted list")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per model")
    ap.add_argument("--no-eager", action="store_true", help="do not time eager construction")
    ap.add_argument("--verify-bn101", action="store_true",
                    help="check each BN101 numerically on the eagerly built model (float64, train mode)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not (args.torchvision or args.timm):
        args.torchvision = args.timm = True
    models = []
    for flag, source in ((args.torchvision, _torchvision_models), (args.timm, _timm_models)):
        if not flag:
            continue
        try:
            found = list(source(args.match))
        except ImportError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        found = found[:: max(1, args.every)]
        models += found[: args.limit] if args.limit else found
    if not models:
        raise SystemExit("neither torchvision nor timm is installed (pip install torchvision timm)")
    with tempfile.TemporaryDirectory(prefix="bnlint-zoo-") as workdir:
        rows = run(models, args.timeout, not args.no_eager, workdir, args.verify_bn101)
    report(rows, args.markdown)


if __name__ == "__main__":
    main()
