"""Precision and recall of ``bnlint check --static`` on public training code,
rescored from a manifest (``benchmarks/precision_manifest.json``).

The manifest names repositories (with the commit their snapshot had), the
split of the corpus into a half that was tuned on and a held-out half (fixed
before any of the code was read), and two kinds of entries:

* natural findings: ``{"repo", "commit", "path", "line", "code", "label"}``
  with label ``tp`` (a real bug reported), ``fp`` (reported, no bug) or
  ``fn`` (a real bug within the rule's promise, not reported);
* injected bugs: ``{"repo", "commit", "path", "line", "inject", "code"}``,
  ``inject`` one of ``delete_eval`` (the ``X.eval()`` line becomes ``pass``),
  ``delete_train`` (likewise ``X.train()``), ``export_before_eval`` (a
  ``torch.jit.trace(X, None)`` inserted right before the ``X.eval()``) and
  ``add_freeze`` (``for _p in X.parameters(): _p.requires_grad = False``
  inserted right before the ``X.train()``); ``code`` is the rule expected to
  report it in that file. An injection found afterwards to be no bug at all
  (the model has no mode-dependent layer) keeps its entry with a
  ``not_a_bug`` reason and is left out of the recall; so is one into a file
  that is not valid Python 3 (counted as ``injected_unparseable``: bnlint
  reports BN001 "cannot parse" there), and none is proposed in such a file.

This script never fetches anything. It reads the snapshots from a directory
holding one source tree per repository, named ``owner+name``::

    # for each repository of the manifest, with the fetch tool of the bnlint
    # workplace (or `git clone` + `git checkout COMMIT`):
    #   fetch github:owner/name   ->  /work/.mirror/owner+name/repo
    git --git-dir /work/.mirror/owner+name/repo archive COMMIT | tar -x -C SNAP/owner+name
    # (files over the snapshot limits are missing; only the .py files matter:
    #  git --git-dir ... ls-tree -r --name-only COMMIT | grep '\\.py$' and `git show COMMIT:PATH`)

    python benchmarks/precision.py SNAP                 # score the held-out half
    python benchmarks/precision.py SNAP --half tune
    python benchmarks/precision.py SNAP --propose-injections --half heldout   # candidates, printed as JSON

Scoring: every reported finding of a repository is looked up in the manifest
(path, line, code); ``tp``/``fp`` entries count as such, findings with no
entry are listed as unlabeled (and counted as false positives: a finding no
one checked is not a true one). Precision = tp / (tp + fp + unlabeled);
natural recall = tp / (tp + fn). An injection counts as caught when, on a
copy of the repository with only that change, the expected code is reported
at a place (file and line) it was not reported at before -- in that file, or
in another one: a bug injected into a helper is reported where the helper is
called with the model in the wrong mode."""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "precision_manifest.json")
SOURCE_CODES = "BN203,BN401,BN402,BN403,BN404"


def run_bnlint(tree: str) -> set[tuple[str, int, str]]:
    out = subprocess.run(
        [sys.executable, "-m", "bnlint", "check", "--static", "--exit-zero", "--format", "json",
         "--select", SOURCE_CODES, "."],
        cwd=tree, capture_output=True, text=True,
    )
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"bnlint failed on {tree}:\n{out.stderr[-2000:]}")
    return {(f["path"].replace(os.sep, "/"), f["line"], f["code"]) for f in data["findings"] if f["code"] != "BN001"}


def tree_of(snapshots: str, repo: str) -> str:
    path = os.path.join(snapshots, repo.replace("/", "+"))
    if not os.path.isdir(path):
        raise SystemExit(f"no snapshot of {repo} under {snapshots} (see this script's docstring)")
    return path


# -- injections ------------------------------------------------------------------------
_MODE_LINE = re.compile(r"^(\s*)([A-Za-z_][\w.]*)\.(eval|train)\(\)\s*(#.*)?$")


def mutate(lines: list[str], line: int, kind: str) -> list[str] | None:
    """The file's lines with one injected bug at ``line`` (1-based), or None."""
    m = _MODE_LINE.match(lines[line - 1])
    if m is None:
        return None
    indent, key, method = m.group(1), m.group(2), m.group(3)
    out = list(lines)
    if kind == "delete_eval" and method == "eval" or kind == "delete_train" and method == "train":
        out[line - 1] = f"{indent}pass\n"
    elif kind == "export_before_eval" and method == "eval":
        out.insert(line - 1, f"{indent}__bnlint_traced = torch.jit.trace({key}, None)\n")
    elif kind == "add_freeze" and method == "train":
        out.insert(line - 1, f"{indent}for _p in {key}.parameters():\n{indent}    _p.requires_grad = False\n")
    else:
        return None
    return out


def parses(text: str) -> bool:
    """Valid Python 3 for the running interpreter: an injection into a file
    that is not (Python 2's `print x`, `async=True`) is out of scope --
    bnlint reports BN001 "cannot parse" there, and no rule can look inside."""
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def caught(snapshots: str, entry: dict, before: dict, in_file: bool = False) -> bool:
    src = tree_of(snapshots, entry["repo"])
    if entry["repo"] not in before:
        before[entry["repo"]] = run_bnlint(src)
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "repo")
        shutil.copytree(src, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))  # links as links: a dangling one is no error
        target = os.path.join(copy, entry["path"])
        with open(target, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
        new = mutate(lines, entry["line"], entry["inject"])
        if new is None:
            raise SystemExit(f"cannot inject {entry['inject']} at {entry['repo']} {entry['path']}:{entry['line']}")
        with open(target, "w", encoding="utf-8") as fh:
            fh.writelines(new)
        after = run_bnlint(copy)
    old = {(p, ln, c) for p, ln, c in before[entry["repo"]]}
    # anywhere in the repository: a bug injected into a helper is reported at its call in
    # the caller's file (`train_teacher.py:130` for a freeze added in `helper/loops.py`)
    return any(c == entry["code"] and (p, ln, c) not in old and (p == entry["path"] or not in_file)
               for p, ln, c in after)


def _text(snapshots: str, entry: dict) -> str:
    with open(os.path.join(tree_of(snapshots, entry["repo"]), entry["path"]), encoding="utf-8", errors="replace") as fh:
        return fh.read()


def propose(snapshots: str, repos: list[str], commits: dict, per_repo: int = 4) -> list[dict]:
    """Injection sites, chosen by rule (not by hand): ``X.eval()`` lines
    followed within 15 lines by a no_grad/inference_mode block or a loop
    (an inference follows), ``X.train()`` lines in a file that also calls
    ``X.eval()`` and runs a backward and has no other ``X.train()`` (a
    training loop that evaluates, with nothing else to restore the mode); the
    first ``per_repo`` of each kind per repository, in path order."""
    found = []
    for repo in repos:
        tree = tree_of(snapshots, repo)
        counts: dict[str, int] = {}
        for root, dirs, files in sorted(os.walk(tree)):
            dirs.sort()
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                path = os.path.join(root, name)
                rel = os.path.relpath(path, tree).replace(os.sep, "/")
                with open(path, encoding="utf-8", errors="replace") as fh:
                    lines = fh.readlines()
                text = "".join(lines)
                if "import torch" not in text and "from torch" not in text or not parses(text):
                    continue
                for i, line in enumerate(lines, 1):
                    m = _MODE_LINE.match(line)
                    if m is None:
                        continue
                    key, method = m.group(2), m.group(3)
                    if method == "eval":
                        after = "".join(lines[i:i + 15])
                        if not re.search(r"no_grad|inference_mode|\bfor\b", after):
                            continue
                        kinds = [("delete_eval", "BN402"), ("export_before_eval", "BN404")]
                    else:
                        # the only train() of that model in a file that evaluates and trains it:
                        # deleting it leaves nothing to switch back after the eval()
                        if f"{key}.eval()" not in text or ".backward(" not in text or text.count(f"{key}.train()") != 1:
                            continue
                        kinds = [("delete_train", "BN403"), ("add_freeze", "BN401")]
                    for kind, code in kinds:
                        if counts.get(kind, 0) >= per_repo:
                            continue
                        counts[kind] = counts.get(kind, 0) + 1
                        found.append({"repo": repo, "commit": commits.get(repo, ""), "path": rel, "line": i,
                                      "inject": kind, "code": code})
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("snapshots", help="directory with one source tree per repository, named owner+name")
    ap.add_argument("--manifest", default=MANIFEST)
    ap.add_argument("--half", default="heldout", choices=("heldout", "tune", "all"))
    ap.add_argument("--propose-injections", action="store_true")
    ap.add_argument("--no-injections", action="store_true", help="score the natural findings only")
    ap.add_argument("--caught-in-file", action="store_true",
                    help="count an injection caught only when reported in the file it was injected into "
                         "(the convention before cross-file reports)")
    args = ap.parse_args(argv)
    with open(args.manifest) as fh:
        manifest = json.load(fh)
    repos = [r for r, half in manifest["split"].items() if args.half in ("all", half)]
    repos = [r for r in repos if r not in manifest.get("unavailable", {})]
    if args.propose_injections:
        print(json.dumps(propose(args.snapshots, repos, manifest["commits"]), indent=1))
        return 0
    labels = {(e["repo"], e["path"], e["line"], e["code"]): e["label"] for e in manifest["natural"]}
    tp = fp = fn = 0
    unlabeled = []
    before: dict = {}
    for repo in repos:
        found = before[repo] = run_bnlint(tree_of(args.snapshots, repo))
        for path, line, code in sorted(found):
            label = labels.get((repo, path, line, code))
            if label == "tp" or label == "fn":  # a miss now caught counts as a true positive
                tp += 1
            elif label == "fp":
                fp += 1
            else:
                unlabeled.append((repo, path, line, code))
        for (r, path, line, code), label in labels.items():
            if r == repo and label in ("tp", "fn") and (path, line, code) not in found:
                fn += 1
    reported = tp + fp + len(unlabeled)
    result = {
        "half": args.half, "repositories": len(repos), "reported": reported, "tp": tp, "fp": fp,
        "unlabeled": [" ".join(map(str, u)) for u in unlabeled], "fn": fn,
        "precision": round(tp / reported, 3) if reported else None,
        "natural_recall": round(tp / (tp + fn), 3) if tp + fn else None,
    }
    if not args.no_injections:
        injected = [e for e in manifest["injected"] if e["repo"] in repos and "not_a_bug" not in e]
        result["injected_not_bugs"] = sum(1 for e in manifest["injected"] if e["repo"] in repos and "not_a_bug" in e)
        readable = [e for e in injected if parses(_text(args.snapshots, e))]
        result["injected_unparseable"] = len(injected) - len(readable)
        injected = readable
        by_code: dict[str, list[int]] = {}
        missed = []
        for e in injected:
            ok = caught(args.snapshots, e, before, args.caught_in_file)
            by_code.setdefault(e["inject"], [0, 0])
            by_code[e["inject"]][0] += ok
            by_code[e["inject"]][1] += 1
            if not ok:
                missed.append(f"{e['inject']} {e['repo']} {e['path']}:{e['line']}")
        total = sum(n for _, n in by_code.values())
        result["injected"] = {k: f"{c}/{n}" for k, (c, n) in sorted(by_code.items())}
        result["injected_recall"] = round(sum(c for c, _ in by_code.values()) / total, 3) if total else None
        result["injected_missed"] = missed
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
