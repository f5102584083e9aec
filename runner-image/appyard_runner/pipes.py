"""The runner's end of one child's pipes: hand it a request, read its output, progress and result as they
arrive, enforce the limits of the run (see :mod:`.sandbox` for the whole picture and :mod:`._child` for the
other end)."""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import json
import math
import os
import shutil
import signal
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appyard.properties import RunnerSettings as AppRunnerSettings
from appyard.runs import RunError

from ._child import FRAME

_MEMORY_CHECK_SECONDS = 0.05
_READ = 65536


MAX_RESULT_BYTES = 8_388_608  # more than the broker would accept is of no use and may exhaust the pod


@dataclass(frozen=True)
class Limits:
    """What one run may use."""

    timeout_seconds: float
    memory_mb: int
    cpu_seconds: int | None
    max_output_bytes: int
    max_result_bytes: int = MAX_RESULT_BYTES
    isolation: str = "fresh"  # "warm": a child serves many runs in turn (see appyard.properties.RunnerSettings)
    warm_max_runs: int = 1000
    warm_max_growth_mb: int = 64

    @property
    def cpu(self) -> int:
        return self.cpu_seconds or max(1, int(self.timeout_seconds + 0.999))

    @classmethod
    def of(cls, app: AppRunnerSettings, max_result_bytes: int = MAX_RESULT_BYTES) -> Limits:
        """The limits an app's runner settings give each of its runs."""
        return cls(
            timeout_seconds=app.timeout_seconds,
            memory_mb=app.memory_mb,
            cpu_seconds=app.cpu_seconds or math.ceil(app.timeout_seconds),
            max_output_bytes=app.max_output_kb * 1024,
            max_result_bytes=max_result_bytes,
            isolation=app.isolation,
            warm_max_runs=app.warm_max_runs,
            warm_max_growth_mb=app.warm_growth_limit_mb,
        )


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


class ChildGone(RuntimeError):
    """A warm child was found dead when handed a request, which it never read: another child may run it."""


class Child:
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

    def _unread(self) -> int:
        """Bytes written to the request pipe that the child has not read (0 when unknown)."""
        pending = array.array("i", [0])
        try:
            fcntl.ioctl(self.request, termios.FIONREAD, pending, True)
        except OSError:
            return 0
        return pending[0]

    async def _send(self, data: bytes) -> int:
        """Write the framed request; returns how many bytes that was."""
        framed = FRAME.pack(len(data), self.tag) + data
        view = memoryview(framed)
        while view:
            try:
                view = view[os.write(self.request, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.001)  # the child reads as fast as it can; big states are rare
        return len(framed)

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
            sent = 0
            try:
                sent = await self._send(json.dumps(request).encode())
            except BrokenPipeError:
                if self.runs:  # a warm child that served before died while idle (killed from outside)
                    raise ChildGone(self.pid) from None
                self.kill("crashed")
            status = await self._wait(cancel)
            # A warm child killed from outside just before the request came (still exiting, so the write went
            # through): it never read a byte of it, and another child may run it.
            gone = status is not None and self.runs and self.killed_for is None and not self.result
            if gone and sent and self._unread() >= sent:
                self.keep = False
                raise ChildGone(self.pid)
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
            if number == signal.SIGXCPU or (self.warm and number == signal.SIGPROF):  # see _child._limit_run
                return RunError(kind="cpu", message=f"the run used more than {limits.cpu} s of CPU time")
            return RunError(kind="crashed", message=f"the run's process died of {signal.Signals(number).name}")
        code = os.WEXITSTATUS(status)
        return RunError(kind="crashed", message=f"the run's process exited with status {code} without a result")
