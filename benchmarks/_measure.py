"""Measure commands in isolated child processes.

Run as a script, it runs one command and prints its wall time and the peak RSS
of everything it started (the process tree) as JSON; :func:`measure` runs that
``repeat`` times in fresh processes and keeps the median wall time and the
largest peak RSS."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)


def measure(cmd: list[str], repeat: int, cwd: str | None = None, ok=(0, 1)) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, HERE, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    bad = [r for r in runs if r["rc"] not in ok]
    if bad:
        raise SystemExit(f"benchmark command failed (exit {bad[0]['rc']}): {' '.join(cmd)}\n{bad[0]['stderr']}")
    return {
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "stdout": runs[-1]["stdout"],
    }


if __name__ == "__main__":
    start = time.perf_counter()
    proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({
        "rc": proc.returncode, "wall_s": wall, "peak_rss_mb": peak_kb / 1024,
        "stderr": proc.stderr[-500:], "stdout": proc.stdout,
    }))
