"""Benchmark: end-to-end runs (HTTP POST → context back), beside two baselines measured in the same run.

1. **appyard** — the real path: uvicorn API → NATS JetStream → runner → fresh forked child → KV → API.
   The function is the lab app's `echo` (validate state, set a message, diff the context).
2. **floor** — the least any design on NATS can do: publish → a worker that only writes a KV entry → one
   long-lived KV watch routes it to the waiter. No HTTP, no validation, no process per run.
3. **original design** — what the tool that inspired Appyard did: a fresh Python process per run (which
   imports the page and calls the function), with the caller polling for the result every 100 ms.

Appyard is measured with each isolation (``fresh``, the default: a new process per run; ``warm``: a long-lived
child per slot), by the Go load generator (bench/loadgen): latency one request at a time, throughput with
``BENCH_CONCURRENCY`` clients. Goals (issue 12): fresh p50 ≤ 3 ms, p99 ≤ 8 ms, ≥ 500 runs/s; warm p50 ≤ 1.5 ms,
p99 ≤ 4 ms, ≥ 1,500 runs/s. Nothing here is asserted. ``bench/profile.py`` says where the time goes.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from nats.aio.client import RawCredentials
from nats.aio.msg import Msg
from nats.js import api

from tests.integration.servers import NatsServer

from .stack import lab_stack, loadgen

LATENCY_RUNS = int(os.environ.get("BENCH_LATENCY_RUNS", "1000"))  # the floor's sequential runs
LATENCY_SECONDS = float(os.environ.get("BENCH_LATENCY_SECONDS", "5"))  # Appyard's sequential runs
THROUGHPUT_SECONDS = float(os.environ.get("BENCH_THROUGHPUT_SECONDS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
ORIGINAL_RUNS = int(os.environ.get("BENCH_ORIGINAL_RUNS", "30"))


def summary(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=100)[98]


async def latency(call: Callable[[], Awaitable[None]], count: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def throughput(call: Callable[[], Awaitable[None]], seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


def bench_appyard(url: str) -> tuple[float, float, float]:
    """p50 and p99 of sequential runs, and runs/s under CONCURRENCY clients, from the Go load generator (an
    httpx client spent 4–6 ms of CPU per run: a third of the machine, taken from the stack it measured)."""
    loadgen("closed", url, "-clients", str(CONCURRENCY), "-sse", "0", "-duration", "2s")  # warm every child
    sequential = loadgen("closed", url, "-clients", "1", "-sse", "0", "-duration", f"{LATENCY_SECONDS}s")
    concurrent = loadgen(
        "closed", url, "-clients", str(CONCURRENCY), "-sse", "0", "-duration", f"{THROUGHPUT_SECONDS}s"
    )
    for phase in (sequential, concurrent):
        if phase["runs"]["errors"]:
            raise RuntimeError(f"runs failed: {phase['runs']['error_kinds']}")
    runs = sequential["runs"]
    return runs["p50_ms"], runs["p99_ms"], concurrent["runs"]["ok"] / concurrent["seconds"]


async def bench_floor(
    server: NatsServer, runs: int = LATENCY_RUNS, seconds: float = THROUGHPUT_SECONDS
) -> tuple[list[float], float]:
    """publish → worker → KV put → one watch → waiter, all with nats-py on one connection per side (``seconds``: of
    the throughput measure; 0 skips it)."""
    # Credentials that may do anything: the floor measures NATS, not Appyard's permissions.
    client = await nats.connect(server.url, user_credentials=RawCredentials(server.creds()))
    worker_connection = await nats.connect(server.url, user_credentials=RawCredentials(server.creds()))
    js = client.jetstream()
    worker_js = worker_connection.jetstream()
    floor = api.StreamConfig(name="FLOOR", subjects=["floor.>"], retention=api.RetentionPolicy.WORK_QUEUE)
    await js.add_stream(floor)
    kv = await js.create_key_value(bucket="FLOOR_RESULTS", ttl=600)
    worker_kv = await worker_js.key_value("FLOOR_RESULTS")
    waiters: dict[str, asyncio.Future[bytes]] = {}

    async def routed(msg: Msg) -> None:
        key = msg.subject.rsplit(".", 1)[-1]
        future = waiters.pop(key, None)
        if future is not None and not future.done():
            future.set_result(msg.data)

    await js.subscribe("$KV.FLOOR_RESULTS.>", cb=routed, ordered_consumer=True, deliver_policy=api.DeliverPolicy.NEW)

    async def work(msg: Msg) -> None:
        await worker_kv.put(msg.data.decode(), b'{"ok": true}')
        await msg.ack()

    await worker_js.subscribe(
        "floor.>", durable="floor", cb=work, manual_ack=True, config=api.ConsumerConfig(max_ack_pending=1000)
    )
    counter = 0

    async def call() -> None:
        nonlocal counter
        counter += 1
        key = f"k{counter}"
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        waiters[key] = future
        await js.publish("floor.run", key.encode())
        await future

    samples = await latency(call, runs)
    rate = await throughput(call, seconds, CONCURRENCY) if seconds else 0.0
    del kv
    await client.close()
    await worker_connection.close()
    return samples, rate


ORIGINAL_SCRIPT = """
import json, sys
from pathlib import Path
from appyard import execution, workspace
root = Path(sys.argv[1])
page = workspace.load_page("lab", root / "lab" / "main")
loaded = execution.load(page, root)
outcome = execution.execute(loaded, "echo", {"form": {"text": "hi"}}, root)
Path(sys.argv[2]).write_text(json.dumps(outcome.changes))
"""


async def bench_original(workspace: Path, scratch: Path) -> tuple[list[float], float]:
    """A fresh Python process per run; the caller checks for the result every 100 ms."""
    counter = 0

    async def call() -> None:
        nonlocal counter
        counter += 1
        result = scratch / f"result-{counter}.json"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", ORIGINAL_SCRIPT, str(workspace), str(result)
        )
        while not result.exists():
            await asyncio.sleep(0.1)
        await process.wait()

    samples = await latency(call, ORIGINAL_RUNS, warmup=2)
    rate = await throughput(call, THROUGHPUT_SECONDS, 4)
    return samples, rate


def main() -> None:
    rows: list[tuple[str, float, float, float]] = []
    for isolation in ("fresh", "warm"):
        with lab_stack(isolation=isolation) as stack:
            plan = f"sequential runs for {LATENCY_SECONDS:g} s, then {CONCURRENCY} clients for {THROUGHPUT_SECONDS:g} s"
            print(f"measuring appyard, isolation {isolation} ({plan})…", file=sys.stderr)
            rows.append((f"appyard, {isolation}: HTTP → NATS → runner → child → KV", *bench_appyard(stack.api.url)))
            if isolation == "fresh":
                print("measuring the NATS floor…", file=sys.stderr)
                samples, rate = asyncio.run(bench_floor(stack.nats))
                rows.append(("floor: NATS publish → worker → KV → one watch", *summary(samples), rate))
                print(f"measuring the original design ({ORIGINAL_RUNS} runs)…", file=sys.stderr)
                samples, rate = asyncio.run(bench_original(stack.workspace, stack.scratch))
                rows.append(("original: process per run, 100 ms polling", *summary(samples), rate))
    print()
    print(f"{'end-to-end run':<56}{'p50 ms':>9}{'p99 ms':>9}{'runs/s':>9}")
    for name, p50, p99, rate in rows:
        print(f"{name:<56}{p50:>9.2f}{p99:>9.2f}{rate:>9.0f}")
    fresh, floor, original, warm = rows
    print(
        f"\nfresh vs original: {original[1] / fresh[1]:.0f}x lower p50; "
        f"vs the floor: {fresh[1] / floor[1]:.1f}x the p50, {fresh[3] / floor[3]:.0%} of its runs/s"
    )
    print(f"warm vs the floor: {warm[1] / floor[1]:.1f}x the p50, {warm[3] / floor[3]:.0%} of its runs/s")
    print("goals (issue 12): fresh p50 ≤ 3 ms, p99 ≤ 8 ms, ≥ 500 runs/s; warm p50 ≤ 1.5 ms, p99 ≤ 4 ms, ≥ 1,500 runs/s")
    print(json.dumps({"cpus": os.cpu_count(), "rows": rows}))


if __name__ == "__main__":
    main()
