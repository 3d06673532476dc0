"""The isolation benchmark's baseline: ``bnlint check`` as it ran before each
file got a fresh child -- the same command, the same parent, one analysis
process that imports every file in turn, modules cached between files.

    python benchmarks/_shared_process.py check DIR [options]   # as `bnlint check`

Run as the server's entry (``main``), it serves the jobs in its own process
(``serve(..., fork=False)``) instead of forking a child per file."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:  # the server: what bnlint.model.worker.main does, without the fork
    from bnlint.model import worker

    worker.main(fork=False)


if __name__ == "__main__":
    from bnlint.cli import main as cli
    from bnlint.model import process

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")]))
    process._Server.entry = "_shared_process"
    sys.argv[0] = "bnlint"
    cli()
