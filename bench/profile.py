"""Where a run's time goes: each hop measured alone, and the CPU each process spends per run.

``python -m bench.profile`` (part of ``make bench``). A run of the lab app's ``echo`` is taken apart by measuring
ever shorter paths, one request at a time, in the same run:

1. **end to end**: HTTP POST → API → NATS → runner → child → KV → API → response;
2. **HTTP + auth**: ``GET /api/me`` on the same keep-alive connection (the API's fixed cost per request);
3. **broker path**: the run request published straight to the runs stream, its result awaited on one KV watch
   (everything the runner and NATS do; no HTTP, no API);
4. **sandbox**: ``Sandbox.run`` in this process (hand-off to a child forked ahead, the run, the result back);
5. **the function**: ``execution.execute`` in this process (validation, the call, the diff; no process);
6. **floor**: publish → a worker that only writes a KV entry → one watch (see bench/runs.py).

The differences between neighbours are the hops' costs. Then, under ``PROFILE_CONCURRENCY`` concurrent
clients for ``PROFILE_SECONDS``, the CPU milliseconds each process spent per run (from /proc: the zygote's
figure includes the children it forked and reaped). Nothing here is asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import RawCredentials
from nats.aio.msg import Msg
from nats.js import api

from appyard import execution
from appyard.runs import RESULTS_BUCKET, RunRequest, new_run_id, runs_subject
from appyard_runner.appcode import AppCode
from appyard_runner.sandbox import Limits, Sandbox

from .processes import cpu_seconds, tree_cpu
from .runs import bench_floor, latency, summary
from .stack import Stack, lab_stack, loadgen

RUNS = int(os.environ.get("PROFILE_RUNS", "500"))
SECONDS = float(os.environ.get("PROFILE_SECONDS", "5"))
CONCURRENCY = int(os.environ.get("PROFILE_CONCURRENCY", "32"))
ISOLATION = os.environ.get("PROFILE_ISOLATION") or None
STATE: dict[str, Any] = {"form": {"text": "hi"}}
BODY = {"function": "echo", "state": STATE}


async def http_paths(url: str) -> dict[str, list[float]]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def run() -> None:
            response = await client.post("/api/apps/lab/pages/main/runs", json=BODY)
            if response.status_code != 200 or response.json()["status"] != "succeeded":
                raise RuntimeError(f"run failed: {response.status_code} {response.text[:300]}")

        async def me() -> None:
            (await client.get("/api/me")).raise_for_status()

        return {"end to end": await latency(run, RUNS), "HTTP + auth": await latency(me, RUNS)}


async def broker_path(stack: Stack) -> list[float]:
    """Publish run requests as the API does and await each result on one watch of the results bucket."""
    client = await nats.connect(stack.nats.url, user_credentials=RawCredentials(stack.nats.creds()))
    js = client.jetstream()
    waiters: dict[str, asyncio.Future[bytes]] = {}

    async def routed(msg: Msg) -> None:
        future = waiters.pop(msg.subject.rsplit(".", 1)[-1], None)
        if future is not None and not future.done():
            future.set_result(msg.data)

    await js.subscribe(
        f"$KV.{RESULTS_BUCKET}.local.lab.>",
        stream=f"KV_{RESULTS_BUCKET}",
        cb=routed,
        ordered_consumer=True,
        deliver_policy=api.DeliverPolicy.NEW,
    )

    async def call() -> None:
        request = RunRequest(
            run_id=new_run_id(),
            namespace="local",
            app="lab",
            page="main",
            function="echo",
            state=STATE,
            submitted_at=time.time(),
            user="bench",
        )
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        waiters[request.run_id] = future
        await js.publish(
            runs_subject("local", "lab"), request.model_dump_json().encode(), headers={"Nats-Msg-Id": request.run_id}
        )
        if b'"succeeded"' not in await future:
            raise RuntimeError("a run on the broker path failed")

    try:
        return await latency(call, RUNS)
    finally:
        await client.close()


async def sandbox_path(stack: Stack) -> list[float]:
    settings = AppCode(stack.workspace, "lab", functions=False)
    settings.load()
    app = settings.settings
    limits = Limits.of(app)
    sandbox = Sandbox(stack.workspace, "lab", limits, tmp_root=stack.scratch / "logs", warm=2)
    await sandbox.start()
    request = {"page": "main", "function": "echo", "state": STATE}

    async def call() -> None:
        outcome = await sandbox.run(request)
        if outcome.error is not None:
            raise RuntimeError(f"a sandboxed run failed: {outcome.error}")

    try:
        return await latency(call, RUNS)
    finally:
        sandbox.close()


async def function_only(workspace: Path) -> list[float]:
    code = AppCode(workspace, "lab")
    code.load()
    page = code.page("main")

    async def call() -> None:
        execution.execute(page, "echo", STATE, code.root)

    return await latency(call, RUNS)


def cpu_per_run(stack: Stack) -> tuple[float, dict[str, float]]:
    """Runs/s under concurrent clients (the Go load generator), and each process's CPU ms per run meanwhile."""
    url = stack.api.url
    loadgen("closed", url, "-clients", str(CONCURRENCY), "-sse", "0", "-duration", "1s")  # every connection, child
    pids = stack.pids()

    # The zygote's tree: its children may live long (isolation warm), reaped ones count in its own figure.
    def used(role: str, pid: int) -> float:
        return tree_cpu(pid) if role == "zygote" else cpu_seconds(pid)

    before = {role: used(role, pid) for role, pid in pids.items()}
    phase = loadgen("closed", url, "-clients", str(CONCURRENCY), "-sse", "0", "-duration", f"{SECONDS}s")
    done = phase["runs"]["ok"]
    spent = {role: (used(role, pid) - before[role]) * 1000 for role, pid in pids.items()}
    spent["load generator"] = phase["cpu_seconds"] * 1000 if "cpu_seconds" in phase else 0.0
    return done / phase["seconds"], {role: total / max(done, 1) for role, total in spent.items()}


def main() -> None:
    with lab_stack(isolation=ISOLATION) as stack:
        print(f"profiling the lab app's echo ({RUNS} sequential runs per path)…", file=sys.stderr)
        paths = asyncio.run(http_paths(stack.api.url))
        paths["broker path"] = asyncio.run(broker_path(stack))
        paths["sandbox"] = asyncio.run(sandbox_path(stack))
        paths["the function"] = asyncio.run(function_only(stack.workspace))
        paths["floor"] = asyncio.run(bench_floor(stack.nats, RUNS, 0))[0]
        print(f"measuring CPU per run ({CONCURRENCY} clients for {SECONDS:g} s)…", file=sys.stderr)
        rate, cpu = cpu_per_run(stack)
    medians = {name: summary(samples)[0] for name, samples in paths.items()}
    print(f"\n{'path (sequential)':<28}{'p50 ms':>9}{'p99 ms':>9}")
    for name, samples in paths.items():
        p50, p99 = summary(samples)
        print(f"{name:<28}{p50:>9.3f}{p99:>9.3f}")
    hops = {
        "API (HTTP, auth, checks)": medians["end to end"] - medians["broker path"],
        "  of which HTTP + auth": medians["HTTP + auth"],
        "runner + NATS": medians["broker path"] - medians["sandbox"],
        "  of which the NATS floor": medians["floor"],
        "hand-off to a child": medians["sandbox"] - medians["the function"],
        "the function itself": medians["the function"],
    }
    print(f"\n{'where the p50 goes':<28}{'ms':>9}")
    for name, value in hops.items():
        print(f"{name:<28}{value:>9.3f}")
    print(f"\nCPU per run at {rate:.0f} runs/s ({CONCURRENCY} clients)")
    for role, value in cpu.items():
        print(f"{role:<28}{value:>9.2f} ms")
    print(json.dumps({"p50": medians, "cpu_ms_per_run": cpu, "runs_per_second": rate, "isolation": ISOLATION}))


if __name__ == "__main__":
    main()
