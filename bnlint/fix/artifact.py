"""``bnlint fold``: a trained model in, a verified inference artifact out.

This is the child's side (it imports the user's file, so it runs in a child
process of its own, as a guest, like the model analysis): build the model on
the CPU, load its trained weights (``torch.load(weights_only=True)`` only),
fold every BatchNorm that can be folded, verify, export with ``torch.export``
to a ``.pt2`` file, load that file back and verify it again, and measure.
The parent's side is :func:`bnlint.api.fold_file`.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import warnings
from typing import Any

import torch
import torch.nn as nn

from bnlint.findings import display_path
from bnlint.inputs import InputSpec
from bnlint.model.guest import guest, suspended
from bnlint.model.server import serve
from bnlint.model.shapes import DTYPES, spec_from_value
from bnlint.model.worker import (
    EXAMPLE_INPUTS, HOOK, expand_hook, user_code, describe_exception, discover, import_file,
)
from bnlint.model import layers

_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "weights", "ema")


class FoldError(Exception):
    """What the user must change: one line, exit 2."""


def _state_dict(path: str) -> dict[str, torch.Tensor]:
    """A state_dict from a checkpoint: the dict itself, or the one it holds
    under a usual key; ``module.`` prefixes of DataParallel removed."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FoldError(f"--weights {path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 -- pickles that weights_only refuses, corrupt files
        raise FoldError(f"--weights {path}: cannot load it with torch.load(weights_only=True): {describe_exception(exc)}") from None

    def tensors(d):
        return isinstance(d, dict) and d and all(isinstance(v, torch.Tensor) for v in d.values())

    if not tensors(obj) and isinstance(obj, dict):
        obj = next((obj[k] for k in _STATE_KEYS if tensors(obj.get(k))), obj)
    if not tensors(obj):
        raise FoldError(f"--weights {path}: not a state_dict, nor a checkpoint holding one under {', '.join(_STATE_KEYS)}")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _load(model: nn.Module, state: dict, path: str) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} for {tuple(v.shape)}" for k, v in own.items() if k in state and state[k].shape != v.shape]
    if wrong:
        raise FoldError(
            f"--weights {path} does not fit the model (shapes differ: {', '.join(wrong[:3])}"
            f"{' ...' if len(wrong) > 3 else ''})"
        )
    if missing or unexpected:
        stats = [k for k in missing if k.endswith(("running_mean", "running_var"))]
        parts = []
        if stats:
            parts.append(f"running statistics missing: {', '.join(stats[:5])}{' ...' if len(stats) > 5 else ''}")
        other = [k for k in missing if k not in stats]
        if other:
            parts.append(f"missing: {', '.join(other[:5])}{' ...' if len(other) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected: {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
        raise FoldError(f"--weights {path} does not fit the model ({'; '.join(parts)})")
    model.load_state_dict(state, strict=False)


def _pick(module, path: str, target: str | None) -> tuple[str, nn.Module, Any, bool]:
    """(name, model, declared inputs, built with its weights by the hook)."""
    candidates, errors, _ = discover(module, path, [target] if target else None)
    if errors:
        raise FoldError("; ".join(errors))
    hook = next((c for c in candidates if c.kind == "hook"), None)
    others = [c for c in candidates if c.kind != "hook"]
    if hook is not None and (target is None or not others):
        pairs, problems = expand_hook(hook.build(), hook)
        if problems:
            raise FoldError("; ".join(problems))
        if target:
            pairs = [p for p in pairs if p[0].name == target] or pairs
        if len(pairs) == 1 or target:
            cand, model = pairs[0]
            return cand.name, model if model is not None else cand.build(), cand.inputs, True
        others = [c for c, _ in pairs]
    if target is None and len(others) != 1:
        names = ", ".join(c.name for c in others) or "none"
        raise FoldError(f"{display_path(path)} has {len(others)} models ({names}): name one, as {display_path(path)}::Name")
    cand = others[0]
    model = cand.instance if cand.kind == "instance" else cand.build()
    if not isinstance(model, nn.Module):
        raise FoldError(f"{cand.name}() returned a {type(model).__name__}, not an nn.Module")
    return cand.name, model, cand.inputs, False


def _inputs(spec_json, declared, module) -> tuple:
    if spec_json:
        spec = InputSpec.from_json(spec_json)
    else:
        value = declared if declared is not None else getattr(module, EXAMPLE_INPUTS, None)
        if value is None:
            raise FoldError(
                "bnlint fold needs example inputs to verify and export the folded model: pass "
                "--input-shape 1,3,224,224, or define example_inputs in the file"
            )
        spec = spec_from_value(value, EXAMPLE_INPUTS)
    gen = torch.Generator().manual_seed(0)
    return tuple(
        torch.randn(s, generator=gen, dtype=DTYPES[d]) if DTYPES[d].is_floating_point else torch.zeros(s, dtype=DTYPES[d])
        for s, d in zip(spec.shapes, spec.dtypes)
    )


def _latency_ms(model: nn.Module, args: tuple, repeat: int = 20) -> float:
    with torch.inference_mode():
        for _ in range(3):
            model(*args)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            model(*args)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _count(model: nn.Module) -> tuple[int, int]:
    bns = sum(1 for m in model.modules() if isinstance(m, layers.BATCHNORM) or _is_frozen_bn(m))
    return bns, sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))
    )


def _is_frozen_bn(m: nn.Module) -> bool:
    names = {n for n, _ in m.named_buffers(recurse=False)}
    return {"weight", "bias", "running_mean", "running_var"} <= names


def fold_job(job: dict, progress) -> dict:
    """One ``bnlint fold`` in this (child) process: a JSON-able outcome."""
    from bnlint.fix import FixRefused, fold_batchnorm
    from bnlint.fix.verify import relative_error

    path = job["path"]
    try:
        with guest() as refused, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            progress("importing")
            with user_code(path):
                module = import_file(path)
                progress("building")
                name, model, declared, with_weights = _pick(module, path, job.get("target"))
            if job.get("weights"):
                progress("loading weights")
                _load(model, _state_dict(job["weights"]), job["weights"])
            elif not with_weights:
                raise FoldError(
                    f"{name}: folding needs the trained running statistics: pass --weights CHECKPOINT.pt "
                    f"(a state_dict), or build the model with its weights in a {HOOK}() function in the file"
                )
            if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
                raise FoldError(f"{name} was built on the meta device: build it on the CPU to fold it")
            model.eval()
            args = _inputs(job.get("inputs"), declared, module)
            progress("folding")
            start = time.perf_counter()
            try:
                result = fold_batchnorm(model, args, tolerance=job["tolerance"])
            except FixRefused as exc:
                raise FoldError(f"fold refused: {exc}") from None
            fold_s = time.perf_counter() - start
            progress("exporting")
            exported = torch.export.export(result.model, args)
            out = job["output"]
            with suspended():  # the artifact the user asked for: bnlint's own write
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(out)) or ".", suffix=".pt2")
                os.close(fd)
            try:
                with suspended():
                    torch.export.save(exported, tmp)
                loaded = torch.export.load(tmp).module()
                with torch.inference_mode():
                    reference = model(*args)
                    artifact_error = relative_error(reference, loaded(*args))
                if artifact_error > job["tolerance"]:
                    raise FoldError(
                        f"the exported artifact differs from the model by {artifact_error:.2e} "
                        f"(relative; tolerance {job['tolerance']:g}): nothing written"
                    )
                with suspended():
                    os.replace(tmp, out)
            finally:
                if os.path.exists(tmp):
                    with suspended():
                        os.unlink(tmp)
            progress("measuring")
            bn_before, params_before = _count(model)
            bn_after, params_after = _count(result.model)
            return {
                "model": name, "output": out,
                "folded": [{"kind": c.kind, "modules": list(c.modules), "detail": c.detail} for c in result.changed],
                "left": [{"module": l.module, "reason": l.reason} for l in result.left],
                "bn_before": bn_before, "bn_after": bn_after,
                "params_before": params_before, "params_after": params_after,
                "max_rel_error": max(result.max_rel_error or 0.0, artifact_error),
                "tolerance": job["tolerance"], "fold_s": fold_s,
                "latency_before_ms": _latency_ms(model, args), "latency_after_ms": _latency_ms(result.model, args),
                "latency_artifact_ms": _latency_ms(loaded, args),
                "inputs": [list(a.shape) for a in args],
                "notes": [r.describe() for r in refused],
            }
    except FoldError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 -- the user's code, or an export that fails
        return {"error": f"cannot fold {display_path(path)}: {describe_exception(exc)}"}


def main() -> None:
    serve(fold_job)
