"""Run a command once in a child process; print its wall time and the peak RSS
of everything it started (the process tree), as JSON. Used by the benchmarks
so each measurement is isolated."""

import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "wall_s": wall, "peak_rss_mb": peak_kb / 1024, "stderr": proc.stderr[-500:]}))
