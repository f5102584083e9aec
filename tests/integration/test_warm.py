"""isolation warm: what a long-lived process keeps between the runs it serves, and every reason it is replaced.

The rest of the run behaviour (limits, crashes, output, tracebacks, cancel, temporary folders, reload) is proven
for both isolation modes by the parametrized tests in test_runs.py.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Stack
from .servers import wait_for

pytestmark = pytest.mark.integration

RUNS = "/api/apps/lab/pages/main/runs"
LIFE = '''"""Functions that show a warm process's life: which process ran, what it kept, what it left behind."""

from __future__ import annotations

import json
import os
import struct
import threading
import time

from ..context import Context
from ..state import State

CALLS = {"n": 0}
KEPT: list[bytearray] = []


def count(state: State, context: Context) -> Context:
    CALLS["n"] += 1
    context.form.set_message(f"{os.getpid()} {CALLS['n']} VERSION")
    return context


def linger(state: State, context: Context) -> Context:
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    return context


def hoard(state: State, context: Context) -> Context:
    KEPT.append(bytearray(40 * 1024 * 1024))  # kept in module state: past the lab's warm_max_growth_mb (32)
    return context


def daemon(state: State, context: Context) -> Context:
    """Start a process whose parent exits at once (a double fork)."""
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            time.sleep(60)
        os._exit(0)
    os.waitpid(pid, 0)
    return context


def forge(state: State, context: Context) -> Context:
    """Write a result frame of its own to the result pipe (fd 4), ahead of the real one."""
    body = json.dumps({"value": {"form": {"message": "forged"}}}).encode()
    os.write(4, struct.pack(">I", len(body)) + body)
    return context
'''


@pytest.fixture
def isolation() -> str:
    return "warm"


@pytest.fixture
def lab(lab: Path) -> Path:
    (lab / "lab" / "main" / "scripts" / "life.py").write_text(LIFE.replace("VERSION", "v1"))
    return lab


def run(client: httpx.Client, function: str) -> dict[str, Any]:
    response = client.post(RUNS, json={"function": function, "state": {}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def count(client: httpx.Client) -> tuple[int, int, str]:
    """(process id, calls of count in that process, code version)."""
    body = run(client, "count")
    assert body["status"] == "succeeded", body
    pid, calls, version = body["context"]["form"]["message"].split()
    return int(pid), int(calls), version


@pytest.mark.parametrize("runner_settings", [{"warm_max_runs": 3}])
def test_module_state_persists_until_warm_max_runs(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        # The process that served wait_ready's echo serves on: runs 2 and 3, then it is replaced.
        first, second, third, fourth = (count(client) for _ in range(4))
    assert first[:2] == (first[0], 1) and second == (first[0], 2, "v1"), "module state persists between runs"
    assert third[0] != first[0] and third[1] == 1, "a process is replaced after warm_max_runs runs"
    assert fourth == (third[0], 2, "v1")


def test_a_process_is_replaced_after_a_failure_or_what_a_run_left_behind(lab_stack: Stack) -> None:
    """A failed run (an exception, a limit), a thread or process left running (also a double fork's), memory kept
    past warm_max_growth_mb, bytes written to the result pipe: the next run gets a new process, with the module's
    state as imported."""
    with lab_stack.client() as client:
        for function in ["boom", "spin", "linger", "orphan", "daemon", "hoard", "forge"]:
            before = count(client)
            assert count(client) == (before[0], before[1] + 1, "v1"), f"{function}: the process serves on"
            run(client, function)
            after = count(client)
            assert after[0] != before[0] and after[1] == 1, (function, before, after)


def test_a_warm_process_killed_while_idle_costs_no_run(lab_stack: Stack) -> None:
    """Killed from outside between runs (the kernel's OOM killer, say): the next run goes to a new process."""
    with lab_stack.client() as client:
        for pause in (0.5, 0.0, 0.0, 0.001, 0.0):  # the runner has heard of the death, or (likely) not yet
            before = count(client)
            os.kill(before[0], signal.SIGKILL)
            time.sleep(pause)
            after = count(client)
            assert after[0] != before[0] and after[1] == 1, (pause, before, after)


def test_a_code_change_replaces_the_warm_processes(lab_stack: Stack, lab: Path) -> None:
    lab_stack.runners["lab"][0].stop()
    lab_stack.start_runner("lab", reload="1")
    with lab_stack.client() as client:
        before = count(client)
        assert count(client) == (before[0], before[1] + 1, "v1")
        (lab / "lab" / "main" / "scripts" / "life.py").write_text(LIFE.replace("VERSION", "v2"))
        wait_for(lambda: count(client)[2] == "v2", 20, "the runner to reload the script")
        pid, calls, _ = count(client)
    assert pid != before[0] and calls <= 2, "the new code runs in new processes, with fresh module state"
