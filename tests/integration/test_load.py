"""The load benchmark's tools (bench/load.py and its Go generator) against a real nats-server, API and lab runner,
with small numbers: what they count must be what happened (runs, failures by kind, SSE streams, stored results,
waiting requests), or the figures of `make bench` would mean nothing. Timings are never asserted."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import load
from bench import stack as bench_stack

from .conftest import FIXTURES
from .servers import NatsServer
from .servers import api as api_process

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent.parent
GO = shutil.which("go") or "/usr/local/go/bin/go"


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("loadgen") / "loadgen"
    subprocess.run([GO, "build", "-o", str(binary), "."], cwd=REPO / "bench" / "loadgen", check=True)
    return binary


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, loadgen: Path) -> Iterator[load.Stack]:
    """One stack for the module (each phase leaves it as it found it: idle, a runner running)."""
    scratch = tmp_path_factory.mktemp("load")
    workspace = scratch / "lab"
    shutil.copytree(FIXTURES / "lab", workspace, ignore=shutil.ignore_patterns("__pycache__"))
    logs = scratch / "logs"
    logs.mkdir()
    nats = NatsServer(store=scratch / "nats")
    nats.start()
    server = api_process(workspace, nats, logs)
    server.start()
    running = load.Stack(workspace, logs, nats, server, server.url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench_stack, "LOADGEN", loadgen)
        running.start_runner()
        yield running
    running.stop_runner()
    server.stop()
    nats.stop()


def body(function: str) -> str:
    return f'{{"function":"{function}","state":{{"form":{{"text":"hi"}}}}}}'


def test_closed_loops_count_runs_and_streams_and_see_every_failure(stack: load.Stack) -> None:
    fine = stack.measured("closed", "-clients", "4", "-sse", "2", "-duration", "1s")
    assert fine["runs"]["ok"] > 0
    assert fine["runs"]["errors"] == 0, fine
    assert fine["sse"]["ok"] > 0
    assert fine["sse"]["errors"] == 0, fine
    assert fine["connections"] == 6  # keep-alive: one connection per client, however many runs
    assert fine["cpu"]["api"] > 0
    assert fine["cpu"]["runner"] > 0
    assert fine["cpu"]["zygote"] > 0
    assert fine["cpu"]["runs"] > 0

    failing = bench_stack.loadgen(
        "closed", stack.url, "-clients", "2", "-sse", "1", "-duration", "1s", "-body", body("boom")
    )
    assert failing["runs"]["ok"] == 0
    assert failing["runs"]["error_kinds"] == {"run_failed": failing["runs"]["requests"]}
    assert failing["runs"]["requests"] > 0
    assert failing["sse"]["error_kinds"] == {"sse_run_failed": failing["sse"]["requests"]}

    missing = bench_stack.loadgen(
        "open", stack.url, "-rate", "10", "-duration", "1s", "-path", "/api/apps/nope/pages/main/runs"
    )
    assert missing["runs"]["error_kinds"] == {"http_404": 10}


def test_a_burst_is_counted_on_the_results_bucket(stack: load.Stack) -> None:
    burst = asyncio.run(load.phase_burst(stack, 40))
    assert burst["accepted"] == 40
    assert burst["stored"] == 40
    assert burst["lost"] == 0
    assert burst["statuses"] == {"succeeded": 40}


def test_waiting_runs_are_held_until_a_runner_answers_them(stack: load.Stack) -> None:
    memory = load.phase_memory(stack, 20)
    assert memory["waiting_seen"] == 20  # the API's gauge saw them all waiting while no runner ran
    assert memory["answered"]["runs"]["ok"] == 20, memory
    assert memory["answered"]["connections"] == 20
    assert memory["idle"]["connections"] == 20  # each idle connection its own, all open at once
    assert memory["idle"]["errors"] == 0


def test_open_loop_arrivals_start_every_scheduled_run(stack: load.Stack) -> None:
    step = bench_stack.loadgen("open", stack.url, "-rate", "20", "-duration", "1s")
    assert step["runs"]["requests"] == 20
    assert step["runs"]["errors"] == 0, step
