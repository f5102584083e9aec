"""What a forked child does: set itself up, wait for a run, run it, send the result; exit, or wait again (warm).

Everything here runs in the child only, between ``os.fork()`` and ``os._exit()``. It never touches the
parent's event loop, and it closes every inherited file descriptor except its pipes, so user code cannot
reach the parent's NATS connection or another run's pipes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import json
import math
import os
import resource
import shutil
import signal
import struct
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appyard import progress
from appyard.errors import ContextInvalid, NotFound, PropertiesInvalid, StateInvalid
from appyard.execution import user_traceback
from appyard.runs import ErrorKind

Handler = Callable[[dict[str, Any]], dict[str, Any]]

OUTPUT_FD = 1
PROGRESS_FD = 3
RESULT_FD = 4
REQUEST_FD = 5
# Requests and results: a 4-byte big-endian length, an 8-byte tag, then that much JSON. The runner makes a random
# tag for each run and takes only a result with that tag, so bytes a run writes to the result pipe itself can never
# pass for the result of a later run (a warm child serves many).
FRAME = struct.Struct(">I8s")


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
_PR_SET_CHILD_SUBREAPER = 36
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


@dataclass(frozen=True)
class ChildLimits:
    """The limits of each run, and when a warm child retires (``max_runs`` 1: a fresh child, one run)."""

    memory_mb: int
    cpu_seconds: int
    max_runs: int = 1
    max_growth_mb: int = 64


def _statm() -> tuple[int, int]:
    """(address space, anonymous resident memory) in bytes: cheap, read after every warm run."""
    # os.read, not open(): a text file object touches more of the zygote's memory (~0.2 ms of page faults).
    statm = os.open("/proc/self/statm", os.O_RDONLY)
    try:
        size, resident, shared = (int(field) for field in os.read(statm, 256).split()[:3])
    finally:
        os.close(statm)
    return size * _PAGE, (resident - shared) * _PAGE


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _limit_process(limits: ChildLimits) -> int:
    """Hard limits for the child's life; returns the address-space hard limit. Capabilities are dropped
    afterwards, so a hard limit can only go down: a warm child gets room for ``max_runs`` runs."""
    extra = limits.memory_mb * 1024 * 1024
    address_space = _statm()[0] + extra
    cpu = limits.cpu_seconds
    if limits.max_runs > 1:
        address_space += limits.max_growth_mb * 1024 * 1024
        cpu = (limits.cpu_seconds + 2) * limits.max_runs + 1  # each run's soft limit is rounded up a second
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return address_space


def _limit_run(limits: ChildLimits, hard_address_space: int) -> None:
    """A warm child's next run gets memory_mb more address space than it has now, and cpu_seconds more CPU time
    than it has used: exactly, by a CPU-time timer whose SIGPROF ends the process (the parent reads that as the
    CPU limit); should the run catch SIGPROF or reset the timer, RLIMIT_CPU (whole seconds of the process's
    life, rounded up) still stops it with SIGXCPU, within a second more."""
    extra = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (min(_statm()[0] + extra, hard_address_space), hard_address_space))
    soft = math.ceil(_cpu_used()) + limits.cpu_seconds
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # a handler an earlier run installed would keep it alive
    signal.setitimer(signal.ITIMER_PROF, limits.cpu_seconds)


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _leftovers() -> str | None:
    """Why a warm child cannot serve again because of what the run left running: threads or processes."""
    tasks = os.listdir("/proc/self/task")
    if len(tasks) > 1 or threading.active_count() > 1:
        return "a thread it started is still running"
    with contextlib.suppress(FileNotFoundError), open(f"/proc/self/task/{tasks[0]}/children", encoding="ascii") as f:
        if f.read().strip():
            return "a process it started is still running"
    return None


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


def _read_exactly(size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(REQUEST_FD, min(size, 1 << 20))
        if not chunk:
            return None  # the runner closed the pipe: this child retires
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_request() -> tuple[bytes, dict[str, Any]] | None:
    """The next request's tag and request (see FRAME); None when the runner retires this child."""
    header = _read_exactly(FRAME.size)
    if header is None:
        return None
    size, tag = FRAME.unpack(header)
    body = _read_exactly(size)
    if body is None:
        return None
    request: dict[str, Any] = json.loads(body)
    return tag, request


def _encode(payload: dict[str, Any]) -> tuple[bytes, bool]:
    """The result as JSON, and whether it could be encoded."""
    try:
        return json.dumps(payload, separators=(",", ":"), default=str).encode(), True
    except (TypeError, ValueError) as error:
        return json.dumps(_error("invalid_context", f"the result is not JSON: {error}")).encode(), False


def _send(tag: bytes, data: bytes) -> None:
    view = memoryview(FRAME.pack(len(data), tag) + data)
    while view:
        view = view[os.write(RESULT_FD, view) :]


def _enter(rundir: Path) -> None:
    os.chdir(rundir)
    os.environ["TMPDIR"] = str(rundir)
    tempfile.tempdir = str(rundir)


class _Life:
    """A warm child's runs: each one's folder and limits, and what decides, after each run, that the child retires."""

    def __init__(
        self,
        limits: ChildLimits,
        workdir: Path,
        streams: tuple[io.TextIOWrapper, io.TextIOWrapper],
        hard_address_space: int,
    ) -> None:
        self.limits = limits
        self.workdir = workdir
        self.streams = streams
        self.hard_address_space = hard_address_space
        self.runs = 0
        self.rundir = workdir
        self.size, self.anonymous = _statm()
        self.now = self.anonymous  # anonymous memory after the last run: the runner measures again when it moved
        if _LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            # Orphans of the processes a run started become this child's children, so _leftovers sees them.
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")

    def prepare(self) -> None:
        """Before the next run: an empty folder of its own as working directory and TMPDIR, its limits, clean
        stdio."""
        if self.rundir == self.workdir:  # the previous run left files: they went with its folder
            self.rundir = self.workdir / f"run-{self.runs + 1}"  # in the child's own private folder
            self.rundir.mkdir(mode=0o700)
        _enter(self.rundir)
        sys.stdout, sys.stderr = self.streams  # what the previous run may have replaced
        progress._last = 0.0  # report_progress's rate limit starts again with each run
        _limit_run(self.limits, self.hard_address_space)

    def finish(self, failed: bool) -> str | None:
        """After a run: an empty folder serves the next run too (a new one costs a rmdir and a mkdir, slow on
        some file systems); one the run left files in is removed. Then: why the child retires, if it does."""
        signal.setitimer(signal.ITIMER_PROF, 0)  # the child's own work between runs is no run's
        try:
            with os.scandir(self.rundir) as entries:
                empty = next(entries, None) is None
        except OSError:
            empty = False
        if not empty:
            _enter(self.workdir)
            shutil.rmtree(self.rundir, ignore_errors=True)
            self.rundir = self.workdir
        return self.retire_because(failed)

    def retire_because(self, failed: bool) -> str | None:
        limits = self.limits
        growth = limits.max_growth_mb * 1024 * 1024
        size, anonymous = _statm()
        self.now = anonymous
        if failed:
            return "the run failed"
        if self.runs >= limits.max_runs:
            return f"it served {self.runs} runs (warm_max_runs)"
        if anonymous - self.anonymous > growth or size - self.size > growth:
            return f"its memory grew by more than {limits.max_growth_mb} MiB (warm_max_growth_mb)"
        return _leftovers()


def _run(
    handler: Handler, request: dict[str, Any], limits: ChildLimits, frames_root: Path | None
) -> tuple[bytes, bool]:
    """Run one request: the result as JSON, and whether the run failed."""
    failed = True
    try:
        payload: dict[str, Any] = {"value": handler(request)}
        failed = False
    except BaseException as error:  # everything the user's code can raise, including SystemExit
        payload = _classify(error, frames_root, limits.memory_mb)
    data, encoded = _encode(payload)
    return data, failed or not encoded


def serve(
    handler: Handler,
    warm_up: Callable[[], None],
    pipes: tuple[int, int, int, int],
    workdir: Path,
    limits: ChildLimits,
    frames_root: Path | None,
) -> None:
    """Set up the child, then serve requests until ``limits.max_runs`` or a reason to retire; never returns.

    A fresh child (``max_runs`` 1) runs in ``workdir``; a warm one makes a new ``run-*`` folder in it for each
    run and removes it before sending the result. After each run of a warm child the result says whether the
    child retires (``"recycle"``: why); the runner then kills it and the zygote forks a replacement.
    """
    status = 0
    try:
        os.setsid()
        _keep_only(*pipes)
        streams = (
            io.TextIOWrapper(io.FileIO(OUTPUT_FD, "w", closefd=False), line_buffering=True),
            io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True),
        )
        sys.stdout, sys.stderr = streams
        _enter(workdir)
        os.environ["APPYARD_PROGRESS_FD"] = str(PROGRESS_FD)
        hard_address_space = _limit_process(limits)
        _drop_capabilities()
        _warm_up(warm_up)
        warm = _Life(limits, workdir, streams, hard_address_space) if limits.max_runs > 1 else None
        if warm is not None:
            warm.prepare()
        while (next_run := _read_request()) is not None:  # an idle child waits here for its next run
            tag, request = next_run
            if warm is None:
                data, _ = _run(handler, request, limits, frames_root)
                _flush(streams)
                _send(tag, data)
                break
            warm.runs += 1
            data, failed = _run(handler, request, limits, frames_root)
            _flush(streams)
            recycle = warm.finish(failed)
            data = data[:-1] + b',"anonymous":' + str(warm.now).encode()
            data += (b',"recycle":' + json.dumps(recycle).encode() + b"}") if recycle is not None else b"}"
            _send(tag, data)
            if recycle is not None:
                break
            warm.prepare()  # while idle, off the next run's path
    except BaseException:  # a broken setup must never fall back into the parent's code
        status = 70
    finally:
        os._exit(status)


def _flush(streams: tuple[io.TextIOWrapper, io.TextIOWrapper]) -> None:
    """Everything the run printed reaches the output pipe before its result does."""
    for stream in (sys.stdout, sys.stderr, *streams):
        with contextlib.suppress(Exception):
            stream.flush()
