"""The zygote: a process that imports the app's code once and forks a child for every run (or, with isolation
warm, for each slot's long-lived child, and again whenever one retires).

The runner starts it with ``python -m appyard_runner.zygote`` and talks to it over a Unix socket
(SOCK_SEQPACKET, fd in ``APPYARD_ZYGOTE_FD``). Children are forked ahead, each blocked on its request pipe
(see :mod:`._child`), and handed to the runner before it needs them. Messages:

- zygote → runner ``child <pid> <workdir>``, with the parent ends of that child's pipes attached (output,
  progress, result, request); the zygote then closes its copies. It sends ``warm`` children at start;
- runner → zygote ``more``: the runner is done with a child (a fresh child after its run, a warm one that
  retired); the zygote forks and sends another;
- zygote → runner ``exit <pid> <status>`` whenever a child it forked has exited (only the zygote, as the
  parent, can read the status: a signal number tells a CPU limit from a crash);
- runner → zygote ``quit``: stop forking and exit once every child has been reaped (the runner kills the
  idle children it holds).

Forking costs milliseconds (more for a bigger process); doing it here keeps it off the runner's event loop,
and means the process holding the NATS connection never runs user code.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appyard import execution

from . import _child
from .appcode import AppCode

MESSAGE_BYTES = 256


@dataclass(frozen=True)
class ZygoteConfig:
    """What the runner tells a zygote (as JSON in APPYARD_ZYGOTE_CONFIG)."""

    workspace: str
    app: str
    tmp_dir: str
    memory_mb: int
    cpu_seconds: int
    warm: int
    max_runs: int = 1  # 1: each child serves one run (isolation fresh); more: a warm child serves many
    max_growth_mb: int = 64


# Benchmarks only (bench/fork.py): a file the zygote appends each os.fork()'s wall and CPU time to, in nanoseconds.
FORK_LOG = "APPYARD_BENCH_FORK_LOG"


class Zygote:
    def __init__(self, config: ZygoteConfig, channel: socket.socket) -> None:
        self.config = config
        self.channel = channel
        self.code = AppCode(Path(config.workspace), config.app)
        self.children: set[int] = set()
        self.workdirs: dict[int, Path] = {}  # each child's folder, removed here when the runner is gone
        self.quitting = False
        self.fork_log = os.environ.pop(FORK_LOG, None)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Runs in a child: the page's own validation, the call, and the context as JSON."""
        page = self.code.page(request["page"])
        return execution.execute(page, request["function"], request["state"], self.code.root).changes

    def warm_up(self) -> None:
        """Runs in an idle child: exercise every page's models (see appyard.execution.warm_up)."""
        for page in self.code.pages.values():
            execution.warm_up(page)

    def send_child(self) -> None:
        """Fork a child and hand it to the runner."""
        prefix = "run-" if self.config.max_runs == 1 else "warm-"  # a warm child makes a run-* folder per run in it
        workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=self.config.tmp_dir))
        ends = [os.pipe() for _ in range(4)]  # output, progress, result: child writes; request: child reads
        child_ends = (ends[0][1], ends[1][1], ends[2][1], ends[3][0])
        started, cpu = time.perf_counter_ns(), time.thread_time_ns()
        pid = os.fork()
        if pid == 0:
            self.channel.close()
            config = self.config
            limits = _child.ChildLimits(config.memory_mb, config.cpu_seconds, config.max_runs, config.max_growth_mb)
            _child.serve(self.handle, self.warm_up, child_ends, workdir, limits, self.code.root)
        if self.fork_log is not None:
            with open(self.fork_log, "a", encoding="ascii") as log:
                log.write(f"{time.perf_counter_ns() - started} {time.thread_time_ns() - cpu}\n")
        for fd in child_ends:
            os.close(fd)
        self.children.add(pid)
        self.workdirs[pid] = workdir
        parent_ends = [ends[0][0], ends[1][0], ends[2][0], ends[3][1]]
        try:
            socket.send_fds(self.channel, [f"child {pid} {workdir}".encode()], parent_ends)
        except OSError:  # the runner stopped while this child was forked (a replacement it asked for): nobody takes it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # it has run nothing yet: it waits for a request
            self.quitting = True
        finally:
            for fd in parent_ends:
                os.close(fd)

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            workdir = self.workdirs.pop(pid, None)
            if self.quitting and workdir is not None:
                # The runner removes the folders of the runs it ran; when it is gone, nobody else would.
                shutil.rmtree(workdir, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.channel.send(f"exit {pid} {status}".encode())

    def serve(self) -> None:
        if os.environ.get("APPYARD_DATA_SOURCES"):  # an app without data sources imports no SQLAlchemy
            from appyard.sql import sources

            # The database drivers of the app's sources, so appyard.db() in a fresh child connects at once.
            sources.import_drivers()
        self.code.load()  # imports the app; gc.freeze() keeps children from copying what it allocated
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "quitting", True))
        selector = selectors.DefaultSelector()
        selector.register(self.channel, selectors.EVENT_READ, "channel")
        selector.register(wake_r, selectors.EVENT_READ, "signal")
        self.channel.send(b"ready")
        for _ in range(self.config.warm):
            self.send_child()
        while not (self.quitting and not self.children):
            for key, _ in selector.select(timeout=1.0):
                if key.data == "signal":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 512)
                    continue
                try:
                    message = self.channel.recv(MESSAGE_BYTES)
                except OSError:  # the runner went away
                    message = b""
                if message == b"more" and not self.quitting:
                    self.send_child()
                elif message in (b"quit", b""):  # b"": the runner is gone
                    self.quitting = True
            self.reap()
        gc.collect()


def main() -> None:
    # Taken out of the environment: runs see only what the runner allowed (see appyard_runner.environment).
    config = ZygoteConfig(**json.loads(os.environ.pop("APPYARD_ZYGOTE_CONFIG")))
    os.environ.pop("GLIBC_TUNABLES", None)  # read by glibc as this process started; not for runs (see sandbox.py)
    channel = socket.socket(fileno=int(os.environ.pop("APPYARD_ZYGOTE_FD")))
    try:
        Zygote(config, channel).serve()
    except Exception as error:  # tell the runner why, instead of dying silently
        with contextlib.suppress(OSError):
            channel.send(f"failed {type(error).__name__}: {error}"[:MESSAGE_BYTES].encode())
        raise
    sys.exit(0)


if __name__ == "__main__":
    main()
