"""Benchmark: what a fresh process per run costs — the zygote's memory, its os.fork(), and the runs it serves.

Starts a real zygote for the lab fixture app through ``Sandbox`` (as the runner does) for every variant, all
at once, and alternates runs between them (A, B, C, A, B, C…, ``BENCH_FORK_RUNS`` each per round,
``BENCH_FORK_ROUNDS`` rounds), so the other load on a shared machine falls on every variant alike. It measures:

- the zygote's memory (``/proc/<pid>/smaps_rollup``: resident, anonymous, in transparent huge pages);
- each ``os.fork()`` in the zygote, wall and CPU time (it appends both to the file in ``APPYARD_BENCH_FORK_LOG``);
- ``Sandbox.run()`` round trips of the lab app's ``echo`` function, one at a time;
- CPU per run: the zygote's and its children's (exact, from a temporary cpuacct cgroup; see ``ZygoteCpu``),
  and this process's (the runner's side of the pipes).

Variants: as today; without ``gc.freeze()``; with the pages' models generated in the zygote itself (as before
``generated.generate_apart``); without glibc's ``glibc.malloc.hugetlb=1`` tunable (``Sandbox`` sets it); with it
and ``PYTHONMALLOC=malloc`` (Python's small objects from malloc too); transparent huge pages set to ``always``
while that zygote loads and serves its first runs (restored after; needs root). A second table times the steps
of a child's setup (``_child.serve``) in children forked from a process holding the same app.

Run with ``.venv/bin/python -m bench.fork`` (``BENCH_FORK_VARIANTS``: a comma-separated choice of them).
Nothing here is asserted; the machine's noise shows in the spread between rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from appyard_runner import zygote as zygote_module
from appyard_runner.sandbox import Limits, Sandbox
from bench.runs import summary

REPO = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_FORK_ROUNDS", "3"))
RUNS = int(os.environ.get("BENCH_FORK_RUNS", "300"))
SETUP_SAMPLES = int(os.environ.get("BENCH_FORK_SETUP_SAMPLES", "200"))
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
LIMITS = Limits(timeout_seconds=10, memory_mb=256, cpu_seconds=10, max_output_bytes=65536)
REQUEST = {"page": "main", "function": "echo", "state": {"form": {"text": "hi"}}}

# Runs the zygote after undoing one of today's choices (the variant's name is in BENCH_FORK_UNDO).
PRELUDE = """
import gc, os, runpy, sys
undo = os.environ.pop("BENCH_FORK_UNDO", "")
if undo == "freeze":
    gc.freeze = lambda: None
elif undo == "apart":
    from appyard import generated
    generated.generate_apart = lambda pages: None
sys.argv = ["appyard_runner.zygote"]
runpy.run_module("appyard_runner.zygote", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Variant:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    thp: str | None = None  # the THP mode to set while it runs


VARIANTS = [
    Variant("as today"),
    Variant("no malloc hugetlb", {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}),
    Variant("no gc.freeze()", {"BENCH_FORK_UNDO": "freeze"}),
    Variant("generator in the zygote", {"BENCH_FORK_UNDO": "apart"}),
    Variant("PYTHONMALLOC=malloc + hugetlb=1", {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1", "PYTHONMALLOC": "malloc"}),
    Variant("THP always", thp="always"),
]


@dataclass
class Sample:
    rss_mb: float
    anonymous_mb: float
    huge_mb: float
    fork_us: list[float]  # wall time of os.fork() in the zygote
    fork_cpu_us: list[float]  # the zygote's CPU time in os.fork() (exact: the scheduler's, not tick-sampled)
    run_ms: list[float]
    zygote_cpu_ms: float  # per run: the zygote and its children
    runner_cpu_ms: float  # per run: this process
    exact_cpu: bool  # zygote_cpu_ms from a cpuacct cgroup, not tick-sampled


@contextlib.contextmanager
def thp_mode(mode: str | None) -> Iterator[None]:
    if mode is None:
        yield
        return
    before = THP.read_text().split("[")[1].split("]")[0]
    THP.write_text(mode)
    try:
        yield
    finally:
        THP.write_text(before)


@contextlib.contextmanager
def executable(path: str) -> Iterator[None]:
    """Sandbox.start runs ``sys.executable -m appyard_runner.zygote``: a wrapper applies the variant's undo."""
    real, sys.executable = sys.executable, path
    try:
        yield
    finally:
        sys.executable = real


def memory(pid: int) -> tuple[float, float, float]:
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[name] = int(rest.split()[0])
    return fields["Rss"] / 1024, fields["Anonymous"] / 1024, fields.get("AnonHugePages", 0) / 1024


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


class ZygoteCpu:
    """CPU time of the zygote and all its children, in ms.

    Exact (the scheduler's runtime, nanoseconds) from a cgroup v1 cpuacct group the zygote is moved into, so
    children forked later are counted even after they exited; the group is removed afterwards. Without one
    (not root, no cpuacct), /proc/<pid>/stat's utime+stime+cutime+cstime: sampled at each clock tick (250 Hz
    here), coarse for children that live a few ms.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.group: Path | None = CPUACCT / f"appyard-bench-fork-{pid}"
        try:
            self.group.mkdir()
            (self.group / "cgroup.procs").write_text(str(pid))
        except OSError:
            self.group = None

    @property
    def exact(self) -> bool:
        return self.group is not None

    def ms(self) -> float:
        if self.group is not None:
            return int((self.group / "cpuacct.usage").read_text()) / 1e6
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            after_name = stat.read().rsplit(")", 1)[1].split()
        return sum(int(value) for value in after_name[11:15]) * TICK_MS

    def remove(self) -> None:
        """Once every process of the group has exited (the zygote waits for its children)."""
        if self.group is not None:
            with contextlib.suppress(OSError):
                self.group.rmdir()


@dataclass
class Running:
    """A variant's sandbox, started and warmed up, and what is measured of it."""

    variant: Variant
    sandbox: Sandbox
    process: subprocess.Popen[bytes]
    cpu: ZygoteCpu
    fork_log: Path
    memory: tuple[float, float, float] = (0.0, 0.0, 0.0)
    samples: list[Sample] = field(default_factory=list)


async def start(variant: Variant, number: int, workspace: Path, scratch: Path, wrapper: str) -> Running:
    fork_log = scratch / f"forks-{number}.log"
    tmp_root = scratch / f"runs-{number}"
    tmp_root.mkdir()
    env = {**os.environ, **variant.env, zygote_module.FORK_LOG: str(fork_log)}
    sandbox = Sandbox(workspace, "lab", LIMITS, tmp_root=tmp_root, environment=lambda: env)
    with thp_mode(variant.thp), executable(wrapper):  # THP: while the zygote loads and serves its first runs
        await sandbox.start()
        zygote = sandbox._zygote
        assert zygote is not None
        running = Running(variant, sandbox, zygote.process, ZygoteCpu(zygote.process.pid), fork_log)
        for _ in range(20):  # warm-up: the first runs import what the first call needs
            await sandbox.run(REQUEST)
    return running


async def measure_round(running: list[Running]) -> None:
    """RUNS sequential runs per variant, alternating variants run by run (A, B, C, A, B, C…)."""
    await asyncio.sleep(0.3)
    forks_before = [len(r.fork_log.read_text().splitlines()) for r in running]
    spent = [r.cpu.ms() for r in running]
    samples: list[list[float]] = [[] for _ in running]
    mine = [0.0 for _ in running]
    for _ in range(RUNS):
        for index, one in enumerate(running):
            cpu, started = time.process_time(), time.perf_counter()
            result = await one.sandbox.run(REQUEST)
            samples[index].append((time.perf_counter() - started) * 1000)
            mine[index] += time.process_time() - cpu
            if result.value is None:
                raise RuntimeError(f"run failed: {result.error}")
    await asyncio.sleep(0.3)  # the zygotes reap the last children
    for index, one in enumerate(running):
        lines = one.fork_log.read_text().splitlines()[forks_before[index] :]
        forks = [int(line.split()[0]) / 1000 for line in lines]
        fork_cpu = [int(line.split()[1]) / 1000 for line in lines]
        zygote_cpu = (one.cpu.ms() - spent[index]) / RUNS
        runner_cpu = mine[index] * 1000 / RUNS
        sample = Sample(*one.memory, forks, fork_cpu, samples[index], zygote_cpu, runner_cpu, one.cpu.exact)
        one.samples.append(sample)


async def measure(variants: list[Variant], workspace: Path, scratch: Path, wrapper: str) -> dict[str, list[Sample]]:
    running: list[Running] = []
    try:
        for number, variant in enumerate(variants):
            print(f"starting {variant.name}…", file=sys.stderr)
            running.append(await start(variant, number, workspace, scratch, wrapper))
        await asyncio.sleep(0.3)
        for one in running:
            one.memory = memory(one.process.pid)
        for number in range(ROUNDS):
            print(f"round {number + 1}/{ROUNDS}…", file=sys.stderr)
            await measure_round(running)
    finally:
        for one in running:
            one.sandbox.close()
        for one in running:
            await asyncio.get_running_loop().run_in_executor(None, one.process.wait, 30)
            one.cpu.remove()
    return {one.variant.name: one.samples for one in running}


def _drop_capabilities_before() -> None:
    """What _child._drop_capabilities did before: 64 tries, prctl and capset looked up in every child."""
    import ctypes
    import errno

    from appyard_runner import _child

    libc = _child._LIBC
    for capability in range(64):
        if libc.prctl(24, capability, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:
            break
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    libc.capset(header, (ctypes.c_uint32 * 6)())
    libc.prctl(38, 1, 0, 0, 0)


def _limit_before() -> None:
    """What _child._limit (now _limit_process) did before: /proc/self/statm read through a text file object."""
    import resource

    with open("/proc/self/statm", encoding="ascii") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    extra = 256 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mapped + extra, mapped + extra))
    resource.setrlimit(resource.RLIMIT_CPU, (10, 11))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def setup_steps(workspace: Path) -> dict[str, float]:
    """Median µs of each step of a child's setup, each timed in its own child of a process holding the app."""
    from appyard_runner import _child
    from appyard_runner.appcode import AppCode

    code = AppCode(workspace, "lab")
    code.load()

    def warm() -> None:
        for page in code.pages.values():
            from appyard import execution

            execution.warm_up(page)

    steps: dict[str, Callable[[], object]] = {
        "fork, exit, reap (whole)": lambda: None,
        "os.closerange to RLIMIT_NOFILE": lambda: os.closerange(64, os.sysconf("SC_OPEN_MAX")),
        "_drop_capabilities (before)": _drop_capabilities_before,
        "_drop_capabilities": _child._drop_capabilities,
        "_limit (before)": _limit_before,
        "_limit_process": lambda: _child._limit_process(_child.ChildLimits(256, 10)),
        "_warm_up": lambda: _child._warm_up(warm),
    }
    found = {}
    for name, step in steps.items():
        times = []
        for _ in range(SETUP_SAMPLES):
            read, write = os.pipe()
            started = time.perf_counter_ns()
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    begun = time.perf_counter_ns()
                    step()
                    os.write(write, str(time.perf_counter_ns() - begun).encode())
                    status = 0
                finally:
                    os._exit(status)
            os.close(write)
            spent = os.read(read, 64)
            os.close(read)
            os.waitpid(pid, 0)
            whole = time.perf_counter_ns() - started
            times.append(whole if name.startswith("fork") else int(spent or 0))
        found[name] = statistics.median(times) / 1000
    return found


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="appyard-bench-fork-"))
    workspace = scratch / "lab"
    shutil.copytree(REPO / "tests" / "fixtures" / "lab", workspace, ignore=shutil.ignore_patterns("__pycache__"))
    prelude = scratch / "prelude.py"
    prelude.write_text(PRELUDE)
    wrapper = scratch / "python"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {prelude} "$@"\n')
    wrapper.chmod(0o755)
    chosen = os.environ.get("BENCH_FORK_VARIANTS")  # e.g. "as today,malloc hugetlb=1"
    variants = [v for v in VARIANTS if v.thp is None or os.access(THP, os.W_OK)]
    variants = [v for v in variants if chosen is None or v.name in chosen.split(",")]
    try:
        results = asyncio.run(measure(variants, workspace, scratch, str(wrapper)))
        steps = setup_steps(workspace)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{ROUNDS} rounds of {RUNS} sequential Sandbox.run() of lab/echo per variant, alternating run by run")
    print(f"THP: {THP.read_text().strip()}; hugetlbfs pages: {hugetlbfs_pages()}")
    exact = all(s.exact_cpu for samples in results.values() for s in samples)
    print("zygote + children CPU: " + ("exact (cpuacct cgroup)" if exact else "tick-sampled (coarse)"))
    columns = ("RSS MB", "anon MB", "THP MB", "fork µs", "fork CPU", "p50 ms", "p99 ms", "zyg CPU", "run CPU")
    print(f"{'variant':<31}" + "".join(f"{column:>9}" for column in columns) + "  each round: p50/zyg CPU")
    for name, samples in results.items():
        p50, p99 = summary([r for s in samples for r in s.run_ms])
        values = (
            (mean(s.rss_mb for s in samples), 1),
            (mean(s.anonymous_mb for s in samples), 1),
            (mean(s.huge_mb for s in samples), 0),
            (statistics.median(f for s in samples for f in s.fork_us), 0),
            (statistics.median(f for s in samples for f in s.fork_cpu_us), 0),
            (p50, 2),
            (p99, 2),
            (mean(s.zygote_cpu_ms for s in samples), 2),
            (mean(s.runner_cpu_ms for s in samples), 2),
        )
        per_round = " ".join(f"{statistics.median(s.run_ms):.2f}/{s.zygote_cpu_ms:.2f}" for s in samples)
        print(f"{name:<31}" + "".join(f"{value:>9.{digits}f}" for value, digits in values) + f"  {per_round}")
    print("fork CPU: the zygote's CPU µs in os.fork(); zyg CPU, run CPU: ms per run (zygote + children; this process)")
    print(f"\nchild setup steps (median of {SETUP_SAMPLES}, each in a fresh child of a process holding lab):")
    for name, micros in steps.items():
        print(f"  {name:<34}{micros:>9.0f} µs")
    print(json.dumps({"cpus": os.cpu_count(), "runs": RUNS, "rounds": ROUNDS}))


def mean(values: Iterator[float]) -> float:
    return statistics.fmean(values)


def hugetlbfs_pages() -> int:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("HugePages_Total:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
