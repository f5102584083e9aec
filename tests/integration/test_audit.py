"""The audit log through the real path: runs and changes recorded by the API on JetStream, read back over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import RawCredentials
from nats.js import api as api_model

from appyard.audit import AUDIT_STREAM

from .auth_setup import person, proxy_api
from .conftest import Stack
from .servers import BIN, NatsServer, api, free_port, wait_for

pytestmark = pytest.mark.integration

RUNS = "/api/apps/lab/pages/main/runs"
MARKER = "MARKER-7d41c2-state-value"


def audit(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/audit", params={key: value for key, value in params.items() if value is not None})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def entries_until(client: httpx.Client, check: Any, timeout: float = 20, **params: Any) -> list[dict[str, Any]]:
    """The entries, once ``check(entries)`` holds (run entries are written when results arrive)."""
    seen: list[dict[str, Any]] = []

    def ready() -> bool:
        seen[:] = audit(client, **params)["entries"]
        return bool(check(seen))

    wait_for(ready, timeout, f"audit entries for {params}")
    return seen


def test_every_run_is_recorded_with_who_what_and_how_it_ended_never_its_state(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        ok = client.post(RUNS, json={"function": "echo", "state": {"form": {"text": MARKER}}}).json()
        boom = client.post(RUNS, json={"function": "boom", "state": {"form": {"text": MARKER}}}).json()
        assert (ok["status"], boom["status"]) == ("succeeded", "failed")
        ids = {ok["run_id"], boom["run_id"]}
        found = entries_until(client, lambda items: ids <= {item["run_id"] for item in items}, app="lab")
        raw = client.get("/api/audit", params={"app": "lab"}).text
    runs = {item["run_id"]: item for item in found if item["action"] == "run"}
    succeeded, failed = runs[ok["run_id"]], runs[boom["run_id"]]
    assert (succeeded["actor"], succeeded["app"], succeeded["page"], succeeded["function"]) == (
        "developer",
        "lab",
        "main",
        "echo",
    )
    assert (succeeded["outcome"], succeeded["error_kind"]) == ("succeeded", None)
    assert succeeded["duration_ms"] == pytest.approx(ok["duration_ms"])
    assert (failed["function"], failed["outcome"], failed["error_kind"]) == ("boom", "failed", "exception")
    assert MARKER not in raw  # neither the state, nor the context, output or error message that echo it
    assert "sideways" not in raw
    # One entry per run, even though the result reached the API's watch and a waiting request.
    assert [item["run_id"] for item in found].count(ok["run_id"]) == 1


def test_two_api_replicas_record_each_run_once(lab_stack: Stack) -> None:
    second = api(lab_stack.workspace, lab_stack.nats, lab_stack.logs)
    second.start()
    try:
        with httpx.Client(base_url=second.url, timeout=60) as other, lab_stack.client() as client:
            ids = [
                (client if index % 2 else other).post(RUNS, json={"function": "echo", "state": {}}).json()["run_id"]
                for index in range(6)
            ]
            # Both replicas watch every result and both write its entry; the server keeps one per run.
            seen = entries_until(other, lambda items: set(ids) <= {item["run_id"] for item in items}, app="lab")
            time.sleep(0.5)  # the slower replica's copy has been written (and dropped) by now
            seen = audit(client, app="lab")["entries"]
    finally:
        second.stop()
    runs = [item["run_id"] for item in seen if item["run_id"] in ids]
    assert sorted(runs) == sorted(ids)


def _audit_stream(server: NatsServer) -> Any:
    async def read() -> Any:
        connection = await nats.connect(server.url, user_credentials=RawCredentials(server.creds()))
        try:
            return (await connection.jetstream().stream_info(AUDIT_STREAM)).config
        finally:
            await connection.close()

    return asyncio.run(read())


def test_the_stream_keeps_entries_on_disk_as_long_as_the_settings_say(lab_stack: Stack) -> None:
    config = _audit_stream(lab_stack.nats)
    assert (config.storage, config.retention) == (api_model.StorageType.FILE, api_model.RetentionPolicy.LIMITS)
    assert (config.max_age, config.max_bytes) == (90 * 86400, 1024**3)
    # Another API started with other limits brings the stream in line with them.
    shorter = api(
        lab_stack.workspace, lab_stack.nats, lab_stack.logs, audit_retention_days="7", audit_max_bytes="5000000"
    )
    shorter.start()
    shorter.stop()
    config = _audit_stream(lab_stack.nats)
    assert (config.max_age, config.max_bytes) == (7 * 86400, 5_000_000)


def test_saving_properties_a_script_and_a_new_page_is_recorded_without_their_content(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        page = client.get("/api/apps/lab/pages/main").json()
        saved = client.put("/api/apps/lab/pages/main/properties", json=page["properties"])
        assert saved.status_code == 200, saved.text
        source = client.get("/api/apps/lab/pages/main/scripts/behave").json()["source"]
        written = client.put("/api/apps/lab/pages/main/scripts/behave", json={"source": source + f"\n# {MARKER}\n"})
        assert written.status_code == 200, written.text
        assert client.post("/api/apps/lab/pages", json={"name": "extra"}).status_code == 201
        found = audit(client, app="lab")["entries"]
        raw = client.get("/api/audit", params={"app": "lab"}).text
    changes = [(item["action"], item["page"], item["script"], item["actor"]) for item in found]
    assert ("properties_saved", "main", None, "developer") in changes
    assert ("script_saved", "main", "behave", "developer") in changes
    assert ("page_created", "extra", None, "developer") in changes
    assert MARKER not in raw


def test_filters_by_app_user_and_time(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        entries_until(client, lambda items: len(items) == 1)  # the readiness run, recorded before `before`
        before = datetime.now(UTC)
        created = client.post("/api/apps", json={"name": "ledger"})
        assert created.status_code == 201, created.text
        run = client.post(RUNS, json={"function": "echo", "state": {}}).json()
        everything = entries_until(client, lambda items: run["run_id"] in {item["run_id"] for item in items})
        apps = {item["app"] for item in everything}
        assert {"lab", "ledger"} <= apps
        only_lab = audit(client, app="lab")["entries"]
        assert {item["app"] for item in only_lab} == {"lab"}
        only_ledger = audit(client, app="ledger")["entries"]
        assert [item["action"] for item in only_ledger] == ["app_created"]
        assert audit(client, user="developer")["entries"] == everything
        assert audit(client, user="somebody-else")["entries"] == []
        later = audit(client, since=before.isoformat())["entries"]
        assert {item["action"] for item in later} == {"app_created", "run"}  # not the readiness run before
        assert audit(client, until=before.isoformat())["entries"] == [
            item for item in everything if item["at"] < before.timestamp()
        ]
        limited = audit(client, limit=1)
        assert limited["entries"] == everything[-1:]
        assert limited["more"] is True
        assert client.get("/api/audit", params={"limit": 100000}).status_code == 422
        assert client.get("/api/audit", params={"app": "../x"}).status_code == 422


@pytest.fixture
def as_person(lab: Path, nats: NatsServer, logs: Path) -> Iterator[Any]:
    """A real API in proxy mode over the lab workspace; each client is signed in as the named person."""
    server = proxy_api(lab, nats, logs)
    clients: list[httpx.Client] = []

    def client(name: str) -> httpx.Client:
        opened = httpx.Client(base_url=server.url, headers=person(name), timeout=60)
        clients.append(opened)
        return opened

    yield client
    for opened in clients:
        opened.close()
    server.stop()


@pytest.mark.parametrize("person", ["mallory", "una"])  # no role; "use" only
def test_only_owners_and_admins_read_the_log(as_person: Any, person: str) -> None:
    client = as_person(person)
    assert client.get("/api/audit", params={"app": "lab"}).status_code == 403
    assert client.get("/api/audit").status_code == 403


def test_an_owner_reads_the_entries_of_their_apps_only(lab_stack: Stack, as_person: Any) -> None:
    with lab_stack.client() as client:
        assert client.post("/api/apps", json={"name": "ledger"}).status_code == 201
        entries_until(client, lambda items: {"lab", "ledger"} <= {item["app"] for item in items})
    owner = as_person("olive")
    run = owner.post(RUNS, json={"function": "echo", "state": {}}).json()
    assert run["status"] == "succeeded", run
    with lab_stack.client() as client:
        hers = entries_until(client, lambda items: len(items) == 1, user="olive")
        assert [(item["actor"], item["run_id"]) for item in hers] == [("olive", run["run_id"])]
        assert run["run_id"] not in {item["run_id"] for item in audit(client, user="developer")["entries"]}
    assert {item["app"] for item in audit(owner, app="lab")["entries"]} == {"lab"}
    assert {item["app"] for item in audit(owner)["entries"]} == {"lab"}  # not ledger, which olive does not own
    assert owner.get("/api/audit", params={"app": "ledger"}).status_code == 403


def test_the_cli_prints_the_entries(lab_stack: Stack) -> None:
    with lab_stack.client() as client:
        run = client.post(RUNS, json={"function": "echo", "state": {}}).json()
        entries_until(client, lambda items: run["run_id"] in {item["run_id"] for item in items})
    env = {**os.environ, "COLUMNS": "220", "APPYARD_TOKEN": ""}
    command = [str(BIN / "appyard"), "audit", "--app", "lab", "--since", "1h", "--url", lab_stack.api.url]
    printed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert printed.returncode == 0, printed.stderr
    assert "developer" in printed.stdout
    assert "lab/main" in printed.stdout
    assert "echo" in printed.stdout
    assert run["run_id"] in printed.stdout
    as_json = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run["run_id"] in {item["run_id"] for item in json.loads(as_json.stdout)["entries"]}


def test_the_cli_says_what_to_do_when_the_api_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    printed = subprocess.run(
        [str(BIN / "appyard"), "audit", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert printed.returncode == 1
    assert f"cannot reach the Appyard API at {url}" in printed.stderr
    assert "appyard dev" in printed.stderr
