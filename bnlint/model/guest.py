"""User code runs as a guest: while the child imports a user's file and
builds and traces its models, a PEP 578 audit hook refuses what could touch
anything of the user's -- writes, deletes, renames and permission changes
outside a scratch directory, new processes, network connections -- and
records each refusal with the user's line that asked for it.

This keeps an honest file from changing the user's files when bnlint
imports it (``LOG = open("train.log", "w")`` at module level would otherwise
empty the log). It is not a security sandbox: code that means harm can reach
the OS without the audited APIs (ctypes, a C extension), and the hook sees
only what CPython reports. Nothing here is active outside :func:`guest`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Iterator

from bnlint.findings import Location, display_path
from bnlint.model.sites import user_line


class RefusedAction(PermissionError):
    """What the audit hook raises in place of a refused action."""

    def __init__(self, action: str, where: Location | None):
        super().__init__(f"bnlint refused to {action} while checking this file")
        self.action, self.where = action, where


@dataclass(frozen=True)
class Refusal:
    action: str
    where: Location | None

    def describe(self) -> str:
        at = f"{display_path(self.where.path)}:{self.where.line}: " if self.where else ""
        return f"{at}refused to {self.action}"


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {  # event -> (what it does, positions of its path arguments)
    "os.remove": ("delete", (0,)),
    "os.rmdir": ("delete", (0,)),
    "shutil.rmtree": ("delete the tree", (0,)),
    "os.rename": ("rename", (0, 1)),
    "os.link": ("link", (0, 1)),
    "os.symlink": ("link", (0, 1)),
    "os.mkdir": ("create the directory", (0,)),
    "os.chmod": ("change the permissions of", (0,)),
    "os.chown": ("change the owner of", (0,)),
    "os.truncate": ("truncate", (0,)),
    "os.utime": ("touch", (0,)),
}
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn"}
_NETWORK_EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}


class _Policy:
    def __init__(self) -> None:
        self.active = False
        self.scratch = ""
        self.refusals: list[Refusal] = []

    def allowed_path(self, path) -> bool:
        if isinstance(path, int):  # a file descriptor: already open
            return True
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return real == os.devnull or real.startswith(self.scratch + os.sep) or real == self.scratch


_POLICY = _Policy()
_INSTALLED = False
_REDIRECT_TEMP = [True]  # False only for bnlint's own code, in own_code()


def _refuse(action: str) -> None:
    where = user_line(2)  # above _refuse and the audit hook
    _POLICY.refusals.append(Refusal(action, where))
    raise RefusedAction(action, where)


def _hook(event: str, args: tuple) -> None:
    if not _POLICY.active:
        return
    if event == "open":
        path, mode, flags = (args + (None, None, None))[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writes and path is not None and not _POLICY.allowed_path(path):
            _refuse(f"open {os.fsdecode(path)!r} for writing")
    elif event in _PATH_EVENTS:
        what, positions = _PATH_EVENTS[event]
        for i in positions:
            if i < len(args) and args[i] is not None and not _POLICY.allowed_path(args[i]):
                _refuse(f"{what} {os.fsdecode(args[i])!r}")
    elif event in _PROCESS_EVENTS:
        _refuse("start a process" if event != "os.fork" else "fork")
    elif event in _NETWORK_EVENTS:
        address = args[1] if len(args) > 1 else "?"
        _refuse(f"open a network connection ({address})")


@contextlib.contextmanager
def guest() -> Iterator[list[Refusal]]:
    """Run user code under the policy; yields the list its refusals go to.
    The scratch directory (also ``TMPDIR`` and :mod:`tempfile`'s default) is
    removed afterwards. Byte-code is not written next to the user's files.
    The environment variables are restored afterwards: what the user's code
    (or torch, on a first import: ``TORCHINDUCTOR_CACHE_DIR`` under the
    scratch) sets is not left in the process that asked for the check."""
    global _INSTALLED
    if not _INSTALLED:
        sys.addaudithook(_hook)  # permanent (PEP 578); inert outside `guest()`
        _INSTALLED = True
    scratch = tempfile.mkdtemp(prefix="bnlint-scratch-")
    saved = (_POLICY.active, _POLICY.scratch, _POLICY.refusals, tempfile.tempdir, sys.dont_write_bytecode)
    environ = dict(os.environ)
    _POLICY.active, _POLICY.scratch, _POLICY.refusals = True, os.path.realpath(scratch), []
    if _REDIRECT_TEMP[-1]:
        tempfile.tempdir, os.environ["TMPDIR"] = scratch, scratch
    sys.dont_write_bytecode = True
    try:
        yield _POLICY.refusals
    finally:
        _POLICY.active = False
        _, _, _, tempfile.tempdir, sys.dont_write_bytecode = saved
        if os.environ != environ:
            os.environ.clear()
            os.environ.update(environ)
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
        _POLICY.active, _POLICY.scratch = saved[0], saved[1]
        _POLICY.refusals = saved[2]


@contextlib.contextmanager
def own_code() -> Iterator[None]:
    """bnlint's own code run through the guest path (the fork server's
    warm-up, :mod:`bnlint.model.warmup`): the policy still applies, but the
    temporary directory is not redirected to the scratch, which is removed
    afterwards -- a module imported for the first time in the block (torch
    imports some on a first shape run) may keep the path it saw, and the
    children forked later would be refused writing there."""
    _REDIRECT_TEMP.append(False)
    try:
        yield
    finally:
        _REDIRECT_TEMP.pop()


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """bnlint's own actions inside :func:`guest` (writing the artifact the
    user asked for): the policy is off for the block, and only for it."""
    saved = _POLICY.active
    _POLICY.active = False
    try:
        yield
    finally:
        _POLICY.active = saved
