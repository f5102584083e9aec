"""What a forked child does: set itself up, wait for its one run, run it, send the result, exit.

Everything here runs in the child only, between ``os.fork()`` and ``os._exit()``. It never touches the
parent's event loop, and it closes every inherited file descriptor except its pipes, so user code cannot
reach the parent's NATS connection or another run's pipes.
"""

from __future__ import annotations

import ctypes
import errno
import io
import json
import os
import resource
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appyard.errors import ContextInvalid, NotFound, PropertiesInvalid, StateInvalid
from appyard.execution import user_traceback
from appyard.runs import ErrorKind

Handler = Callable[[dict[str, Any]], dict[str, Any]]

OUTPUT_FD = 1
PROGRESS_FD = 3
RESULT_FD = 4
REQUEST_FD = 5


def _keep_only(output: int, progress: int, result: int, request: int) -> None:
    """Pipes become fds 1 and 2 (output), 3 (progress), 4 (result), 5 (request); stdin is /dev/null."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    # Copy the pipes above every target number first, so dup2 never overwrites one still needed.
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in (output, progress, result, request, devnull)]
    os.dup2(high[4], 0)
    os.dup2(high[0], OUTPUT_FD)
    os.dup2(high[0], 2)
    os.dup2(high[1], PROGRESS_FD)
    os.dup2(high[2], RESULT_FD)
    os.dup2(high[3], REQUEST_FD)
    os.closerange(REQUEST_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    for fd in (0, 1, 2, PROGRESS_FD):
        os.set_inheritable(fd, True)  # subprocesses of the user's code print into the same pipe
    for fd in (RESULT_FD, REQUEST_FD):
        os.set_inheritable(fd, False)  # the result pipe must reach EOF when this process is done


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded in the zygote, before it forks
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_CAPABILITY_VERSION_3 = 0x20080522
# Resolved in the zygote once, not in every child (each lookup and first call costs a child page faults).
_prctl = _LIBC.prctl
_capset = _LIBC.capset


def _bounding_set() -> list[int]:
    """The capabilities in this process's bounding set; a child forked later holds no other (it only shrinks)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return [number for number in range(64) if mask >> number & 1]
    return list(range(64))  # not reported: try them all, as before


_BOUNDING = _bounding_set()


def _drop_capabilities() -> None:
    """A run keeps no capability, even when the runner runs as root (a container started without a user).

    Without CAP_SYS_PTRACE, the runner's /proc/<pid>/environ and memory are closed to the run (the runner is
    non-dumpable); without the bounding set, running a program cannot bring capabilities back; no_new_privs
    makes set-user-ID programs run without their privileges. Unprivileged runners (the restricted pod) have
    none to drop, and these calls change nothing. Only what the bounding set holds is dropped from it (read
    at import, in the zygote): 41 calls as root, none in a pod that dropped every capability.
    """
    for capability in _BOUNDING:
        if _prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:
            break  # past the last capability this kernel knows (EPERM: not ours to drop, and not held)
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    nothing = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: none (two 32-bit words each)
    if _capset(header, nothing) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    if _prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _limit(memory_mb: int, cpu_seconds: int) -> None:
    # os.read, not open(): a text file object touches more of the zygote's memory (~0.2 ms of page faults).
    statm = os.open("/proc/self/statm", os.O_RDONLY)
    try:
        mapped = int(os.read(statm, 256).split()[0]) * _PAGE_SIZE
    finally:
        os.close(statm)
    extra = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mapped + extra, mapped + extra))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _warm_up(pages: Callable[[], None]) -> None:
    # Touch what every run touches (JSON, the pages' models) while still idle: the copy-on-write page faults
    # this causes would otherwise be paid after the request arrives.
    json.loads(json.dumps({"warm": [1, 2.5, "x", None, True]}))
    json.dumps(_error("exception", "warm"))
    pages()


def _error(kind: ErrorKind, message: str, trace: str | None = None) -> dict[str, Any]:
    return {"error": {"kind": kind, "message": message, "traceback": trace}}


def _classify(error: BaseException, frames_root: Path | None, memory_mb: int) -> dict[str, Any]:
    if isinstance(error, MemoryError) or isinstance(error.__cause__, MemoryError):
        return _error("memory", f"the run used more than the app's memory limit of {memory_mb} MiB")
    if isinstance(error, StateInvalid):
        return _error("invalid_state", str(error))
    if isinstance(error, ContextInvalid):
        return _error("invalid_context", str(error))
    if isinstance(error, (NotFound, PropertiesInvalid)):
        return _error("not_found", str(error))
    cause = error.__cause__ if error.__cause__ is not None else error
    trace = user_traceback(cause, frames_root) if frames_root else "".join(traceback.format_exception(cause))
    return _error("exception", f"{type(cause).__name__}: {cause}", trace)


def _read_request() -> dict[str, Any]:
    chunks = []
    while chunk := os.read(REQUEST_FD, 1 << 20):
        chunks.append(chunk)
    os.close(REQUEST_FD)
    request: dict[str, Any] = json.loads(b"".join(chunks))
    return request


def _send(payload: dict[str, Any]) -> None:
    try:
        data = json.dumps(payload, separators=(",", ":"), default=str).encode()
    except (TypeError, ValueError) as error:
        data = json.dumps(_error("invalid_context", f"the result is not JSON: {error}")).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(RESULT_FD, view) :]
    os.close(RESULT_FD)  # EOF tells the parent the result is complete, before this process has exited


def serve_one(
    handler: Handler,
    warm_up: Callable[[], None],
    pipes: tuple[int, int, int, int],
    workdir: Path,
    memory_mb: int,
    cpu_seconds: int,
    frames_root: Path | None,
) -> None:
    """Set up the child, wait for its request, handle it, send the result; never returns."""
    status = 0
    try:
        os.setsid()
        _keep_only(*pipes)
        sys.stdout = io.TextIOWrapper(io.FileIO(OUTPUT_FD, "w", closefd=False), line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
        os.chdir(workdir)
        os.environ["TMPDIR"] = str(workdir)
        os.environ["APPYARD_PROGRESS_FD"] = str(PROGRESS_FD)
        tempfile.tempdir = str(workdir)
        _limit(memory_mb, cpu_seconds)
        _drop_capabilities()
        _warm_up(warm_up)
        request = _read_request()  # an idle child waits here until the parent hands it a run
        try:
            payload: dict[str, Any] = {"value": handler(request)}
        except BaseException as error:  # everything the user's code can raise, including SystemExit
            payload = _classify(error, frames_root, memory_mb)
        sys.stdout.flush()
        sys.stderr.flush()
        _send(payload)
    except BaseException:  # a broken setup must never fall back into the parent's code
        status = 70
    finally:
        os._exit(status)
