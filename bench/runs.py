"""Benchmark: end-to-end runs (HTTP POST → context back), beside two baselines measured in the same run.

1. **appyard** — the real path: uvicorn API → NATS JetStream → runner → fresh forked child → KV → API.
   The function is the lab app's `echo` (validate state, set a message, diff the context).
2. **floor** — the least any design on NATS can do: publish → a worker that only writes a KV entry → one
   long-lived KV watch routes it to the waiter. No HTTP, no validation, no process per run.
3. **original design** — what the tool that inspired Appyard did: a fresh Python process per run (which
   imports the page and calls the function), with the caller polling for the result every 100 ms.

Latency is sequential (one request at a time); throughput uses concurrent clients. Goals (DESIGN: "far
faster than the original"): p50 ≤ 3 ms, p99 ≤ 10 ms, ≥ 1,000 runs/s. Nothing here is asserted.
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

import httpx
import nats
from nats.aio.client import RawCredentials
from nats.aio.msg import Msg
from nats.js import api

from tests.integration.servers import NatsServer

from .stack import lab_stack

LATENCY_RUNS = int(os.environ.get("BENCH_LATENCY_RUNS", "1000"))
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


async def bench_appyard(url: str) -> tuple[list[float], float]:
    body = {"function": "echo", "state": {"form": {"text": "hi"}}}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def call() -> None:
            response = await client.post("/api/apps/lab/pages/main/runs", json=body)
            if response.status_code != 200 or response.json()["status"] != "succeeded":
                raise RuntimeError(f"run failed: {response.status_code} {response.text[:300]}")

        samples = await latency(call, LATENCY_RUNS)
        rate = await throughput(call, THROUGHPUT_SECONDS, CONCURRENCY)
    return samples, rate


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
    rows = []
    with lab_stack(isolation=os.environ.get("BENCH_ISOLATION") or None) as stack:
        plan = f"{LATENCY_RUNS} sequential runs, then {CONCURRENCY} clients for {THROUGHPUT_SECONDS:g} s"
        print(f"measuring appyard ({plan})…", file=sys.stderr)
        rows.append(("appyard: HTTP → NATS → runner → fresh child → KV", *asyncio.run(bench_appyard(stack.api.url))))
        print("measuring the NATS floor…", file=sys.stderr)
        rows.append(("floor: NATS publish → worker → KV → one watch", *asyncio.run(bench_floor(stack.nats))))
        print(f"measuring the original design ({ORIGINAL_RUNS} runs)…", file=sys.stderr)
        rows.append(
            ("original: process per run, 100 ms polling", *asyncio.run(bench_original(stack.workspace, stack.scratch)))
        )
    print()
    print(f"{'end-to-end run':<52}{'p50 ms':>9}{'p99 ms':>9}{'runs/s':>9}")
    for name, samples, rate in rows:
        p50, p99 = summary(samples)
        print(f"{name:<52}{p50:>9.2f}{p99:>9.2f}{rate:>9.0f}")
    appyard_p50, original_p50 = summary(rows[0][1])[0], summary(rows[2][1])[0]
    print(f"\nappyard vs original: {original_p50 / appyard_p50:.0f}x lower p50")
    print("goals: p50 ≤ 3 ms, p99 ≤ 10 ms, ≥ 1000 runs/s")
    print(json.dumps({"cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
