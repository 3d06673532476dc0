"""The fork server: the child side of the parent's process manager
(:mod:`bnlint.model.process`). It has imported torch and bnlint, never user
code, serves jobs from stdin one JSON line at a time, and runs each job in a
forked child of its own. What a job does is the ``handle`` it is given: the
model analysis (:mod:`bnlint.model.worker`) or ``bnlint fold``
(:mod:`bnlint.fix.artifact`)."""

from __future__ import annotations

import io
import json
import os
import sys
import time
import traceback
import warnings
from typing import Any, Callable, Sequence


def serve(
    handle: Callable[[dict, Callable[[str], None]], dict],
    warm_ups: dict[str, Callable[[], None]] | None = None,
    fork: bool = hasattr(os, "fork"),
    warm_now: Sequence[str] = (),
) -> None:
    """The child's protocol: jobs on stdin, one JSON object a line; for each,
    ``stage`` events and one ``result``, on the original stdout, which user
    code cannot reach (its prints go to stderr). ``handle(job, progress)``
    returns the result's payload; an exception in it is an internal error.
    A payload's ``warm`` list names entries of ``warm_ups``: what that child
    had to load, loaded once here for the children after it; ``warm_now``
    names the ones to load from the start, in a thread, while the first job
    runs (the next child is forked once they are loaded).

    This process is a fork server: it has imported torch and bnlint, never
    user code, and runs each job in a forked child of its own (where
    ``os.fork`` exists), so that no module, monkeypatch or global of one file
    is seen by another and torch is imported once. A spare child is forked
    ahead of each job, while the previous one runs. The child's time limit
    (the job's ``timeout``), crash or signal is reported as the job's result;
    this process lives on. With ``fork=False`` the jobs run in this process,
    one after another, and share its modules."""
    warm_ups = dict(warm_ups or {})
    warnings.simplefilter("ignore")
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    jobs = sys.stdin
    sys.stdin = io.StringIO()

    def send(obj: dict[str, Any]) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    spare = _Spare(handle) if fork else None
    now = [warm_ups.pop(name) for name in dict.fromkeys(warm_now) if name in warm_ups]
    warming = _Warming(now) if now and fork else None
    for load in now if warming is None else ():
        load()
    send({"event": "ready"})
    for line in jobs:
        job = json.loads(line)
        if spare is not None:
            child, spare = spare, None
            child.start(job)
            if warming is None:
                spare = _Spare(handle)  # forked now, while `child` runs
            payload = child.wait(job.get("timeout"), send)
            wanted = [w for w in payload.pop("warm", ()) if w in warm_ups]
            send({"event": "result", **payload})
            if warming is not None:  # no fork while a thread imports: the child could inherit its locks
                warming.join()
                warming = None
            if wanted:  # the machinery this child loaded: load it here (after its result), for the next ones
                if spare is not None:
                    spare.discard()
                    spare = None
                for name in wanted:
                    warm_ups.pop(name)()
            if spare is None:
                spare = _Spare(handle)
        else:  # without fork, the parent starts a fresh process per job (see process.py)
            send({"event": "result", **_run_job(handle, job, lambda stage: send({"event": "stage", "stage": stage}))})
    if warming is not None:
        warming.join()
    if spare is not None:
        spare.discard()


class _Warming:
    """Warm-ups loading in a thread of the server while its first child runs
    (on another core): the server's main thread only waits on pipes, so it
    relays the child's events and result at once."""

    def __init__(self, loads: list[Callable[[], None]]) -> None:
        import threading

        def run() -> None:
            for load in loads:
                try:
                    load()
                except Exception:  # noqa: BLE001 -- a warm-up only saves time; its failure costs none
                    pass

        self.thread = threading.Thread(target=run, name="bnlint-warm-up", daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join()


def _run_job(handle, job: dict, progress: Callable[[str], None]) -> dict:
    try:
        return handle(job, progress)
    except BaseException as exc:  # noqa: BLE001 -- report, never die silently
        return {"internal_errors": ["".join(traceback.format_exception(exc)).rstrip()]}


class _Spare:
    """A child forked ahead of its job: it waits for one JSON job on a pipe,
    runs it, writes its stage events and result to another pipe, and exits."""

    def __init__(self, handle) -> None:
        import gc

        job_r, self.job_w = os.pipe()
        self.events_r, events_w = os.pipe()
        gc.freeze()  # the server's objects stay out of the child's collections: fewer copied pages
        self.pid = os.fork()
        if self.pid == 0:  # the child
            os.close(self.job_w)
            os.close(self.events_r)
            try:
                with os.fdopen(job_r, encoding="utf-8") as jobs:
                    line = jobs.readline()
                if line:
                    out = os.fdopen(events_w, "w", buffering=1, encoding="utf-8")

                    def progress(stage: str) -> None:
                        out.write(json.dumps({"event": "stage", "stage": stage}) + "\n")

                    payload = _run_job(handle, json.loads(line), progress)
                    out.write(json.dumps({"event": "result", **payload}) + "\n")
                    out.flush()
            finally:
                os._exit(0)  # no atexit handlers, no flushing of the user's buffers
        os.close(job_r)
        os.close(events_w)

    def start(self, job: dict) -> None:
        with os.fdopen(self.job_w, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(job) + "\n")

    def discard(self) -> None:
        os.close(self.job_w)  # EOF: the spare exits without a job
        os.close(self.events_r)
        os.waitpid(self.pid, 0)

    def wait(self, timeout: float | None, send: Callable[[dict], None]) -> dict:
        """Relay the child's stage events; its result, or what ended it. The
        result is returned as soon as it arrives: the child's exit (the
        kernel tearing its copy of the server down) is reaped later, in
        :func:`_reap`, while the next job runs."""
        import select
        import signal

        stage, buffer = "importing", b""
        deadline = time.monotonic() + timeout if timeout else None
        try:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    return {"timed_out": stage}
                ready, _, _ = select.select([self.events_r], [], [], remaining)
                if not ready:
                    continue
                chunk = os.read(self.events_r, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    msg = json.loads(raw)
                    if msg["event"] == "stage":
                        stage = msg["stage"]
                        send(msg)
                    else:
                        _EXITING.append(self.pid)
                        return {k: v for k, v in msg.items() if k != "event"}
            _, status = os.waitpid(self.pid, 0)
        finally:
            os.close(self.events_r)
            _reap()
        code = os.waitstatus_to_exitcode(status)
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return {"died": f"the analysis process died ({how}) while {stage}{_stderr_tail()}"}


_EXITING: list[int] = []  # children that sent their result and are exiting


def _reap() -> None:
    """Collect the children that have finished exiting (never blocks)."""
    for pid in list(_EXITING):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _EXITING.remove(pid)


def _stderr_tail() -> str:
    """The last line the user's code (or the interpreter) wrote to stderr."""
    try:
        size = os.fstat(2).st_size
        tail = os.pread(2, min(size, 4096), max(0, size - 4096)).decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [l for l in tail.splitlines() if l.strip()]
    return f": {lines[-1].strip()[:200]}" if lines else ""
