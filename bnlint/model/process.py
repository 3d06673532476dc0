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


def _huge_pages(env: dict[str, str]) -> dict[str, str]:
    """The server forks a child per file, and on Linux a fork copies the page
    tables of the ~140 MB torch leaves on the heap, and the child's exit
    tears them down again. glibc (2.35 and later) backs its heap with
    transparent huge pages when asked: a 2 MB page is one entry where 4 KB
    pages are 512, and fork plus exit costs about half (``benchmarks/
    isolation.py``). A tunable the user set wins; other libcs ignore it."""
    if not sys.platform.startswith("linux"):
        return {}
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables:
        return {}
    return {"GLIBC_TUNABLES": ":".join(filter(None, [tunables, "glibc.malloc.hugetlb=1"]))}


class Worker:
    """One child process serving jobs (:func:`bnlint.model.server.serve`):
    the model analysis by default, reused across files; ``entry`` names
    another module whose ``main()`` serves the same protocol."""

    def __init__(self, entry: str = "bnlint.model.worker", warm: Sequence[str] = ()) -> None:
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore")
        env.update(_huge_pages(env))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT.format(module=entry), *warm],  # its sys.argv[1:]
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


# Beyond the job's own time limit (enforced in the fork server), how long the
# parent waits before it declares the server itself hung.
_SERVER_GRACE = 30.0


def default_jobs() -> int:
    """Parallel analyses by default: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class ModelAnalysis:
    """The model side of one run: up to ``parallel`` fork servers, started in
    the background as soon as the first file to import is known (torch's
    import then overlaps the parent's own work), each analyzing one file at
    a time, each file in a fresh child. Use as a context manager.

    ``warm`` names what the servers load before their first file rather than
    after the first child needed it (:data:`bnlint.model.worker.WARM_UPS`):
    ``"shapes"`` when the run has example inputs, so that no child pays for
    torch's meta-kernel machinery (about a second) and the servers load it
    while the parent reads the files."""

    def __init__(self, parallel: int = 1, warm: Sequence[str] = ()) -> None:
        self.parallel = max(1, parallel)
        self.warm = tuple(warm)
        self._pool = None
        self._starting: list = []

    def start(self, n: int | None = None) -> None:
        """Have ``n`` servers (at most ``parallel``) running or starting, in
        the background."""
        import concurrent.futures

        n = min(self.parallel, n or self.parallel)
        if len(self._starting) >= n:
            return
        if self._pool is None:
            require_torch()
            self._pool = concurrent.futures.ThreadPoolExecutor(self.parallel)
        self._starting += [self._pool.submit(_Server.started, self.warm) for _ in range(n - len(self._starting))]

    def run(
        self,
        jobs: Sequence[Job],
        rule_codes: list[str],
        *,
        inputs: "InputSpec | None" = None,
        batch_size: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_file: Callable[[str], None] = lambda path: None,
    ) -> Iterator[FileResult]:
        """One outcome per file, in the order of ``jobs``."""
        if not jobs:
            return
        self.start(len(jobs))
        payloads = [
            {
                "path": os.path.abspath(t.path),
                "targets": t.names,
                "rules": rule_codes,
                "inputs": inputs.to_json() if inputs else None,
                "batch_size": batch_size,
                "timeout": timeout,
            }
            for t in jobs
        ]
        servers: "queue.Queue[_Server]" = queue.Queue()
        lock = threading.Lock()
        for future in self._starting:
            servers.put(future.result())

        def work(index: int) -> FileResult:
            server = servers.get()
            try:
                with lock:
                    on_file(jobs[index].path)
                return server.analyze(payloads[index], timeout)
            finally:
                servers.put(server)

        futures = [self._pool.submit(work, i) for i in range(len(jobs))]
        for future in futures:
            yield future.result()

    def close(self) -> None:
        if self._pool is None:
            return
        for future in self._starting:
            try:
                future.result().close()
            except Exception:  # noqa: BLE001 -- a server that never started has nothing to close
                pass
        self._pool.shutdown(wait=True)
        self._pool = None

    def __enter__(self) -> "ModelAnalysis":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def analyze_models(
    jobs: Sequence[Job],
    rule_codes: list[str],
    *,
    parallel: int = 1,
    **options,
) -> Iterator[FileResult]:
    """Analyze each target as if it were checked alone (see :class:`ModelAnalysis`)."""
    with ModelAnalysis(parallel) as session:
        yield from session.run(jobs, rule_codes, **options)


class _Server:
    """One fork server, restarted when it dies or hangs."""

    entry = "bnlint.model.worker"  # the module whose main() it runs

    def __init__(self, warm: Sequence[str] = ()) -> None:
        self.worker: Worker | None = None
        self.warm = tuple(warm)
        self.fresh_per_job = not hasattr(os, "fork")  # no fork: a fresh process per file

    @classmethod
    def started(cls, warm: Sequence[str] = ()) -> "_Server":
        server = cls(warm)
        try:
            server.worker = Worker(cls.entry, server.warm)
        except (TimeoutError, WorkerDied):
            server.worker = None  # analyze() starts it again and reports what fails
        return server

    def analyze(self, job: dict, timeout: float) -> FileResult:
        path = job["path"]
        try:
            if self.worker is None:
                self.worker = Worker(self.entry, self.warm)
            msg = self.worker.run(job, timeout + _SERVER_GRACE)
        except TimeoutError as exc:
            self.close()
            if str(exc) == "starting":
                raise UsageError(
                    "the analysis process did not start in time "
                    f"({WORKER_START_TIMEOUT:.0f} s): is torch importable?"
                ) from None
            msg = {"timed_out": str(exc)}
        except WorkerDied as exc:
            self.close()
            msg = {"died": str(exc)}
        if self.fresh_per_job:
            self.close()
        if "timed_out" in msg:
            res = FileResult(path)
            res.findings.append(_bn001(path, f"timed out after {timeout:g} s while {msg['timed_out']}"))
            return res
        if "died" in msg:
            res = FileResult(path)
            res.findings.append(_bn001(path, msg["died"]))
            return res
        if "path" not in msg:  # the server's own failure, reported as an internal error
            return FileResult(path, internal_errors=msg.get("internal_errors", ["no result"]))
        return FileResult.from_json(msg)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
