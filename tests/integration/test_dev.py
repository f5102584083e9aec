"""`appyard dev`: everything starts with one command, serves the samples, and stops with one Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from appyard import scaffold

from .servers import free_port, wait_for

pytestmark = pytest.mark.integration

APPYARD = Path(sys.executable).parent / "appyard"
WEB = Path(__file__).resolve().parents[2] / "web" / "dist"


def descendants(pid: int) -> set[int]:
    """Every live process whose ancestry includes ``pid`` (children are in their own sessions, not groups)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.fixture
def dev(workspace_copy: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, int]]:
    port, nats_port = free_port(), free_port()
    log = tmp_path / "dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(APPYARD), "dev", str(workspace_copy), "--port", str(port), "--nats-port", str(nats_port)],
            cwd=tmp_path,
            stdout=output,
            stderr=output,
            env={**os.environ, "APPYARD_DATA_DIR": str(tmp_path / "data")},
        )
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.post(
                f"{url}/api/apps/ops/pages/hashing/runs",
                json={"function": "transcode", "state": {"encode": {"source": "hi"}}},
                timeout=5,
            )
            return response.status_code == 200
        return False

    wait_for(serving, 60, f"appyard dev (log: {log})", process)
    yield process, url, log, nats_port
    if process.poll() is None:
        process.kill()
        process.wait()


def test_dev_serves_the_samples_and_stops_everything(dev: tuple[subprocess.Popen[bytes], str, Path, int]) -> None:
    process, url, log, _ = dev
    response = httpx.post(
        f"{url}/api/apps/orders/pages/orders/runs",
        json={"function": "show_order", "state": {"orders": {"id": 1005}}},
        timeout=30,
    )
    assert response.status_code == 200
    assert "Ada Lovelace" in response.json()["context"]["details"]["components"]["summary"]["text"]
    # The runners log text here (no APPYARD_LOG_FORMAT): one line per finished run, for people.
    done = re.compile(rf"appyard\.runner INFO run {response.json()['run_id']} show_order: ok in \d+\.\d ms$", re.M)
    wait_for(lambda: done.search(log.read_text()) is not None, 10, f"the run's line in {log}")
    if not (WEB / "index.html").is_file():
        pytest.fail("web/dist is not built: `make setup` builds it")
    # Without --web-dir, a checkout's built web client is served (`make dev`), and the apps through the API.
    assert '<div id="root">' in httpx.get(url, timeout=5).text
    assert "web client: " + str(WEB) in log.read_text()
    apps = httpx.get(f"{url}/api/apps", timeout=5).json()
    assert {"orders", "ops"} <= {app["name"] for app in apps}
    children = descendants(process.pid)
    assert len(children) >= 4, "nats-server, the API and two runners (with their zygotes)"

    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0
    wait_for(lambda: all_gone(children), 20, f"children to exit; log:\n{log.read_text()[-3000:]}")


def all_gone(pids: set[int]) -> bool:
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            if "State:\tZ" not in Path(f"/proc/{pid}/status").read_text():
                return False
    return True


def test_dev_regenerates_models_when_properties_change(
    dev: tuple[subprocess.Popen[bytes], str, Path, int], workspace_copy: Path
) -> None:
    _, url, _, _ = dev
    page = workspace_copy / "ops" / "hashing"
    properties = json.loads((page / "properties.json").read_text())
    properties["blocks"][1]["components"].append({"component_type": "input", "name": "comment"})
    (page / "properties.json").write_text(json.dumps(properties, indent=2))
    wait_for(lambda: "comment: str | None" in (page / "state.py").read_text(), 20, "state.py to be regenerated")

    def accepts_new_field() -> bool:
        response = httpx.post(
            f"{url}/api/apps/ops/pages/hashing/runs",
            json={"function": "transcode", "state": {"encode": {"source": "hi", "comment": "new"}}},
            timeout=10,
        )
        return response.status_code == 200 and response.json()["status"] == "succeeded"

    wait_for(accepts_new_field, 30, "the API and the runner to pick up the new models")


def test_dev_broker_refuses_anonymous_connections_and_keeps_no_seed_on_disk(
    dev: tuple[subprocess.Popen[bytes], str, Path, int], tmp_path: Path
) -> None:
    _, _, _, nats_port = dev
    with socket.create_connection(("127.0.0.1", nats_port), timeout=5) as connection:
        connection.settimeout(5)
        assert connection.recv(65536).startswith(b"INFO")
        connection.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        answer = connection.recv(65536)
    assert b"Authorization Violation" in answer, answer
    config = tmp_path / ".appyard" / "nats.conf"
    assert config.stat().st_mode & 0o077 == 0
    # Public keys (O…, A…) and JWTs only: seeds (S…) stay in the memory of `appyard dev` and its children.
    assert not re.search(rb"\bS[OAU][A-Z2-7]{50,}", config.read_bytes())


def test_a_busy_port_is_a_clear_error(workspace_copy: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(APPYARD), "dev", str(workspace_copy), "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


def test_dev_serves_an_app_added_while_it_runs(
    dev: tuple[subprocess.Popen[bytes], str, Path, int], workspace_copy: Path
) -> None:
    """A new app folder (`appyard new app`): `appyard dev` starts its runner, the API creates its consumer (runners
    cannot), and its runs are served."""
    _, url, log, _ = dev
    scaffold.new_app(workspace_copy, "extra")

    def served() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.post(
                f"{url}/api/apps/extra/pages/home/runs",
                json={"function": "greet", "state": {"form": {"name": "Ada"}}},
                timeout=10,
            )
            return response.status_code == 200 and response.json()["context"]["form"]["message"] == "Hello, Ada!"
        return False

    wait_for(served, 60, f"the new app's runs to be served (log: {log})")
    assert "new app extra: starting its runner" in log.read_text()
