"""`appyard gen` learns each SQL table's facts into its page's database.json (on a SQLite file here), types the
generated State from them, and keeps the committed file with a warning when a source cannot be reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from appyard.cli import app
from appyard.database import DATABASE_FILE, PageDatabase

SEED = """CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price NUMERIC(10, 2), sold BOOLEAN);
INSERT INTO items (name, price, sold) VALUES ('lamp', 12.5, 0), ('desk', 120, 1);
"""

PAGE = {
    "blocks": [
        {"block_type": "widget", "name": "filters", "components": [{"component_type": "input", "name": "q"}]},
        {
            "block_type": "table",
            "name": "items",
            "fetcher": "list_items",
            "columns": [{"name": "id"}, {"name": "name", "editable": True}, {"name": "price"}],
        },
    ]
}

LIST_ITEMS = "SELECT id, name, price FROM items WHERE :filters.q IS NULL OR name LIKE :filters.q\n"


def make_app(root: Path, name: str, source: str) -> Path:
    (root / name / "items" / "scripts").mkdir(parents=True)
    (root / name / "properties.json").write_text(json.dumps({"pages": [{"name": "items"}], "data_sources": [source]}))
    (root / name / "items" / "properties.json").write_text(json.dumps(PAGE))
    (root / name / "items" / "scripts" / "list_items.sql").write_text(LIST_ITEMS)
    return root / name / "items"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "workspace"
    root.mkdir()
    sources = {
        "shop": {"kind": "sqlite", "default_url": "sqlite:///shop.sqlite3", "seed": "shop/seed.sql"},
        "remote": {"kind": "postgres", "url_env": "APPYARD_TEST_REMOTE_NEVER_SET"},
    }
    (root / "properties.json").write_text(json.dumps({"apps": [{"name": "shop"}], "data_sources": sources}))
    make_app(root, "shop", "shop")
    (root / "shop" / "seed.sql").write_text(SEED)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APPYARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("APPYARD_TEST_REMOTE_NEVER_SET", raising=False)
    return root


def test_gen_learns_the_facts_and_types_state_from_them(root: Path) -> None:
    cli = CliRunner()
    result = cli.invoke(app, ["gen", "workspace"])
    assert result.exit_code == 0, result.output
    assert f"wrote workspace/shop/items/{DATABASE_FILE}" in result.output

    learned = PageDatabase.model_validate_json((root / "shop" / "items" / DATABASE_FILE).read_text())
    facts = learned.tables["items"]
    assert (facts.source, facts.base_table, facts.primary_key, facts.smart) == ("shop", "items", ["id"], True)
    assert {name: column.data_type for name, column in facts.columns.items()} == {
        "id": "integer",
        "name": "text",
        "price": "float",
    }
    state = (root / "shop" / "items" / "state.py").read_text()
    assert "id: int | None = None" in state and "price: float | None = None" in state

    assert cli.invoke(app, ["validate", "--no-imports", "workspace"]).exit_code == 0
    again = cli.invoke(app, ["gen", "workspace"])
    assert again.exit_code == 0 and "wrote" not in again.output


def test_an_unreachable_source_keeps_database_json_and_warns(root: Path) -> None:
    page_dir = make_app(root, "remote", "remote")
    workspace = json.loads((root / "properties.json").read_text())
    workspace["apps"].append({"name": "remote"})
    (root / "properties.json").write_text(json.dumps(workspace))
    columns = {
        "id": {"data_type": "integer", "db_type": "INTEGER", "primary_key": True, "base_column": "id"},
        "name": {"data_type": "text", "db_type": "TEXT", "base_column": "name"},
        "price": {"data_type": "float", "db_type": "NUMERIC(10, 2)", "base_column": "price"},
    }
    facts = {"source": "remote", "base_table": "items", "primary_key": ["id"], "columns": columns}
    committed = json.dumps({"tables": {"items": facts}}, indent=1) + "\n"  # as learned earlier, when reachable
    (page_dir / DATABASE_FILE).write_text(committed)

    result = CliRunner().invoke(app, ["gen", "workspace"])

    assert result.exit_code == 0, result.output
    assert "warning: data source remote:" in result.output
    assert "APPYARD_TEST_REMOTE_NEVER_SET" in result.output
    assert f"kept workspace/remote/items/{DATABASE_FILE}" in result.output
    assert (page_dir / DATABASE_FILE).read_text() == committed
    assert (root / "shop" / "items" / DATABASE_FILE).is_file()  # the reachable app's page still learned
    assert "id: int | None = None" in (page_dir / "state.py").read_text()  # typed from the kept facts
