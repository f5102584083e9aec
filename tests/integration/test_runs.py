"""Runs through the real path: HTTP → API → NATS JetStream → runner → forked child → KV → HTTP."""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Stack, make_stack, wait_ready
from .servers import NatsServer, wait_for

pytestmark = pytest.mark.integration

RUNS = "/api/apps/lab/pages/main/runs"
# Tests about how a run behaves hold for both isolation modes (runner.isolation of the lab app, see conftest.lab).
both = pytest.mark.parametrize("isolation", ["fresh", "warm"])


def start(
    client: httpx.Client, function: str, state: dict[str, Any] | None = None, wait: bool = True
) -> httpx.Response:
    return client.post(RUNS, params={"wait": str(wait).lower()}, json={"function": function, "state": state or {}})


def result_of(client: httpx.Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll GET /api/runs/{id} until the run is final (tests only; the API itself never polls)."""
    found: dict[str, Any] = {}

    def final() -> bool:
        found.update(client.get(f"/api/runs/{run_id}").json())
        return found.get("status") in ("succeeded", "failed", "cancelled")

    wait_for(final, timeout, f"run {run_id}")
    return found


def events(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    """Every SSE event of a run until its final status."""
    received = []
    with httpx.stream("GET", f"{stack.api.url}/api/runs/{run_id}/events", timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(json.loads(line.removeprefix("data: ")))
    return received


@both
def test_a_run_returns_only_what_changed(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        response = start(client, "echo", {"form": {"text": "hello"}})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["context"] == {"form": {"message": "hello", "message_type": "info"}}
    assert body["error"] is None
    assert body["duration_ms"] > 0
    assert len(body["run_id"]) == 26


@both
def test_a_run_without_waiting_then_its_status_and_events(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        accepted = start(client, "sleep", {"form": {"seconds": 0.5}}, wait=False)
        assert accepted.status_code == 202
        run_id = accepted.json()["run_id"]
        assert accepted.json()["status"] == "queued"
        seen = events(lab_stack, run_id)
        final = result_of(client, run_id)
    kinds = [(event["type"], event.get("status")) for event in seen]
    assert kinds[0] == ("status", "running")
    assert kinds[-1] == ("status", "succeeded")
    logs = "".join(event["text"] for event in seen if event["type"] == "log")
    assert logs == "sleeping\nwoke up\n"
    progress = [(event["done"], event["total"], event["text"]) for event in seen if event["type"] == "progress"]
    assert progress == [(0, 2, "started"), (2, 2, "done")]
    assert final["context"] == {"form": {"message": "slept", "message_type": "info"}}
    assert final["stdout"] == "sleeping\nwoke up\n"


@both
@pytest.mark.parametrize(
    ("function", "state", "kind", "message"),
    [
        ("spin", {}, "cpu", "more than 2 s of CPU time"),
        ("sleep", {"form": {"seconds": 30}}, "timeout", "longer than the app's timeout of 3 s"),
        ("hog", {}, "memory", "memory limit of 64 MiB"),
        ("crash", {}, "crashed", "SIGSEGV"),
        ("bad_context", {}, "invalid_context", "expected the context, got str"),
    ],
)
def test_limits_and_crashes_end_as_errors_and_the_runner_goes_on(
    lab_stack: Stack, function: str, state: dict[str, Any], kind: str, message: str
) -> None:
    with lab_stack.client() as client:
        failed = start(client, function, state)
        assert failed.status_code == 200, failed.text
        assert failed.json()["status"] == "failed"
        assert failed.json()["error"]["kind"] == kind
        assert message in failed.json()["error"]["message"]
        after = start(client, "echo", {"form": {"text": "still here"}})
    assert after.json()["context"]["form"]["message"] == "still here"


@both
def test_a_flood_of_output_is_cut_with_a_notice(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        body = start(client, "shout", {"form": {"count": 100}}).json()
        assert start(client, "echo", {"form": {"text": "next"}}).json()["status"] == "succeeded"
    assert body["status"] == "succeeded"
    assert len(body["stdout"]) < 70 * 1024  # the app keeps max_output_kb = 64
    assert body["stdout"].endswith("bytes not shown]")
    assert "[output truncated: 10479" in body["stdout"]


@both
def test_an_exception_is_a_structured_error_not_a_500(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        response = start(client, "boom", {"form": {"text": "sideways"}})
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["kind"] == "exception"
    assert error["message"] == "ValueError: it went sideways"
    assert 'misbehave.py", line' in error["traceback"] and "in _explode" in error["traceback"]
    assert "appyard_runner" not in error["traceback"]


@both
def test_concurrent_runs_do_not_share_module_state(lab_stack: Stack, isolation: str) -> None:
    results: list[int] = []

    def call() -> None:
        with lab_stack.client() as client:
            results.append(int(start(client, "leak").json()["context"]["form"]["message"]))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if isolation == "fresh":
        assert results == [1] * 6  # every run saw a fresh copy of the module
        return
    # Warm: each process counts the runs it served (1, 2, 3…), one run at a time: the counts of all processes
    # together form staircases, one per process, and no more processes than the app's concurrency (2) served.
    counts = [results.count(n) for n in range(1, max(results) + 1)]
    assert 1 <= counts[0] <= 2, results
    assert all(later <= earlier for earlier, later in itertools.pairwise(counts)), results
    assert sum(counts) == 6 and max(results) > 1, results


@both
def test_a_run_cannot_see_the_runner_or_other_runs(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        first = start(client, "where").json()["context"]["form"]["message"]
        second = start(client, "where").json()["context"]["form"]["message"]
    cwd, tmpdir, fds, files = first.split("|")
    assert cwd == tmpdir and Path(cwd).name.startswith("run-")
    assert files == second.split("|")[3] == "[]", "a run starts in an empty folder (the first left a file there)"
    assert first.split("|")[0] != second.split("|")[0], "each run has its own temporary folder"
    assert not Path(cwd).exists(), "a run's temporary folder is removed afterwards"
    # stdio, progress, result, request, and the listing itself: no sockets
    assert json.loads(fds) == [0, 1, 2, 3, 4, 5, 6]


@both
def test_processes_a_run_started_do_not_outlive_it(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        pid = int(start(client, "orphan").json()["context"]["form"]["message"])

    def gone() -> bool:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True
        return "State:\tZ" in status

    wait_for(gone, 10, f"the orphaned sleep {pid} to be killed")


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ({"function": "echo", "state": {"form": {"count": "many"}}}, 422, "invalid_state", "form.count"),
        ({"function": "echo", "state": {"form": {"colour": "red"}}}, 422, "invalid_state", "form.colour"),
        ({"function": "echo", "state": {"nowhere": {}}}, 422, "invalid_state", "nowhere"),
        ({"state": {}}, 422, "invalid_request", "function"),
        ({"function": "echo", "state": {"form": {"text": "x" * 3_000_000}}}, 413, "too_large", "limit_bytes"),
        ({"function": "fly", "state": {}}, 404, "not_found", "functions: bad_context, boom"),
    ],
)
def test_bad_requests_are_refused_with_details(
    lab_stack: Stack, body: dict[str, Any], status: int, code: str, fragment: str
) -> None:
    with lab_stack.client() as client:
        response = client.post(RUNS, json=body)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert fragment in json.dumps(response.json())


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/api/apps/nope/pages/main/runs", "no app 'nope' (apps: lab)"),
        ("/api/apps/lab/pages/side/runs", "app 'lab' has no page 'side' (pages: main)"),
    ],
)
def test_unknown_apps_and_pages_are_404(lab_stack: Stack, path: str, fragment: str) -> None:
    with lab_stack.client() as client:
        response = client.post(path, json={"function": "echo", "state": {}})
    assert response.status_code == 404
    assert fragment in response.json()["message"]


@both
def test_cancel_a_running_run(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        run_id = start(client, "sleep", {"form": {"seconds": 20}}, wait=False).json()["run_id"]
        wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "running", 20, "the run to start")
        cancelled = client.delete(f"/api/runs/{run_id}")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        time.sleep(0.5)  # the runner kills the run; its own result must not replace the cancel
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "cancelled"
        assert start(client, "echo", {"form": {"text": "after"}}).json()["status"] == "succeeded"


def test_a_runner_killed_mid_run_the_run_is_redelivered(lab_stack: Stack) -> None:
    first = lab_stack.runners["lab"][0]
    with lab_stack.client() as client:
        run_id = start(client, "sleep", {"form": {"seconds": 1.5}}, wait=False).json()["run_id"]
        wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "running", 20, "the run to start")
        first.kill()  # SIGKILL: no drain, no ack
        lab_stack.start_runner("lab")  # the consumer redelivers after the lab app's ack_wait (2 s)
        result = result_of(client, run_id)
    assert result["status"] == "succeeded"
    assert result["context"]["form"]["message"] == "slept"


def test_a_run_that_keeps_killing_its_runner_ends_as_failed(lab_stack: Stack, lab: Path) -> None:
    script = lab / "lab" / "main" / "scripts" / "poison.py"
    script.write_text(
        "import os, signal\n\n\ndef poison(state, context):\n"
        "    # Kill the runner process (this run's zygote's parent), as an out-of-memory kill of the pod would.\n"
        "    zygote = os.getppid()\n"
        "    runner = int(open(f'/proc/{zygote}/stat').read().split(')')[1].split()[1])\n"
        "    os.kill(runner, signal.SIGKILL)\n"
        "    return context\n"
    )
    lab_stack.runners["lab"][0].stop()
    lab_stack.start_runner("lab")
    with lab_stack.client() as client:
        wait_for(lambda: "poison" in str(client.get("/api/apps/lab/pages/main").json()["functions"]), 10, "poison")
        run_id = start(client, "poison", wait=False).json()["run_id"]
        deadline = time.monotonic() + 60
        result: dict[str, Any] = {}
        while time.monotonic() < deadline:
            result = client.get(f"/api/runs/{run_id}").json()
            if result["status"] == "failed":
                break
            if all(process.process and process.process.poll() is not None for process in lab_stack.runners["lab"]):
                lab_stack.start_runner("lab")  # what Kubernetes would do
            time.sleep(0.2)
    assert result["status"] == "failed", lab_stack.diagnostics()
    assert result["error"]["kind"] == "gave_up"
    assert "2 times" in result["error"]["message"]  # the lab app's runner.max_deliver (the default is 3)


def test_sigterm_drains_the_run_in_progress(lab_stack: Stack) -> None:
    runner = lab_stack.runners["lab"][0]
    with lab_stack.client() as client:
        run_id = start(client, "sleep", {"form": {"seconds": 1}}, wait=False).json()["run_id"]
        wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "running", 20, "the run to start")
        assert runner.process is not None
        runner.process.send_signal(signal.SIGTERM)
        assert runner.process.wait(30) == 0
        result = client.get(f"/api/runs/{run_id}").json()
    assert result["status"] == "succeeded", "the run finished and was stored before the runner exited"


@both
def test_changed_scripts_are_reloaded(lab_stack: Stack, lab: Path) -> None:
    lab_stack.runners["lab"][0].stop()
    lab_stack.start_runner("lab", reload="1")
    script = lab / "lab" / "main" / "scripts" / "behave.py"
    script.write_text(script.read_text().replace('set_message(state.form.text or "", "info")', 'set_message("v2")'))
    with lab_stack.client() as client:

        def reloaded() -> bool:
            return bool(start(client, "echo").json()["context"].get("form", {}).get("message") == "v2")

        wait_for(reloaded, 20, "the runner to reload the script")


def test_nats_restarted_while_idle(lab_stack: Stack) -> None:
    lab_stack.nats.stop()
    lab_stack.nats.start()
    with lab_stack.client() as client:

        def works() -> bool:
            response = start(client, "echo", {"form": {"text": "back"}})
            return response.status_code == 200 and response.json()["context"]["form"]["message"] == "back"

        wait_for(works, 30, "runs to work again after the restart")
        assert client.get("/api/health").json()["nats"] == "connected"


def test_nats_restarted_under_load_loses_no_accepted_run(lab_stack: Stack) -> None:
    accepted: list[str] = []
    refused: list[int] = []
    stop = threading.Event()

    def submit() -> None:
        with lab_stack.client() as client:
            while not stop.is_set():
                try:
                    response = start(client, "echo", {"form": {"text": "x"}}, wait=False)
                except httpx.HTTPError:
                    continue
                if response.status_code == 202:
                    accepted.append(response.json()["run_id"])
                else:
                    refused.append(response.status_code)
                time.sleep(0.01)

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    lab_stack.nats.stop()
    time.sleep(0.5)
    lab_stack.nats.start()
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join()
    assert set(refused) <= {503}, "a run is either accepted or refused as temporarily unavailable"
    assert len(accepted) > 20
    with lab_stack.client() as client:
        statuses = {run_id: result_of(client, run_id)["status"] for run_id in accepted}
    assert set(statuses.values()) == {"succeeded"}, lab_stack.diagnostics()


def test_health_and_metrics(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        health = client.get("/api/health")
        metrics = client.get("/api/metrics").text
    assert health.status_code == 200
    assert health.json()["nats"] == "connected"
    assert 'appyard_runs_total{app="lab",status="succeeded"}' in metrics


def test_the_sample_apps_run(workspace_copy: Path, nats: NatsServer, logs: Path) -> None:
    stack = make_stack(workspace_copy, nats, logs)
    try:
        stack.start_runner("orders")
        wait_ready(stack, "orders", "orders", "close_editor")
        paid = {"column": "status", "operator": "in", "value": ["paid"]}
        table = {"table": "orders", "action": "query", "query": {"filters": [paid], "limit": 5}}
        with stack.client() as client:
            response = client.post(
                "/api/apps/orders/pages/orders/runs", json={"function": "list_orders", "state": {}, "table": table}
            )
        orders = response.json()["context"]["orders"]
        assert orders["data"] and {row["status"] for row in orders["data"]} == {"paid"}, response.text
        assert len(orders["data"]) <= 5
    finally:
        stack.stop()


Check = Callable[[], bool]
