"""The process manager (the parent's side of the model analysis): run
:mod:`bnlint.model.worker` in a child process, send it one file at a time,
and turn time-outs and deaths into BN001 findings. Torch-free: torch and the
user's code are only ever imported in the child.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Iterator, Protocol, Sequence

from bnlint.engine.registry import get_rule
from bnlint.findings import FileResult, Finding, UsageError
from bnlint.inputs import InputSpec

DEFAULT_TIMEOUT = 60.0
WORKER_START_TIMEOUT = 180.0


def require_torch() -> None:
    """The model analysis runs on the torch of this environment (the one the
    user's models import); without one, say in one line how to get it."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise UsageError(
            f"the model analysis needs torch, which is not installed for {sys.executable}: "
            "pip install 'bnlint[torch]' (or your own torch build), or pass --static to read "
            "files as source only"
        )


class Job(Protocol):
    """A file to analyze (:class:`bnlint.discover.paths.Target` is one)."""

    path: str
    names: list[str] | None


class WorkerDied(Exception):
    pass


# `python -m` / `-c` put the working directory first on sys.path, so a user's
# `struct.py`, `random.py` or `inspect.py` next to where they run bnlint would
# shadow the standard library while torch imports. Move it to the end: the
# user's own imports from there still resolve, after the stdlib's.
_WORKER_BOOT = "import sys; sys.path.append(sys.path.pop(0)); from {module} import main; main()"


class Worker:
    """One child process serving jobs (:func:`bnlint.model.worker.serve`):
    the model analysis by default, reused across files; ``entry`` names
    another module whose ``main()`` serves the same protocol."""

    def __init__(self, entry: str = "bnlint.model.worker") -> None:
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT.format(module=entry)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
            env=env,
        )
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.stage = "starting"
        self._expect("ready", WORKER_START_TIMEOUT)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _expect(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(self.stage)
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError(self.stage) from None
            if line is None:
                raise WorkerDied(self._death())
            msg = json.loads(line)
            if msg["event"] == "stage":
                self.stage = msg["stage"]
            elif msg["event"] == event:
                return msg

    def _death(self) -> str:
        code = self.proc.wait()
        self.stderr.seek(0)
        tail = [l for l in self.stderr.read().decode("utf-8", "replace").splitlines() if l.strip()]
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        last = f": {tail[-1].strip()[:200]}" if tail else ""
        return f"the analysis process died ({how}) while {self.stage}{last}"

    def run(self, job: dict, timeout: float) -> dict:
        assert self.proc.stdin is not None
        self.stage = "importing"
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise WorkerDied(self._death()) from None
        return self._expect("result", timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr.close()


def _bn001(path: str, message: str, line: int = 1, col: int = 1) -> Finding:
    rule = get_rule("BN001")
    assert rule is not None
    return rule.make(message, path=path, line=line, col=col)


def analyze_models(
    jobs: Sequence[Job],
    rule_codes: list[str],
    *,
    inputs: "InputSpec | None" = None,
    batch_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_file: Callable[[str], None] = lambda path: None,
) -> Iterator[FileResult]:
    """Analyze each target in a child process; one outcome per file."""
    if jobs:
        require_torch()
    worker: Worker | None = None
    try:
        for target in jobs:
            on_file(target.path)
            job = {
                "path": os.path.abspath(target.path),
                "targets": target.names,
                "rules": rule_codes,
                "inputs": inputs.to_json() if inputs else None,
                "batch_size": batch_size,
            }
            try:
                if worker is None:
                    worker = Worker()
                msg = worker.run(job, timeout)
                yield FileResult.from_json(msg)
            except TimeoutError as exc:
                stage = str(exc)
                if worker is not None:
                    worker.close()
                    worker = None
                if stage == "starting":
                    raise UsageError(
                        "the analysis process did not start in time "
                        f"({WORKER_START_TIMEOUT:.0f} s): is torch importable?"
                    ) from None
                res = FileResult(target.path)
                res.findings.append(_bn001(target.path, f"timed out after {timeout:g} s while {stage}"))
                yield res
            except WorkerDied as exc:
                if worker is not None:
                    worker.close()
                    worker = None
                res = FileResult(target.path)
                res.findings.append(_bn001(target.path, str(exc)))
                yield res
    finally:
        if worker is not None:
            worker.close()
