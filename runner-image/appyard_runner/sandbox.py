"""Running each run in its own fresh child process, forked ahead of time, under limits (DESIGN.md §3).

Every run gets a new child forked from a warm parent that has imported the app — the zygote (see
:mod:`.zygote`), a separate process, so forking (~3 ms on a small VM, more for a bigger app) never blocks
this process's event loop. No state leaks between runs because no child serves twice. The zygote keeps a
few children forked *ahead*, each blocked on its request pipe; a run only writes its request to an idle
child, and a replacement is forked once the run is done.

With ``isolation: warm`` (:class:`Limits`) a child serves many runs of the app in turn: requests and results
are length-framed and tagged per run (``_child.FRAME``) on pipes that stay open; the output of a run is what
reached the output pipe before its result. Limits are set again before each run, and the child retires (its
group is killed, the zygote forks a replacement) after ``warm_max_runs`` runs, any failed or killed run,
memory growth past ``warm_max_growth_mb``, a thread or process left running, or when the code changes (a new
zygote; the old one's idle children are killed). Module state persists between the runs one child serves
(docs/runs.md).

A child (see :mod:`._child`) starts a new session, keeps only its pipes (stdout+stderr interleaved, progress,
result, request), gets a private temporary directory, and runs under limits: address space (MemoryError past
``memory_mb`` on top of what it inherited), CPU time (SIGXCPU) and no core dumps. The parent, on its asyncio
loop (see :mod:`.pipes`):

- reads the pipes as data arrives (results can be many MB; a child printing 100 MB never blocks);
- keeps at most ``max_output_bytes`` of output and counts the rest for a notice;
- watches the child's private memory (``/proc/<pid>/smaps_rollup``), since not every allocation goes
  through the address-space limit, and kills past ``memory_mb``;
- kills the whole process group on timeout or cancel, and always once the child has exited, so nothing the
  user's code started outlives the run.

"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import zygote as _zygote
from .pipes import Child, ChildGone, Limits, Progress, SandboxResult

__all__ = ["MALLOC_TUNABLES", "Limits", "Progress", "Sandbox", "SandboxResult", "SandboxUnavailable"]

# glibc's malloc asks for transparent huge pages (where the kernel's THP mode is madvise or always): the zygote's
# os.fork() and each run's CPU time come out a few per cent lower (bench/fork.py). The zygote takes the variable out
# of its environment once started, so runs do not see it.
MALLOC_TUNABLES = "glibc.malloc.hugetlb=1"

# Whether a fresh child's replacement is asked for when the child is taken (True) or once its run is done (False).
# Measured with bench/sandbox.py --burst (waves of 4 runs, 2 cores, interleaved): no difference beyond the noise
# (p50 14.7 vs 14.9 ms, means equal); after the run, the fork does not compete with the run for CPU.
REPLACE_EARLY = False
_MEASURE_AGAIN_BYTES = 1 << 20


class SandboxUnavailable(RuntimeError):
    """The zygote could not start or died: the app's code cannot run (until it is fixed and reloaded)."""


class _Zygote:
    """The runner's end of one zygote process."""

    def __init__(self, process: subprocess.Popen[bytes], channel: socket.socket, warm: bool) -> None:
        self.process = process
        self.channel = channel
        self.warm = warm  # its children serve many runs (isolation warm)
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self.idle: deque[tuple[int, list[int], Path]] = deque()
        self.warm_idle: list[Child] = []  # warm children between runs, the most recently used last
        self.takes: deque[asyncio.Future[tuple[int, list[int], Path]]] = deque()
        self.exits: dict[int, asyncio.Future[int]] = {}
        self.forgotten: set[int] = set()  # children released before the zygote reported their exit
        self.retired = False
        channel.setblocking(False)
        self.loop.add_reader(channel.fileno(), self._readable)

    def exit_future(self, pid: int) -> asyncio.Future[int]:
        return self.exits.setdefault(pid, self.loop.create_future())

    def _readable(self) -> None:
        try:
            message, fds, _, _ = socket.recv_fds(self.channel, _zygote.MESSAGE_BYTES, 4)
        except BlockingIOError:
            return
        except OSError:
            message, fds = b"", []
        words = message.decode(errors="replace").split(" ", 2)
        if words[0] == "child":
            child = (int(words[1]), fds, Path(words[2]))
            if self.retired:  # forked before the zygote heard it retired
                self.idle.append(child)
                self._kill_idle()
            elif self.takes:
                self.takes.popleft().set_result(child)
            else:
                self.idle.append(child)
        elif words[0] == "exit":
            pid = int(words[1])
            if pid in self.forgotten:
                self.forgotten.discard(pid)
                return
            future = self.exit_future(pid)
            if not future.done():
                future.set_result(int(words[2]))
        elif words[0] == "ready" and not self.ready.done():
            self.ready.set_result(None)
        elif words[0] in ("failed", ""):
            self.loop.remove_reader(self.channel.fileno())
            problem = SandboxUnavailable(" ".join(words[1:]) or "the zygote process exited")
            futures: list[asyncio.Future[Any]] = [self.ready, *self.takes, *self.exits.values()]
            for future in futures:
                if not future.done():
                    future.set_exception(problem)
            self.takes.clear()

    def more(self) -> None:
        """Ask for a replacement of a child that was used."""
        with contextlib.suppress(OSError):
            self.channel.send(b"more")

    def forget(self, pid: int) -> None:
        """The runner is done with this child: its exit, when the zygote reports it, concerns no one."""
        future = self.exits.pop(pid, None)
        if future is None or not future.done():
            self.forgotten.add(pid)

    def take_warm(self) -> Child | None:
        """A warm child between runs, if one is still alive."""
        while self.warm_idle:
            child = self.warm_idle.pop()
            if not child.exit_status.done():
                return child
            child.close()  # it died while idle (killed from outside): the zygote forks another
            self.forget(child.pid)
            self.more()
        return None

    def give_back(self, child: Child) -> None:
        """A warm child finished a run and may serve the next one."""
        self.warm_idle.append(child)
        child.runs += 1
        anonymous = child.payload.get("anonymous", 0) if child.payload else 0
        # Reading smaps_rollup costs more than a warm run: measure again after runs 1, 2, 4, 8… (what a run first
        # touches of the parent's pages becomes private) and whenever the child says its memory moved.
        if child.runs & (child.runs - 1) == 0 or abs(anonymous - child.measured_anonymous) >= _MEASURE_AGAIN_BYTES:
            child.baseline = None
            child.measured_anonymous = anonymous
            self.loop.call_soon(self._measure, child)

    def _measure(self, child: Child) -> None:
        if child.baseline is None and child in self.warm_idle:
            child.measure()

    async def take(self) -> tuple[int, list[int], Path]:
        """A child forked ahead, or the next one to arrive."""
        if self.idle:
            return self.idle.popleft()
        future: asyncio.Future[tuple[int, list[int], Path]] = self.loop.create_future()
        self.takes.append(future)
        return await future

    def quit(self) -> None:
        """Kill the idle children, ask the zygote to exit once its children have, and forget it."""
        self.retired = True
        while self.warm_idle:  # warm children in a run finish it; Sandbox.run then retires them
            self.warm_idle.pop().close()
        self._kill_idle()
        with contextlib.suppress(OSError):
            self.channel.send(b"quit")
        self.loop.call_later(60, self._close)

    def _kill_idle(self) -> None:
        while self.idle:
            pid, fds, workdir = self.idle.popleft()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            for fd in fds:
                os.close(fd)
            shutil.rmtree(workdir, ignore_errors=True)

    def _close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.loop.remove_reader(self.channel.fileno())
        self.channel.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class Sandbox:
    """Runs requests for one app, each in its own fresh child forked by a zygote process."""

    def __init__(
        self,
        workspace: Path,
        app: str,
        limits: Limits,
        *,
        tmp_root: Path,
        warm: int = 2,
        environment: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.workspace = workspace
        # The zygote's (and so every run's) environment, asked for at each start: the app's declared secrets may
        # change with its code. By default the runner's own environment (tests of the sandbox alone).
        self.environment = environment or (lambda: dict(os.environ))
        self.app = app
        self.limits = limits
        self.tmp_root = tmp_root
        self.warm = warm
        self._zygote: _Zygote | None = None

    async def start(self) -> None:
        """Start a zygote with the app's current code and limits; the previous one retires."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = _zygote.ZygoteConfig(
            workspace=str(self.workspace),
            app=self.app,
            tmp_dir=str(self.tmp_root),
            memory_mb=self.limits.memory_mb,
            cpu_seconds=self.limits.cpu,
            warm=self.warm,
            max_runs=self.limits.warm_max_runs if self.limits.isolation == "warm" else 1,
            max_growth_mb=self.limits.warm_max_growth_mb,
        )
        env = {
            "GLIBC_TUNABLES": MALLOC_TUNABLES,  # unless the environment says otherwise (a benchmark)
            **self.environment(),
            "APPYARD_ZYGOTE_FD": str(theirs.fileno()),
            "APPYARD_ZYGOTE_CONFIG": json.dumps(config.__dict__),
        }
        process = subprocess.Popen([sys.executable, "-m", "appyard_runner.zygote"], env=env, pass_fds=[theirs.fileno()])
        theirs.close()
        zygote = _Zygote(process, ours, warm=config.max_runs > 1)
        await zygote.ready
        previous, self._zygote = self._zygote, zygote
        if previous is not None:
            previous.quit()

    async def restart(self, limits: Limits) -> None:
        """New code or limits: a new zygote takes over (runs in flight finish in the old one's children)."""
        self.limits = limits
        await self.start()

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.quit()
            self._zygote = None

    async def run(
        self,
        request: dict[str, Any],
        *,
        on_output: Callable[[str], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> SandboxResult:
        """Run one request in a child (fresh, or warm between runs) and return how it ended."""
        zygote = self._zygote
        if zygote is None:
            raise SandboxUnavailable("the sandbox is not started")
        while True:
            child = zygote.take_warm() if zygote.warm else None
            replaced = False
            if child is None:
                pid, fds, workdir = await zygote.take()
                child = Child(pid, fds, workdir, zygote.exit_future(pid), zygote.warm)
                if REPLACE_EARLY and not zygote.warm:
                    zygote.more()
                    replaced = True
            try:
                return await child.run(request, self.limits, cancel, on_output, on_progress)
            except ChildGone:
                continue  # a warm child that died while idle never saw the request: the next child runs it
            finally:
                if child.keep and zygote is self._zygote:
                    zygote.give_back(child)
                else:
                    child.close()  # a fresh child after its run; a warm one that retires, or whose code changed
                    zygote.forget(child.pid)
                    if not replaced:
                        zygote.more()
