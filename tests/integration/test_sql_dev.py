"""SQL on one machine: `appyard dev` reads the workspace's .env, and `appyard run` runs `.sql` functions in-process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appyard import codegen
from appyard.workspace import load_page

from ..postgres import Postgres
from .conftest import FIXTURES
from .databases import postgres as _session_postgres  # noqa: F401 — a fixture: the session's PostgreSQL server
from .servers import free_port, wait_for

pytestmark = pytest.mark.integration

APPYARD = Path(sys.executable).parent / "appyard"
DB = "sql_dev"
CLOSED = "postgresql+psycopg://appyard:closed-port-pw@127.0.0.1:9/gone"  # nothing listens on port 9


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Postgres:
    """The session's PostgreSQL server with this module's orders table."""
    found: Postgres = request.getfixturevalue("_session_postgres")
    found.create_database(DB)
    found.psql(
        DB,
        """
        CREATE TABLE IF NOT EXISTS orders (
            id SERIAL PRIMARY KEY, customer TEXT NOT NULL, status TEXT, amount DOUBLE PRECISION);
        TRUNCATE orders RESTART IDENTITY;
        INSERT INTO orders (customer, status, amount)
            SELECT 'customer ' || n, 'new', n FROM generate_series(1, 12) AS n;
        """,
    )
    return found


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    target = tmp_path / "workspace"
    shutil.copytree(FIXTURES / "shop", target, ignore=shutil.ignore_patterns("__pycache__"))
    page = load_page("shop", target / "shop" / "orders")
    codegen.write(page.dir, codegen.generate(page.properties, page.database))
    return target


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any data source URL, plus ``extra``."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("APPYARD_DB_")}
    return {**kept, "APPYARD_DATA_DIR": str(tmp_path / "data"), **extra}


@pytest.fixture
def dev(shop: Path, server: Postgres, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`appyard dev` of the shop workspace: shop's URL only in .env; gone's both in .env and (closed) in the
    environment, which wins."""
    (shop / ".env").write_text(
        f'# local databases\nAPPYARD_DB_SHOP="{server.url(DB)}"\nAPPYARD_DB_GONE={server.url(DB)}\n'
    )
    port = free_port()
    log = tmp_path / "dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(APPYARD), "dev", str(shop), "--port", str(port), "--nats-port", str(free_port())],
            cwd=tmp_path,
            stdout=output,
            stderr=output,
            env=_environment(tmp_path, APPYARD_DB_GONE=CLOSED),
        )
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        try:
            response = httpx.post(f"{url}/api/apps/shop/pages/orders/runs", json={"function": "list_notes"}, timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json()["status"] == "succeeded"

    try:
        wait_for(serving, 90, f"appyard dev (log: {log})", process)
        yield url, log
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_dev_reads_the_dotenv_without_overriding_the_environment(dev: tuple[str, Path]) -> None:
    url, log = dev
    with httpx.Client(base_url=url, timeout=30) as client:
        listed = client.post("/api/apps/shop/pages/orders/runs", json={"function": "list_orders"}).json()
        counted = client.post("/api/apps/shop/pages/orders/runs", json={"function": "count_orders"}).json()
        gone = client.post("/api/apps/shop/pages/orders/runs", json={"function": "unreachable"}).json()
    assert listed["context"]["orders"]["total"] == 12, listed
    assert counted["context"]["form"]["message"] == "12 orders", counted  # appyard.db() in a runner child
    assert gone["status"] == "failed"
    assert gone["error"]["kind"] == "data_source"
    assert "closed-port-pw" not in json.dumps(gone)
    text = log.read_text()
    assert "data source shop (postgres): APPYARD_DB_SHOP is set" in text
    assert "data source notes (sqlite): APPYARD_DB_NOTES is not set; using sqlite:///notes.sqlite3" in text
    assert "2 variable(s) from" in text
    assert "(1 already set in the environment and kept)" in text


def _run(
    shop: Path, tmp_path: Path, function: str, state: dict[str, Any], **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(APPYARD), "run", "shop", "orders", function, "--state", json.dumps(state), "--workspace", str(shop)],
        cwd=tmp_path,
        env=_environment(tmp_path, **env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_appyard_run_runs_sql_in_process(shop: Path, server: Postgres, tmp_path: Path) -> None:
    url = server.url(DB)
    listed = _run(shop, tmp_path, "list_orders", {}, APPYARD_DB_SHOP=url)
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)["orders"]
    assert [row["id"] for row in page["data"]] == list(range(1, 11))
    assert (page["total"], page["more"]) == (12, True)

    shipped = _run(shop, tmp_path, "ship", {"orders": {"id": 2}}, APPYARD_DB_SHOP=url)
    assert shipped.returncode == 0, shipped.stderr
    assert json.loads(shipped.stdout)["orders"]["message"] == "Shipped"
    assert server.psql(DB, "SELECT status FROM orders WHERE id = 2").strip() == "shipped"

    (shop / ".env").write_text(f"APPYARD_DB_SHOP={url}\n")  # `appyard run` reads it too
    counted = _run(shop, tmp_path, "count_orders", {})
    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout)["form"]["message"] == "12 orders"


def test_appyard_run_names_a_missing_url(shop: Path, tmp_path: Path) -> None:
    missing = _run(shop, tmp_path, "list_orders", {})
    assert missing.returncode == 1
    assert "data source shop: APPYARD_DB_SHOP is not set" in missing.stderr
