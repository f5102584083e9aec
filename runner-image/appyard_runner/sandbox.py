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
loop:

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
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appyard.runs import RunError

from . import zygote as _zygote
from ._child import FRAME

_MEMORY_CHECK_SECONDS = 0.05
REPLACE_EARLY = False
_MEASURE_AGAIN_BYTES = 1 << 20
_READ = 65536


@dataclass(frozen=True)
class Limits:
    """What one run may use."""

    timeout_seconds: float
    memory_mb: int
    cpu_seconds: int | None
    max_output_bytes: int
    max_result_bytes: int = 8_388_608  # more than the broker would accept is of no use and may exhaust the pod
    isolation: str = "fresh"  # "warm": a child serves many runs in turn (see appyard.properties.RunnerSettings)
    warm_max_runs: int = 1000
    warm_max_growth_mb: int = 64

    @property
    def cpu(self) -> int:
        return self.cpu_seconds or max(1, int(self.timeout_seconds + 0.999))


@dataclass(frozen=True)
class Progress:
    """Progress a script reported with ``appyard.report_progress``."""

    done: float
    total: float | None
    message: str | None


@dataclass
class SandboxResult:
    """How a run in a child ended."""

    value: dict[str, Any] | None
    error: RunError | None
    output: str
    truncated: bool
    duration_ms: float


def private_memory(pid: int) -> int:
    """Bytes the process does not share with its parent (private pages and swap); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            return sum(
                int(line.split()[1]) * 1024
                for line in rollup
                if line.startswith(("Private_Clean:", "Private_Dirty:", "Swap:"))
            )
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0


def _read_progress(buffer: bytearray, on_progress: Callable[[Progress], None] | None) -> None:
    while (end := buffer.find(b"\n")) >= 0:
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        if on_progress is None:
            continue
        with contextlib.suppress(ValueError, TypeError, KeyError):
            item = json.loads(line)
            on_progress(Progress(float(item["done"]), item.get("total"), item.get("message")))


def _decode_prefix(data: bytearray) -> tuple[str, int]:
    """Decode the longest prefix of ``data`` that ends on a UTF-8 character boundary."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            return data[:cut].decode("utf-8"), cut
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace"), len(data)


class _Child:
    """The runner's side of one child that the zygote forked: one run (fresh), or many in turn (warm)."""

    def __init__(self, pid: int, fds: list[int], workdir: Path, exit_status: asyncio.Future[int], warm: bool) -> None:
        self.pid = pid
        self.workdir = workdir
        self.warm = warm
        self.pipes = {fds[0]: "output", fds[1]: "progress", fds[2]: "result"}
        self.request = fds[3]
        for fd in fds:
            os.set_blocking(fd, False)
        self.exit_status = exit_status
        self.loop = asyncio.get_running_loop()
        # Private memory when its next run starts: 0 for a fresh fork (as with isolation fresh); None: unknown,
        # the memory watch measures it first.
        self.baseline: int | None = 0
        self.runs = 0
        self.measured_anonymous = -1  # the child's anonymous memory (it reports it) when baseline was measured
        self.keep = False  # after a run: whether this warm child may serve the next one

    def _begin(
        self,
        limits: Limits,
        on_output: Callable[[str], None] | None,
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        self.limits = limits
        self.reads = dict(self.pipes)
        self.output = bytearray()
        self.dropped = 0
        self.result = bytearray()
        self.progress = bytearray()
        self.undecoded = bytearray()
        self.closed = asyncio.Event()
        self.result_done = asyncio.Event()
        self.killed_for: str | None = None
        self.payload: dict[str, Any] | None = None
        self.frame: bytes | None = None
        self.tag = os.urandom(FRAME.size - 4)
        self.keep = False
        self.on_output = on_output
        self.on_progress = on_progress

    # -- during the run ---------------------------------------------------------------------------------

    def _readable(self, fd: int) -> None:
        try:
            chunk = os.read(fd, _READ)
        except BlockingIOError:
            return
        kind = self.reads[fd]
        if not chunk:
            self.loop.remove_reader(fd)
            del self.reads[fd]
            if kind == "result":
                self.result_done.set()
            if not self.reads:
                self.closed.set()
        elif kind == "result":
            if self.killed_for is not None:
                return  # killed: what it still sends is not read
            self.result += chunk
            self._frames()
        elif kind == "progress":
            self.progress += chunk
            _read_progress(self.progress, self.on_progress)
        else:
            self._output(chunk)

    def _frames(self) -> None:
        """Take this run's result out of what arrived on the result pipe; frames with another tag are dropped."""
        while not self.result_done.is_set() and len(self.result) >= FRAME.size:
            size, tag = FRAME.unpack_from(self.result)
            if size > self.limits.max_result_bytes:
                self.result.clear()
                self.kill("result_size")
                return
            end = FRAME.size + size
            if len(self.result) < end:
                return
            if tag == self.tag:
                self.frame = bytes(self.result[FRAME.size : end])
                self.result_done.set()
            del self.result[:end]

    def _output(self, chunk: bytes) -> None:
        room = max(self.limits.max_output_bytes - len(self.output), 0)
        kept = chunk[:room]
        self.dropped += len(chunk) - len(kept)
        self.output += kept
        if kept and self.on_output is not None:
            self.undecoded.extend(kept)
            text, complete = _decode_prefix(self.undecoded)
            del self.undecoded[:complete]
            if text:
                self.on_output(text)

    def kill(self, reason: str) -> None:
        self.killed_for = self.killed_for or reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def measure(self) -> None:
        """Remember the idle warm child's private memory: its next run may use memory_mb on top of it."""
        self.baseline = private_memory(self.pid)

    async def _watch_memory(self) -> None:
        if self.baseline is None:
            self.measure()
        limit = self.limits.memory_mb * 1024 * 1024 + (self.baseline or 0)
        while True:
            await asyncio.sleep(_MEMORY_CHECK_SECONDS)
            if private_memory(self.pid) > limit:
                self.kill("memory")
                return

    async def _watch_cancel(self, cancel: asyncio.Event | None) -> None:
        if cancel is not None:
            await cancel.wait()
            self.kill("cancelled")

    async def _send(self, data: bytes) -> None:
        view = memoryview(FRAME.pack(len(data), self.tag) + data)
        while view:
            try:
                view = view[os.write(self.request, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.001)  # the child reads as fast as it can; big states are rare

    async def _wait(self, cancel: asyncio.Event | None) -> int | None:
        """Wait until the result is complete or the child exits (killing it on timeout).

        Returns the wait status when the child exited without a complete result; None when the result came.
        A fresh child, or a warm one that retires, is then killed with its process group (it is exiting
        anyway; this also ends anything the run started) — the caller need not wait for the teardown of the
        process, which costs milliseconds. A warm child that may serve again is kept (``self.keep``).
        """
        result: asyncio.Task[bool] = self.loop.create_task(self.result_done.wait())
        watchers = [self.loop.create_task(self._watch_memory()), self.loop.create_task(self._watch_cancel(cancel))]
        waiting: set[asyncio.Future[Any]] = {self.exit_status, result}
        try:
            done, _ = await asyncio.wait(
                waiting, timeout=self.limits.timeout_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                self.kill("timeout")
            elif result in done and self.killed_for is None and self._parse_result():
                payload = self.payload or {}
                if self.warm and "recycle" not in payload and isinstance(payload.get("value"), dict):
                    # Nothing may follow the result (a run that wrote to the result pipe itself would otherwise
                    # put words in the next run's mouth).
                    self.keep = self._nothing_after_result()
                else:
                    self.kill("finished")
                return None
            # The child died (its result pipe closed without a whole result) or was killed: its exit status
            # tells why. It is near: the child has closed every pipe or been sent SIGKILL.
            return await self.exit_status
        finally:
            result.cancel()
            for task in watchers:
                task.cancel()
            if not self.keep:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)  # anything the run left behind in its process group

    def _nothing_after_result(self) -> bool:
        if self.result:
            return False
        for fd, kind in self.reads.items():
            if kind == "result":
                try:
                    return not os.read(fd, 1)
                except BlockingIOError:
                    return True
        return False

    def _stop_reading(self) -> None:
        for fd in list(self.reads):
            with contextlib.suppress(OSError, ValueError):
                self.loop.remove_reader(fd)
        self.reads.clear()
        if not self.keep:
            self.close()

    def close(self) -> None:
        """Kill the child (if it still runs), close its pipes and remove its folder (once)."""
        self.keep = False
        if self.request < 0:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for fd in [*self.pipes, self.request]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.pipes.clear()
        self.request = -1
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _drain(self) -> None:
        # The child flushed its output and wrote its progress before sending the result: all of it is in the
        # pipes now.
        for fd, kind in list(self.reads.items()):
            if kind != "result":
                with contextlib.suppress(BlockingIOError, OSError):
                    while chunk := os.read(fd, _READ):
                        if kind == "output":
                            self._output(chunk)
                        else:
                            self.progress += chunk
                            _read_progress(self.progress, self.on_progress)

    async def run(
        self,
        request: dict[str, Any],
        limits: Limits,
        cancel: asyncio.Event | None,
        on_output: Callable[[str], None] | None,
        on_progress: Callable[[Progress], None] | None,
    ) -> SandboxResult:
        started = time.perf_counter()
        self._begin(limits, on_output, on_progress)
        for fd in self.reads:
            self.loop.add_reader(fd, self._readable, fd)
        status: int | None = None
        try:
            try:
                await self._send(json.dumps(request).encode())
            except BrokenPipeError:
                self.kill("crashed")
            status = await self._wait(cancel)
            duration_ms = (time.perf_counter() - started) * 1000
            if status is None:
                self._drain()
            else:
                with contextlib.suppress(TimeoutError):  # EOF follows, as the group was just killed
                    await asyncio.wait_for(self.closed.wait(), 5)
            if self.undecoded and self.on_output is not None:
                self.on_output(self.undecoded.decode("utf-8", errors="replace"))
        finally:
            self._stop_reading()
        output = self.output.decode("utf-8", errors="replace")
        if self.dropped:
            output += f"\n[output truncated: {self.dropped} bytes not shown]"
        if status is not None and self.killed_for is None:
            self._parse_result()  # the child may have sent its result just before dying
        value, error = self._outcome(status)
        return SandboxResult(value, error, output, self.dropped > 0, duration_ms)

    def _parse_result(self) -> bool:
        """Whether the child sent a whole result (kept in ``self.payload``)."""
        if self.frame is None:
            return False
        try:
            payload = json.loads(self.frame)
        except ValueError:
            return False
        self.payload = payload if isinstance(payload, dict) else None
        return self.payload is not None

    def _outcome(self, status: int | None) -> tuple[dict[str, Any] | None, RunError | None]:
        if self.killed_for in (None, "finished") and self.payload is not None:
            payload = self.payload
            if "error" in payload:
                return None, RunError.model_validate(payload["error"])
            value = payload.get("value")
            if not isinstance(value, dict):
                return None, RunError(kind="invalid_context", message="the function did not return a context")
            return value, None
        return None, self._exit_error(status or 0)

    def _exit_error(self, status: int) -> RunError:
        limits = self.limits
        if self.killed_for == "timeout":
            message = f"the run took longer than the app's timeout of {limits.timeout_seconds:g} s and was stopped"
            return RunError(kind="timeout", message=message, retryable=True)
        if self.killed_for == "memory":
            return RunError(
                kind="memory", message=f"the run used more than the app's memory limit of {limits.memory_mb} MiB"
            )
        if self.killed_for == "cancelled":
            return RunError(kind="cancelled", message="the run was cancelled")
        if self.killed_for == "result_size":
            limit = limits.max_result_bytes / 1_048_576
            message = (
                f"the function's result is larger than the {limit:g} MiB limit and the run was stopped; "
                "return less data"
            )
            return RunError(kind="invalid_context", message=message)
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGXCPU:
                return RunError(kind="cpu", message=f"the run used more than {limits.cpu} s of CPU time")
            return RunError(kind="crashed", message=f"the run's process died of {signal.Signals(number).name}")
        code = os.WEXITSTATUS(status)
        return RunError(kind="crashed", message=f"the run's process exited with status {code} without a result")


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
        self.warm_idle: list[_Child] = []  # warm children between runs, the most recently used last
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

    def take_warm(self) -> _Child | None:
        """A warm child between runs, if one is still alive."""
        while self.warm_idle:
            child = self.warm_idle.pop()
            if not child.exit_status.done():
                return child
            child.close()  # it died while idle (killed from outside): the zygote forks another
            self.forget(child.pid)
            self.more()
        return None

    def give_back(self, child: _Child) -> None:
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

    def _measure(self, child: _Child) -> None:
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
        """Run one request in a fresh child and return how it ended."""
        zygote = self._zygote
        if zygote is None:
            raise SandboxUnavailable("the sandbox is not started")
        child = zygote.take_warm() if zygote.warm else None
        replaced = False
        if child is None:
            pid, fds, workdir = await zygote.take()
            child = _Child(pid, fds, workdir, zygote.exit_future(pid), zygote.warm)
            if REPLACE_EARLY and not zygote.warm:
                zygote.more()
                replaced = True
        try:
            return await child.run(request, self.limits, cancel, on_output, on_progress)
        finally:
            if child.keep and zygote is self._zygote:
                zygote.give_back(child)
            else:
                child.close()  # a fresh child after its run; a warm one that retires, or whose code was replaced
                zygote.forget(child.pid)
                if not replaced:
                    zygote.more()
