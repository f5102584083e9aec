"""The runner's log: one line per finished run, JSON when APPYARD_LOG_FORMAT=json (as in a pod), text otherwise.

A real runner behind the real API and nats-server serves the lab app; its stderr goes to a file, read back here as
`kubectl logs` would show it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import LAB_ENV, Stack, make_stack, wait_ready
from .servers import NatsServer, Process, wait_for

pytestmark = pytest.mark.integration

RUNS = "/api/apps/lab/pages/main/runs"


def _stack(lab: Path, nats: NatsServer, logs: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Stack:
    monkeypatch.delenv("APPYARD_LOG_FORMAT", raising=False)  # only what the test gives the runner
    stack = make_stack(lab, nats, logs, run_wait_seconds="20")
    stack.start_runner("lab", {**LAB_ENV, **env})
    return stack


def _run(stack: Stack, function: str, state: dict[str, Any]) -> dict[str, Any]:
    with stack.client() as client:
        response = client.post(RUNS, json={"function": function, "state": state})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _json_lines(runner: Process) -> list[dict[str, Any]]:
    lines = []
    for line in runner.output().splitlines():
        lines.append(json.loads(line))  # every line is one JSON object: none of text, none split
    return lines


def _line_of(runner: Process, run_id: str) -> dict[str, Any]:
    """The runner's line about run ``run_id`` (it is written just after the result is stored: wait for it)."""
    found: list[dict[str, Any]] = []

    def logged() -> bool:
        found[:] = [line for line in _json_lines(runner) if line.get("run_id") == run_id]
        return bool(found)

    wait_for(logged, 10, f"the runner's line about run {run_id} (log: {runner.log})")
    (line,) = found
    return line


def test_json_lines_say_each_runs_ids_status_and_timing(
    lab: Path, nats: NatsServer, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _stack(lab, nats, logs, monkeypatch, APPYARD_LOG_FORMAT="json")
    try:
        wait_ready(stack)
        ok = _run(stack, "echo", {"form": {"text": "private-state"}})
        failed = _run(stack, "spill_and_raise", {})
        (runner,) = stack.runners["lab"]
        line = _line_of(runner, ok["run_id"])
        assert line["level"] == "info" and line["logger"] == "appyard.runner"
        assert line["message"] == f"run {ok['run_id']} echo: ok in {ok['duration_ms']:.1f} ms"
        assert {key: line[key] for key in ("app", "page", "function", "status", "attempt")} == {
            "app": "lab",
            "page": "main",
            "function": "echo",
            "status": "succeeded",
            "attempt": 1,
        }
        assert line["duration_ms"] == pytest.approx(ok["duration_ms"], abs=0.001)
        assert "error_kind" not in line
        line = _line_of(runner, failed["run_id"])
        assert (line["function"], line["status"], line["error_kind"]) == ("spill_and_raise", "failed", "exception")
        assert line["message"].startswith(f"run {failed['run_id']} spill_and_raise: failed (exception) in ")
        # Ids, names, status and timings only: not the state, the output, the error's text or the secret in it.
        output = runner.output()
        for private in ("private-state", LAB_ENV["LAB_SECRET"], "login refused"):
            assert private not in output
    except BaseException:
        print(stack.diagnostics())
        raise
    finally:
        stack.stop()


def test_text_when_the_variable_is_not_set(
    lab: Path, nats: NatsServer, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As under `appyard dev`, which sets no APPYARD_LOG_FORMAT: lines for people.
    stack = _stack(lab, nats, logs, monkeypatch)
    try:
        wait_ready(stack)
        ok = _run(stack, "echo", {"form": {"text": "hi"}})
        (runner,) = stack.runners["lab"]
        expected = re.compile(rf"^\S+ \S+ appyard\.runner INFO run {ok['run_id']} echo: ok in \d+\.\d ms$", re.M)
        wait_for(lambda: expected.search(runner.output()) is not None, 10, f"a text line (log: {runner.log})")
    finally:
        stack.stop()
