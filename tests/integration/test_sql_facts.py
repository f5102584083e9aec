"""`learn_page` writes what a page's SQL tables learn from a real PostgreSQL and SQLite; an unreachable or
unconfigured source raises so that `appyard gen` keeps the committed database.json."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from appyard import workspace
from appyard.database import PageDatabase, dumps
from appyard.errors import SourceNotConfigured, SourceUnreachable, StatementFailed
from appyard.sql.facts import learn_page
from appyard.sql.sources import Sources

from ..postgres import Postgres

pytestmark = pytest.mark.integration

PAGE = {
    "blocks": [
        {
            "block_type": "widget",
            "name": "filters",
            "components": [
                {"component_type": "input", "name": "status"},
                {"component_type": "input", "name": "since", "data_type": "date"},
            ],
        },
        {"block_type": "table", "name": "orders", "fetcher": "list_orders", "columns": [{"name": "id"}]},
        {"block_type": "table", "name": "totals", "fetcher": "totals", "columns": [{"name": "status"}]},
        {"block_type": "table", "name": "notes", "columns": [{"name": "text"}]},
    ]
}
LIST_ORDERS = """-- The orders, filtered (NULL parameters are typed: `:since IS NULL` works on PostgreSQL).
SELECT id, status, placed, amount * 2 AS double_amount
FROM orders
WHERE (:filters.status IS NULL OR status = :filters.status) AND (:since IS NULL OR placed >= :since)
"""
TOTALS = "SELECT status, count(*) AS n FROM orders GROUP BY status\n"
TABLE = "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, placed DATE NOT NULL, amount NUMERIC(10, 2))"


def write_workspace(root: Path, kind: str) -> Path:
    """One app `shop` with a page of two SQL tables (one smart, one aggregate) and a table without a fetcher."""
    source = {"kind": kind, "url_env": "SMART_FACTS_URL"}
    files = {
        "properties.json": {"apps": [{"name": "shop"}], "data_sources": {"shop": source}},
        "shop/properties.json": {"label": "Shop", "pages": [{"name": "admin"}], "data_sources": ["shop"]},
        "shop/admin/properties.json": PAGE,
    }
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(json.dumps(data, indent=2))
    (root / "shop/admin/scripts").mkdir()
    (root / "shop/admin/scripts/list_orders.sql").write_text(LIST_ORDERS)
    (root / "shop/admin/scripts/totals.sql").write_text(TOTALS)
    return root


def learned(root: Path, url: str | None) -> PageDatabase:
    scanned, issues = workspace.scan(root, with_database=False)
    assert scanned is not None and not issues, issues
    sources = Sources(scanned.properties.data_sources, environ={"SMART_FACTS_URL": url} if url else {}, workspace=root)
    try:
        return learn_page(scanned.page("shop", "admin"), sources)
    finally:
        sources.close()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    folder = Path(tempfile.mkdtemp(prefix="appyard-facts-"))
    folder.chmod(0o755)  # the server runs as the postgres user
    server = Postgres.start(folder / "pg")
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["postgres", "sqlite"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    """A workspace and the URL of its database with an orders table."""
    if request.param == "postgres":
        server: Postgres = request.getfixturevalue("postgres")
        url = server.url("facts")
    else:
        url = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS orders"))
        connection.execute(text(TABLE))
        # SQLite's cursor has no types: a computed column's type comes from a row (text when there is none)
        connection.execute(text("INSERT INTO orders VALUES (1, 'new', '2026-01-02', 12.50)"))
    engine.dispose()
    return write_workspace(tmp_path / "workspace", request.param), url


def test_learn_page_learns_every_sql_fetcher(shop: tuple[Path, str]) -> None:
    root, url = shop
    database = learned(root, url)
    assert set(database.tables) == {"orders", "totals"}
    orders = database.tables["orders"]
    assert orders.smart and orders.source == "shop" and orders.base_table == "orders"
    assert list(orders.columns) == ["id", "status", "placed", "double_amount"]
    assert orders.columns["placed"].data_type == "date" and not orders.columns["placed"].nullable
    assert orders.columns["double_amount"].base_column is None
    totals = database.tables["totals"]
    assert not totals.smart and totals.columns["n"].data_type == "integer"
    assert dumps(database) == dumps(learned(root, url))  # deterministic for git


def test_a_refused_query_names_the_databases_reason(shop: tuple[Path, str]) -> None:
    root, url = shop
    (root / "shop/admin/scripts/totals.sql").write_text("SELECT nope FROM orders\n")
    with pytest.raises(StatementFailed, match=r"data source shop: .*nope"):
        learned(root, url)


def test_an_unset_url_raises_so_the_committed_file_is_kept(shop: tuple[Path, str]) -> None:
    root, _ = shop
    with pytest.raises(SourceNotConfigured, match="SMART_FACTS_URL"):
        learned(root, None)


def test_an_unreachable_source_raises_without_its_url(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = write_workspace(tmp_path / "workspace", "postgres")
    with pytest.raises(SourceUnreachable) as raised:
        learned(root, f"postgresql+psycopg://someone:pa55word@127.0.0.1:{port}/shop?connect_timeout=2")
    assert raised.value.source == "shop" and "pa55word" not in str(raised.value)


def test_a_detail_query_bound_to_an_untyped_master_column_learns_on_a_first_gen(shop: tuple[Path, str]) -> None:
    # orders.id declares no data_type and nothing is learned yet: its NULL must not be typed as text, or
    # PostgreSQL refuses `id = :orders.id` (integer = character varying) and the first gen fails.
    root, url = shop
    page = json.loads((root / "shop/admin/properties.json").read_text())
    page["blocks"].append({"block_type": "table", "name": "detail", "fetcher": "detail", "columns": [{"name": "id"}]})
    (root / "shop/admin/properties.json").write_text(json.dumps(page))
    (root / "shop/admin/scripts/detail.sql").write_text("SELECT id, status FROM orders WHERE id = :orders.id\n")
    database = learned(root, url)
    assert database.tables["detail"].columns["id"].data_type == "integer"
