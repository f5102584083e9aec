"""Benchmark: one run through the sandbox alone (no NATS, no API), isolation fresh beside warm, interleaved.

``Sandbox.run`` of the lab app's ``echo`` from the runner's side: hand the request to a child, read its result
(fresh: a child forked ahead, killed afterwards, a replacement forked; warm: a long-lived child). Rounds
alternate the modes (fresh, warm, fresh, …) so a noisy machine shifts both alike. With ``--burst``, also
waves of ``--concurrent`` fresh runs at a time, to compare asking for a child's replacement when it is taken
with asking once its run is done (``sandbox.REPLACE_EARLY``). Nothing here is asserted.

    .venv/bin/python -m bench.sandbox [--runs 300] [--burst] [--concurrent 4]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from appyard_runner import sandbox
from appyard_runner.sandbox import Limits, Sandbox

LAB = Path(__file__).parent.parent / "tests" / "fixtures" / "lab"
REQUEST = {"page": "main", "function": "echo", "state": {"form": {"text": "hi"}}}


def limits(isolation: str) -> Limits:
    return Limits(timeout_seconds=10, memory_mb=256, cpu_seconds=10, max_output_bytes=65536, isolation=isolation)


def summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    mean = statistics.mean(ordered)
    return f"{label:<28} n={len(ordered):<5} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  mean {mean:6.2f} ms"


async def sequential(boxes: dict[str, Sandbox], runs: int, gap: float) -> dict[str, list[float]]:
    """Runs one after another, in rounds of 10 per mode (fresh, warm, fresh, …); ``gap`` seconds between runs
    (0: back to back, so a fresh child's replacement is forked while the next run executes)."""
    times: dict[str, list[float]] = {name: [] for name in boxes}
    cpu = dict.fromkeys(boxes, 0.0)
    for _ in range(max(1, runs // 10)):
        for name, box in boxes.items():
            for _ in range(10):
                started, used = time.perf_counter(), time.process_time()
                result = await box.run(REQUEST)
                times[name].append((time.perf_counter() - started) * 1000)
                cpu[name] += time.process_time() - used
                assert result.error is None, result.error
                if gap:
                    await asyncio.sleep(gap)
    for name, total in cpu.items():
        print(f"  {name}: the runner's CPU {total / len(times[name]) * 1000:.2f} ms per run")
    return times


async def burst(box: Sandbox, concurrent: int, waves: int) -> list[float]:
    """Latency of each run in ``waves`` back-to-back waves of ``concurrent`` runs started at once (as many as the
    runner's slots and children forked ahead), then a pause in which the pool refills."""
    latencies: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        await box.run(REQUEST)
        latencies.append((time.perf_counter() - started) * 1000)

    for _ in range(waves):
        await asyncio.gather(*(one() for _ in range(concurrent)))
    await asyncio.sleep(0.1)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--concurrent", type=int, default=4)
    options = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    workspace = tmp / "lab"
    shutil.copytree(LAB, workspace, ignore=shutil.ignore_patterns("__pycache__"))
    boxes = {name: Sandbox(workspace, "lab", limits(name), tmp_root=tmp, warm=2) for name in ("fresh", "warm")}
    try:
        for box in boxes.values():
            await box.start()
        await sequential(boxes, 20, 0.02)  # warm up both
        for gap in (0.02, 0.0):
            for name, samples in (await sequential(boxes, options.runs, gap)).items():
                print(summary(f"{name}, {gap * 1000:g} ms apart", samples))
        if options.burst:
            fresh = Sandbox(workspace, "lab", limits("fresh"), tmp_root=tmp, warm=options.concurrent)
            boxes["burst"] = fresh
            await fresh.start()
            await burst(fresh, options.concurrent, 3)
            walls: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(options.runs // (options.concurrent * 3)):
                for early in (False, True):
                    sandbox.REPLACE_EARLY = early
                    walls[early] += await burst(fresh, options.concurrent, 3)
            for early, samples in walls.items():
                label = f"fresh, waves of {options.concurrent}, {'early' if early else 'after'}"
                print(summary(label, samples))
    finally:
        for box in boxes.values():
            box.close()
        await asyncio.sleep(0.2)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
