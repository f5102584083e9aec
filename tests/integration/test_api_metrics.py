"""The API's metrics port (APPYARD_API_METRICS_PORT): a scraper reads Prometheus text at GET /metrics there without
signing in, that port serves nothing else, and the main port's /api/metrics still refuses anonymous callers.
A real API process in proxy mode with a real nats-server and the lab app's runner."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .auth_setup import ADMIN, proxy_api
from .conftest import LAB_ENV
from .servers import Api, NatsServer, free_port, runner

pytestmark = pytest.mark.integration


@pytest.fixture
def api_with_metrics(lab: Path, nats: NatsServer, logs: Path) -> Iterator[tuple[Api, int]]:
    port = free_port()
    server = proxy_api(lab, nats, logs, metrics_port=str(port))
    lab_runner = runner(lab, "lab", nats, logs, LAB_ENV)
    lab_runner.start()
    yield server, port
    lab_runner.stop()
    server.stop()


def test_the_metrics_port_serves_prometheus_text_to_anyone(api_with_metrics: tuple[Api, int]) -> None:
    server, port = api_with_metrics
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
        run = client.post("/api/apps/lab/pages/main/runs", json={"function": "echo", "state": {}})
        assert run.status_code == 200, server.output()[-3000:]

    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)  # no credentials at all
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=")  # the exposition format
    assert 'appyard_runs_total{app="lab",status="succeeded"} 1.0' in scraped.text
    assert "appyard_runs_waiting" in scraped.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/metrics", 404), ("GET", "/", 404), ("GET", "/api/health", 404), ("POST", "/metrics", 405)],
)
def test_the_metrics_port_serves_nothing_else(
    api_with_metrics: tuple[Api, int], method: str, path: str, status: int
) -> None:
    _, port = api_with_metrics
    assert httpx.request(method, f"http://127.0.0.1:{port}{path}", headers=ADMIN, timeout=10).status_code == status


def test_the_main_port_keeps_metrics_for_admins(api_with_metrics: tuple[Api, int]) -> None:
    server, _ = api_with_metrics
    assert httpx.get(f"{server.url}/api/metrics", timeout=10).status_code == 401
    assert httpx.get(f"{server.url}/metrics", timeout=10).status_code != 200
    admin = httpx.get(f"{server.url}/api/metrics", headers=ADMIN, timeout=10)
    assert admin.status_code == 200 and "appyard_runs_waiting" in admin.text


def test_both_ports_close_when_the_api_stops(api_with_metrics: tuple[Api, int]) -> None:
    server, port = api_with_metrics
    server.stop(signal.SIGTERM)
    assert server.process is not None and server.process.returncode is not None
    for url in (f"{server.url}/api/health", f"http://127.0.0.1:{port}/metrics"):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (its sockets' inodes matched in /proc/net/tcp{,6})."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_the_api_listens_on_its_two_ports_only(api_with_metrics: tuple[Api, int]) -> None:
    server, port = api_with_metrics
    assert server.process is not None
    assert listening_ports(server.process.pid) == {server.port, port}


def test_metrics_port_is_off_by_default(lab: Path, nats: NatsServer, logs: Path) -> None:
    server = proxy_api(lab, nats, logs)
    try:
        assert server.process is not None
        assert listening_ports(server.process.pid) == {server.port}
    finally:
        server.stop()
