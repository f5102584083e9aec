"""What the processes under load use, read from /proc: memory (RSS, PSS) and CPU time, of one process or of a
process tree (a runner, its zygote and the runs' processes), and a sampler of peaks (for bench/load.py)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SAMPLE_SECONDS = 0.5


def _kib(path: str, field_name: str) -> int:
    """A ``Name:   123 kB`` field of a /proc file, in KiB; 0 when the process is gone."""
    with contextlib.suppress(OSError), open(path) as handle:
        for line in handle:
            if line.startswith(field_name):
                return int(line.split()[1])
    return 0


def rss(pid: int) -> int:
    return _kib(f"/proc/{pid}/status", "VmRSS:")


def settled_rss(pid: int) -> int:
    """The median of three samples 0.2 s apart."""
    samples = []
    for _ in range(3):
        time.sleep(0.2)
        samples.append(rss(pid))
    return sorted(samples)[1]


def children(pid: int) -> list[int]:
    """A process's children (read from /proc/PID/task/*/children)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
    return found


def descendants(pid: int) -> list[int]:
    """The process and all its descendants."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children(current))
    return found


def cpu_seconds(pid: int, reaped: bool = True) -> float:
    """User + system CPU of a process (utime, stime) and of the children it has reaped (cutime, cstime)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11 : 15 if reaped else 13]) / os.sysconf("SC_CLK_TCK")
    return 0.0


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process tree (exited children count once reaped, in their parent's cutime)."""
    return sum(cpu_seconds(p) for p in descendants(pid))


def tree_memory(pid: int) -> tuple[int, int, int]:
    """(processes, summed RSS KiB, summed PSS KiB) of a process tree; PSS shares forked pages out fairly."""
    pids = descendants(pid)
    return len(pids), sum(rss(p) for p in pids), sum(_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)


@dataclass
class Peaks:
    """Largest memory seen by the sampler since the last reset, in KiB."""

    api: int = 0
    runner_rss: int = 0
    runner_pss: int = 0
    runner_processes: int = 0
    nats: int = 0


@dataclass
class Sampler:
    """Samples the API's, the runner tree's and nats-server's memory every 0.5 s on a thread."""

    api_pid: int
    nats_pid: int
    runner_pid: Callable[[], int | None]
    peaks: Peaks = field(default_factory=Peaks)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def reset(self) -> None:
        self.peaks = Peaks()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            peaks = self.peaks
            peaks.api = max(peaks.api, rss(self.api_pid))
            peaks.nats = max(peaks.nats, rss(self.nats_pid))
            if (pid := self.runner_pid()) is not None:
                count, tree_rss, tree_pss = tree_memory(pid)
                peaks.runner_rss = max(peaks.runner_rss, tree_rss)
                peaks.runner_pss = max(peaks.runner_pss, tree_pss)
                peaks.runner_processes = max(peaks.runner_processes, count)
