"""Benchmark: the real stack under load (issue 12, item 5). Nothing here is asserted; it reports.

The servers are real (nats-server, the API, a runner of the lab fixture app with ``concurrency`` 8, as in
bench/runs.py; BENCH_LOAD_CONCURRENCY); the HTTP load comes from ``bench/loadgen`` (Go, built by ``make bench``),
so that a thousand clients cost the 2 cores little. Phases, each configurable by environment variable:

1. **concurrent clients** (BENCH_LOAD_CLIENTS=1000, BENCH_LOAD_SSE=100, BENCH_LOAD_SECONDS=30): closed loops of
   waited runs over keep-alive connections, plus SSE subscribers that start a run with ``?wait=false`` and read
   its events to the final status. Errors (anything but 200 + succeeded) by kind; latency; RSS peaks sampled from
   /proc every 0.5 s (the runner's figure is its whole tree: runner, zygote, the runs' processes).
2. **burst** (BENCH_LOAD_BURST=10000): runs submitted with ``?wait=false`` as fast as the generator can; the time
   until every result is stored, counted on the results bucket's subject from a connection allowed everything;
   none may be lost.
3. **memory per waiting run** (BENCH_LOAD_HOLD=1000; measured first, before other phases grow the API's heap):
   the runner is stopped, N requests wait at once (each on its own connection): the API's RSS delta / N; then N
   idle keep-alive connections more (what a connection alone costs); then a new runner answers the N runs.
4. **the knee** (BENCH_LOAD_RATES="25,50,75,100,150,…", BENCH_LOAD_STEP_SECONDS=5): open-loop arrivals at
   rising rates until p99 has passed 50 ms twice; the knee is the highest rate whose p99 stays within 50 ms.

Phases 1, 2 and 4 also report the CPU seconds each process spent: the API, the runner process, its zygote (the
forks), the runs' own processes, nats-server, and the generator itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import RawCredentials
from nats.aio.msg import Msg
from nats.js import api

from appyard.runs import RESULTS_BUCKET
from bench.processes import SAMPLE_SECONDS, Sampler, children, cpu_seconds, settled_rss, tree_cpu
from bench.stack import lab_servers, loadgen, loadgen_command
from tests.integration.servers import NatsServer, Process, runner, wait_for

CONCURRENCY = os.environ.get("BENCH_LOAD_CONCURRENCY", "8")
HOLD = int(os.environ.get("BENCH_LOAD_HOLD", "1000"))
CLIENTS = int(os.environ.get("BENCH_LOAD_CLIENTS", "1000"))
SSE = int(os.environ.get("BENCH_LOAD_SSE", "100"))
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "30"))
BURST = int(os.environ.get("BENCH_LOAD_BURST", "10000"))
BURST_CONNECTIONS = int(os.environ.get("BENCH_LOAD_BURST_CONNECTIONS", "64"))
RATES = [
    float(rate)
    for rate in os.environ.get(
        "BENCH_LOAD_RATES", "25,50,75,100,150,200,250,300,400,500,600,800,1000,1250,1500,2000"
    ).split(",")
]
STEP_SECONDS = float(os.environ.get("BENCH_LOAD_STEP_SECONDS", "5"))
KNEE_P99_MS = 50.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the generator -----------------------------------------------------------------------------------------


def errors(summary: dict[str, Any]) -> str:
    kinds = summary["error_kinds"]
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) if kinds else "none"


@dataclass
class Stack:
    """The servers under test; the runner can be stopped and a new one started."""

    workspace: Path
    logs: Path
    server: NatsServer
    api: Process
    url: str
    worker: Process | None = None

    def start_runner(self) -> None:
        worker = runner(self.workspace, "lab", self.server, self.logs, concurrency=CONCURRENCY)
        worker.start()
        self.worker = worker
        wait_for(lambda: "runner for app lab ready" in worker.output(), 60, "the runner", worker.process)

    def stop_runner(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the API, the runner process, its zygote and run children, nats-server."""
        assert self.api.process is not None
        assert self.server.process is not None
        runner_pid = self.runner_pid()
        runner = zygote = tree = 0.0
        if runner_pid is not None:
            runner = cpu_seconds(runner_pid, reaped=False)
            zygote = sum(cpu_seconds(pid, reaped=False) for pid in children(runner_pid))  # forks: the page tables
            tree = tree_cpu(runner_pid)
        return {
            "api": cpu_seconds(self.api.process.pid),
            "runner": runner,
            "zygote": zygote,
            "runs": tree - runner - zygote,
            "nats": cpu_seconds(self.server.process.pid),
        }

    def measured(self, mode: str, *flags: str) -> dict[str, Any]:
        """A generator phase, with the CPU seconds each process used during it (``cpu``)."""
        before = self.cpu()
        result = loadgen(mode, self.url, *flags)
        after = self.cpu()
        result["cpu"] = {name: after[name] - before[name] for name in before} | {"generator": result["cpu_seconds"]}
        return result

    def runner_pid(self) -> int | None:
        worker = self.worker
        return worker.process.pid if worker is not None and worker.process is not None else None


# -- phases ----------------------------------------------------------------------------------------------------


def waiting_metric(url: str) -> float:
    text = httpx.get(f"{url}/api/metrics", timeout=5).text
    found = re.search(r"^appyard_runs_waiting (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else -1.0


@dataclass
class Started:
    """A generator phase that said {"sent": N} once its N requests were out, and goes on."""

    process: subprocess.Popen[str]
    sent: dict[str, Any]

    def finished(self) -> dict[str, Any]:
        """Its figures: its last line (idle has but the "sent" one), once it ends (idle's stdin is closed)."""
        output, stderr = self.process.communicate(timeout=120)
        if self.process.returncode != 0:
            raise RuntimeError(f"loadgen exited with {self.process.returncode}: {stderr[-2000:]}")
        lines = output.strip().splitlines()
        return json.loads(lines[-1]) if lines else self.sent


def started(mode: str, url: str, count: int) -> Started:
    generator = subprocess.Popen(
        loadgen_command(mode, url, "-count", str(count)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert generator.stdout is not None
    line = generator.stdout.readline()
    sent = json.loads(line or "{}")
    if "sent" not in sent:
        generator.kill()
        raise RuntimeError(f"loadgen {mode}: {line!r} {generator.stderr.read() if generator.stderr else ''}")
    return Started(generator, sent)


def phase_memory(stack: Stack, count: int) -> dict[str, Any]:
    """The API's RSS per waiting run: N runs wait (each on its own connection) with no runner; then, while they
    still wait, N idle keep-alive connections more (what a connection alone costs); then a new runner answers."""
    assert stack.api.process is not None
    api_pid = stack.api.process.pid
    stack.stop_runner()
    before = settled_rss(api_pid)
    holding = started("hold", stack.url, count)
    deadline = time.monotonic() + 30
    waiting = 0.0
    while time.monotonic() < deadline and (waiting := waiting_metric(stack.url)) < count:
        time.sleep(0.2)
    during = settled_rss(api_pid)
    idling = started("idle", stack.url, count)
    connected = settled_rss(api_pid)  # sooner than the API's keep-alive timeout (5 s) closes them
    idle = idling.finished()  # its stdin ends: it closes the connections
    stack.start_runner()
    answered = holding.finished()
    return {
        "count": count,
        "waiting_seen": waiting,
        "api_rss_before_kib": before,
        "api_rss_waiting_kib": during,
        "api_rss_idle_kib": connected,
        "kib_per_waiting_run": (during - before) / count,
        "kib_per_idle_connection": (connected - during) / count,
        "idle": idle,
        "answered": answered,
    }


def phase_clients(stack: Stack, sampler: Sampler) -> dict[str, Any]:
    sampler.reset()
    result = stack.measured("closed", "-clients", str(CLIENTS), "-sse", str(SSE), "-duration", f"{SECONDS}s")
    time.sleep(SAMPLE_SECONDS * 2)
    result["peaks_kib"] = sampler.peaks.__dict__.copy()
    return result


async def phase_burst(stack: Stack, count: int) -> dict[str, Any]:
    """Submit ``count`` runs with wait=false; count the results as the bucket stores them."""
    client = await nats.connect(stack.server.url, user_credentials=RawCredentials(stack.server.creds()))
    stored: dict[str, tuple[float, str]] = {}
    writes = 0
    prefix = f"$KV.{RESULTS_BUCKET}."

    async def result(msg: Msg) -> None:
        nonlocal writes
        writes += 1
        run_id = msg.subject[len(prefix) :].rsplit(".", 1)[-1]
        status = json.loads(msg.data).get("status", "?") if msg.data else "deleted"
        stored[run_id] = (time.time(), status)

    js = client.jetstream()
    await js.subscribe(f"{prefix}>", cb=result, ordered_consumer=True, deliver_policy=api.DeliverPolicy.NEW)
    flags = ("-count", str(count), "-conns", str(BURST_CONNECTIONS))
    before = stack.cpu()
    submitted = await asyncio.to_thread(loadgen, "burst", stack.url, *flags)
    ids = set(submitted.pop("run_ids"))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not ids <= stored.keys():
        await asyncio.sleep(0.1)
        if stored and time.time() - max(at for at, _ in stored.values()) > 60:
            break  # nothing stored for a minute: the rest is lost
    after = stack.cpu()
    cpu = {name: after[name] - before[name] for name in before} | {"generator": submitted["cpu_seconds"]}
    await client.close()
    mine = {run_id: stored[run_id] for run_id in ids if run_id in stored}
    statuses: dict[str, int] = {}
    for _, status in mine.values():
        statuses[status] = statuses.get(status, 0) + 1
    last = max((at for at, _ in mine.values()), default=submitted["started"])
    seconds = last - submitted["started"]
    return {
        **submitted,
        "accepted": len(ids),
        "stored": len(mine),
        "lost": len(ids - mine.keys()),
        "statuses": statuses,
        "result_writes": writes,
        "drain_seconds": seconds,
        "drain_rate": len(mine) / seconds if seconds > 0 else 0.0,
        "cpu": cpu,
    }


def phase_knee(stack: Stack) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    time.sleep(3)  # let the burst's aftermath settle (the API routes its 10,000 results, nats-server writes)
    over = 0
    for rate in RATES:
        if over >= 2:
            break
        log(f"  {rate:g} runs/s for {STEP_SECONDS:g} s…")
        step = stack.measured("open", "-rate", str(rate), "-duration", f"{STEP_SECONDS}s")
        steps.append(step)
        if step["runs"]["p99_ms"] > KNEE_P99_MS or step["runs"]["errors"]:
            over += 1
        time.sleep(1)
    return steps


# -- report ------------------------------------------------------------------------------------------------------


# The runner's tree in three: the runner process, its zygote (which forks), the runs' processes (reaped or not).
PROCESSES = ("api", "runner", "zygote", "runs", "nats")


def cpu_line(cpu: dict[str, float], runs: int) -> str:
    per_run = " + ".join(f"{name} {cpu[name] * 1000 / max(runs, 1):.1f}" for name in PROCESSES)
    spent = ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
    return f"   CPU s          {spent}; per run ms: {per_run}"


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def report(memory: dict[str, Any], clients: dict[str, Any], burst: dict[str, Any], knee: list[dict[str, Any]]) -> None:
    runs, sse, peaks = clients["runs"], clients["sse"], clients["peaks_kib"]
    print()
    print(f"1. {CLIENTS:,} clients + {SSE} SSE subscribers for {SECONDS:g} s (runner concurrency {CONCURRENCY})")
    print(f"   runs           {runs['requests']:>8,}  errors: {errors(runs)}")
    rate = (runs["ok"] + sse["ok"]) / clients["seconds"]
    print(f"   runs/s         {rate:>8.0f}  waited and SSE runs, over {clients['seconds']:.1f} s (to the last answer)")
    print(f"   latency ms     p50 {runs['p50_ms']:.0f}  p99 {runs['p99_ms']:.0f}  max {runs['max_ms']:.0f}")
    print(
        f"   SSE streams    {sse['ok']:>8,}  errors: {errors(sse)}"
        f"  start → final event p50 {sse['p50_ms']:.0f} ms, p99 {sse['p99_ms']:.0f} ms"
    )
    print(f"   connections    {clients['connections']:>8,}  opened by the generator (keep-alive)")
    print(
        f"   RSS peaks      API {mib(peaks['api'])}; runner tree {mib(peaks['runner_rss'])} RSS, "
        f"{mib(peaks['runner_pss'])} PSS ({peaks['runner_processes']} processes); nats-server {mib(peaks['nats'])}"
    )
    print(cpu_line(clients["cpu"], runs["ok"] + sse["ok"]))
    submit = burst["submit"]
    print(f"2. burst of {BURST:,} runs with ?wait=false over {BURST_CONNECTIONS} connections")
    print(f"   accepted       {burst['accepted']:>8,}  in {burst['submit_seconds']:.1f} s  errors: {errors(submit)}")
    print(
        f"   stored         {burst['stored']:>8,}  lost {burst['lost']}  statuses {burst['statuses']}"
        f"  (writes on the bucket: {burst['result_writes']:,})"
    )
    print(f"   drained in     {burst['drain_seconds']:>8.1f} s  = {burst['drain_rate']:.0f} runs/s")
    print(cpu_line(burst["cpu"], burst["stored"]))
    answered = memory["answered"]["runs"]
    print(f"3. {memory['count']:,} runs waiting with no runner")
    print(
        f"   API RSS        {mib(memory['api_rss_before_kib'])} → {mib(memory['api_rss_waiting_kib'])}: "
        f"{memory['kib_per_waiting_run']:.1f} KiB per waiting run (connection included)"
    )
    print(
        f"   and {memory['idle']['connections']:,} idle keep-alive connections more: "
        f"{memory['kib_per_idle_connection']:.1f} KiB per connection"
    )
    print(f"   then answered  {answered['ok']:>8,}  errors: {errors(answered)}")
    print(f"4. open-loop arrivals, {STEP_SECONDS:g} s per rate")
    print(f"   {'rate':>6}{'achieved':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}   CPU ms/run: {', '.join(PROCESSES)}")
    for step in knee:
        r, cpu, ok = step["runs"], step["cpu"], max(step["runs"]["ok"], 1)
        print(
            f"   {step['rate']:>6.0f}{step['achieved']:>10.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors']:>8}"
            f"   {', '.join(f'{cpu[name] * 1000 / ok:.1f}' for name in PROCESSES)}"
        )
    within = [s["rate"] for s in knee if s["runs"]["p99_ms"] <= KNEE_P99_MS and not s["runs"]["errors"]]
    print(f"   knee: {max(within, default=0):.0f} runs/s (the highest rate with p99 ≤ {KNEE_P99_MS:g} ms)")
    summary = {
        "cpus": os.cpu_count(),
        "concurrency": int(CONCURRENCY),
        "clients": {
            "runs": runs["requests"],
            "errors": runs["errors"],
            "runs_per_s": round(rate, 1),
            "p50_ms": runs["p50_ms"],
            "p99_ms": runs["p99_ms"],
            "max_ms": runs["max_ms"],
            "sse_streams": sse["ok"],
            "sse_errors": sse["errors"],
            "api_rss_peak_mib": round(peaks["api"] / 1024, 1),
            "runner_rss_peak_mib": round(peaks["runner_rss"] / 1024, 1),
            "runner_pss_peak_mib": round(peaks["runner_pss"] / 1024, 1),
            "cpu_seconds": {name: round(seconds, 2) for name, seconds in clients["cpu"].items()},
        },
        "burst": {
            key: burst[key]
            for key in ("accepted", "stored", "lost", "submit_seconds", "drain_seconds", "drain_rate", "statuses")
        }
        | {"cpu_seconds": {name: round(seconds, 2) for name, seconds in burst["cpu"].items()}},
        "kib_per_waiting_run": round(memory["kib_per_waiting_run"], 1),
        "kib_per_idle_connection": round(memory["kib_per_idle_connection"], 1),
        "knee_runs_per_s": max(within, default=0),
        "knee": [[s["rate"], round(s["achieved"], 1), s["runs"]["p50_ms"], s["runs"]["p99_ms"]] for s in knee],
        "knee_cpu_ms_per_run": [
            {name: round(s["cpu"][name] * 1000 / max(s["runs"]["ok"], 1), 2) for name in PROCESSES} for s in knee
        ],
    }
    print(json.dumps(summary))


def main() -> None:
    loadgen_command("closed", "")  # exits at once, saying how to build it, when the generator is missing
    keep = bool(os.environ.get("BENCH_LOAD_KEEP"))
    with lab_servers(keep=keep) as servers:
        stack = Stack(servers.workspace, servers.logs, servers.nats, servers.api, servers.api.url)
        sampler: Sampler | None = None
        try:
            stack.start_runner()
            assert servers.api.process is not None
            assert servers.nats.process is not None
            sampler = Sampler(servers.api.process.pid, servers.nats.process.pid, stack.runner_pid)
            sampler.start()
            log("warming up (32 clients, 3 s)…")
            warm = loadgen("closed", stack.url, "-clients", "32", "-sse", "0", "-duration", "3s")
            if warm["runs"]["errors"]:
                raise RuntimeError(f"warm-up failed: {errors(warm['runs'])} (logs: {servers.logs})")
            log(f"3. {HOLD:,} runs waiting with no runner…")
            memory = phase_memory(stack, HOLD)
            log(f"1. {CLIENTS:,} clients + {SSE} SSE subscribers for {SECONDS:g} s…")
            clients = phase_clients(stack, sampler)
            log(f"2. a burst of {BURST:,} runs…")
            burst = asyncio.run(phase_burst(stack, BURST))
            log("4. the knee…")
            knee = phase_knee(stack)
        finally:
            if sampler is not None:
                sampler.stop()
            stack.stop_runner()
        if keep:
            log(f"kept {servers.scratch} (logs in {servers.logs})")
    report(memory, clients, burst, knee)


if __name__ == "__main__":
    main()
