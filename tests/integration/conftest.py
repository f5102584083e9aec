"""Fixtures that start real servers: nats-server, the API and runners, each its own process."""

from __future__ import annotations

import json
import shutil
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from .servers import Api, NatsServer, Process, api, runner

FIXTURES = Path(__file__).parent.parent / "fixtures"
# The lab runner's environment: a secret the app declares (runner.secrets) and a variable it does not.
LAB_ENV = {"LAB_SECRET": "s3cr3t-lab-value", "LAB_UNDECLARED": "not-for-runs"}


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(store=tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def isolation() -> str:
    """The lab app's runner.isolation; tests about run behaviour parametrize it over both modes."""
    return "fresh"


@pytest.fixture
def runner_settings() -> dict[str, Any]:
    """More of the lab app's runner settings, for a test to override."""
    return {}


@pytest.fixture
def lab(tmp_path: Path, isolation: str, runner_settings: dict[str, Any]) -> Path:
    """A copy of the lab workspace: one app whose functions misbehave on purpose."""
    target = tmp_path / "lab-workspace"
    shutil.copytree(FIXTURES / "lab", target, ignore=shutil.ignore_patterns("__pycache__"))
    if isolation != "fresh" or runner_settings:
        properties = target / "lab" / "properties.json"
        data = json.loads(properties.read_text())
        # The lab's memory_mb is 64: a warm child may keep less than that (warm_max_growth_mb < memory_mb).
        extra = {"warm_max_growth_mb": 32} if isolation == "warm" else {}
        data["runner"].update(isolation=isolation, **extra, **runner_settings)
        properties.write_text(json.dumps(data, indent=2))
    return target


@dataclass
class Stack:
    """The API and runners of one workspace against one nats-server."""

    workspace: Path
    nats: NatsServer
    logs: Path
    api: Api
    runners: dict[str, list[Process]] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api.url, timeout=60)

    def start_runner(self, app: str, env: dict[str, str] | None = None, **settings: str) -> Process:
        """Start a runner of ``app``; ``env`` adds variables to its environment (the app's secrets, say)."""
        process = runner(self.workspace, app, self.nats, self.logs, env, **settings)
        process.start()
        self.runners.setdefault(app, []).append(process)
        return process

    def stop(self) -> None:
        for processes in self.runners.values():
            for process in processes:
                process.stop()
        self.api.stop()

    def diagnostics(self) -> str:
        parts = [f"--- {self.api.log.name}\n{self.api.output()[-4000:]}"]
        parts += [f"--- {p.log.name}\n{p.output()[-4000:]}" for ps in self.runners.values() for p in ps]
        return "\n".join(parts)


def make_stack(workspace: Path, nats: NatsServer, logs: Path, **api_settings: str) -> Stack:
    server = api(workspace, nats, logs, **api_settings)
    server.start()
    return Stack(workspace, nats, logs, server)


@pytest.fixture
def lab_stack(lab: Path, nats: NatsServer, logs: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The lab app served by the API and one runner; its consumer redelivers quickly (the lab app's properties:
    runner.ack_wait_seconds 2, max_deliver 2)."""
    stack = make_stack(lab, nats, logs, run_wait_seconds="20")
    stack.start_runner("lab", LAB_ENV)
    wait_ready(stack)
    yield stack
    if getattr(getattr(request.node, "rep_call", None), "failed", False):
        print(stack.diagnostics())
    stack.stop()


def wait_ready(stack: Stack, app: str = "lab", page: str = "main", function: str = "echo") -> None:
    """Until a run goes through (the API has created the app's consumer, the runner has forked its children)."""
    with stack.client() as client:
        response = client.post(f"/api/apps/{app}/pages/{page}/runs", json={"function": function, "state": {}})
        assert response.status_code == 200, response.text + stack.diagnostics()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the test item, so fixtures can print diagnostics for failed tests."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
