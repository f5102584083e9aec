"""The real stack the run benchmarks measure: nats-server, the API and a runner for the lab fixture app."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.servers import Api, NatsServer, Process, runner
from tests.integration.servers import api as api_process

from .processes import children

REPO = Path(__file__).resolve().parent.parent
LOADGEN = Path(os.environ.get("BENCH_LOADGEN", REPO / "bench" / "loadgen" / "loadgen"))


def loadgen_command(mode: str, url: str, *flags: str) -> list[str]:
    """The Go load generator's command line (bench/loadgen, built by `make bench`; tests build their own)."""
    if not LOADGEN.exists():
        raise SystemExit(f"{LOADGEN} is missing: build it with `make bench/loadgen/loadgen`")
    return [str(LOADGEN), mode, "-url", url, *flags]


def loadgen(mode: str, url: str, *flags: str) -> dict[str, Any]:
    """Run the Go load generator once; its last line of output is its JSON."""
    done = subprocess.run(loadgen_command(mode, url, *flags), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen {mode} exited with {done.returncode}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Stack:
    scratch: Path
    workspace: Path
    nats: NatsServer
    api: Api
    runner: Process

    def pids(self) -> dict[str, int]:
        """The processes of the stack by role (the zygote: the first child of the runner)."""
        assert self.api.process is not None
        assert self.runner.process is not None
        assert self.nats.process is not None
        pids = {"api": self.api.process.pid, "runner": self.runner.process.pid, "nats": self.nats.process.pid}
        zygotes = children(self.runner.process.pid)
        if zygotes:
            pids["zygote"] = zygotes[0]
        return pids


@dataclass
class Servers:
    """nats-server and the API for a copy of the lab workspace; runners are the caller's."""

    scratch: Path
    workspace: Path
    logs: Path
    nats: NatsServer
    api: Api


@contextmanager
def lab_servers(*, isolation: str | None = None, keep: bool = False) -> Iterator[Servers]:
    """Start nats-server and the API for a copy of the lab app (``isolation``: override its runner.isolation;
    ``keep``: leave the scratch folder, logs included)."""
    scratch = Path(tempfile.mkdtemp(prefix="appyard-bench-"))
    workspace = scratch / "lab"
    shutil.copytree(REPO / "tests" / "fixtures" / "lab", workspace, ignore=shutil.ignore_patterns("__pycache__"))
    if isolation is not None:
        properties = workspace / "lab" / "properties.json"
        data = json.loads(properties.read_text())
        data["runner"]["isolation"] = isolation
        properties.write_text(json.dumps(data, indent=2))
    logs = scratch / "logs"
    logs.mkdir()
    server = NatsServer(store=scratch / "nats")
    server.start()
    api_server = api_process(workspace, server, logs)
    try:
        api_server.start()
        yield Servers(scratch, workspace, logs, server, api_server)
    finally:
        api_server.stop()
        server.stop()
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def lab_stack(*, concurrency: int = 8, isolation: str | None = None) -> Iterator[Stack]:
    """Start everything for the lab app (``isolation``: override the app's runner.isolation)."""
    with lab_servers(isolation=isolation) as servers:
        worker = runner(servers.workspace, "lab", servers.nats, servers.logs, concurrency=str(concurrency))
        worker.start()
        try:
            assert worker.process is not None
            deadline = time.monotonic() + 60
            while not children(worker.process.pid) and time.monotonic() < deadline:
                time.sleep(0.1)  # the zygote: the runner is loaded
            yield Stack(servers.scratch, servers.workspace, servers.nats, servers.api, worker)
        finally:
            worker.stop()
