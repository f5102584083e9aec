"""A page's `.sql` files are functions like its `.py` ones, found without running anything; a page's database.json
is read with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appyard import codegen, execution
from appyard.database import DATABASE_FILE
from appyard.errors import PropertiesInvalid
from appyard.scripts import MAX_SQL_BYTES, discover
from appyard.workspace import load_page

TABLE_PAGE = {
    "blocks": [{"block_type": "table", "name": "items", "fetcher": "list_items", "columns": [{"name": "id"}]}]
}


def make_page(tmp_path: Path, scripts: dict[str, str], properties: object = TABLE_PAGE) -> Path:
    page_dir = tmp_path / "items"
    (page_dir / "scripts").mkdir(parents=True)
    (page_dir / "properties.json").write_text(json.dumps(properties))
    for name, text in scripts.items():
        (page_dir / "scripts" / name).write_text(text)
    return page_dir


def test_sql_files_are_functions_with_their_doc_and_kind(tmp_path: Path) -> None:
    page_dir = make_page(
        tmp_path,
        {
            "list_items.sql": "-- Every item, cheapest first.\n-- source: shop\nSELECT id FROM items ORDER BY price;\n",
            "mark.sql": "-- reload: items\nUPDATE items SET sold = true WHERE id = :items.id\n",
            "actions.py": "def ship(state, context):\n    return context\n",
            "_seed.sql": "CREATE TABLE items (id integer);\n",  # private: not a function
        },
    )
    functions, issues = discover(page_dir)
    assert issues == []
    assert sorted(functions) == ["list_items", "mark", "ship"]
    listing = functions["list_items"]
    assert (listing.kind, listing.module, listing.file, listing.doc) == (
        "sql",
        "list_items",
        "list_items.sql",
        "Every item, cheapest first.",
    )
    assert listing.is_query and listing.sql is not None and listing.sql.source == "shop"
    assert functions["mark"].kind == "sql" and not functions["mark"].is_query
    assert functions["mark"].sql is not None and functions["mark"].sql.reload == ("items",)
    assert functions["ship"].kind == "python" and functions["ship"].sql is None and not functions["ship"].is_query


@pytest.mark.parametrize(
    ("name", "text", "where", "message"),
    [
        ("broken.sql", "SELECT 'unterminated\n", "line 1", "unterminated"),
        ("empty.sql", "-- only a comment\n", "line 1", "no statement"),
        ("list-all.sql", "SELECT 1\n", "$", "'list-all.sql' is not a function name"),
        ("class.sql", "SELECT 1\n", "$", "'class.sql' is not a function name"),
        ("huge.sql", "SELECT 1" + " " * MAX_SQL_BYTES, "$", "larger than 256 KiB"),
        ("latin.sql", "SELECT '\xe9'", "$", "not UTF-8 text"),
    ],
    ids=["syntax", "empty", "dash", "keyword", "too-large", "not-utf8"],
)
def test_a_sql_file_that_cannot_be_a_function_is_an_issue(
    tmp_path: Path, name: str, text: str, where: str, message: str
) -> None:
    page_dir = make_page(tmp_path, {})
    (page_dir / "scripts" / name).write_bytes(text.encode("latin-1") if name == "latin.sql" else text.encode())
    functions, issues = discover(page_dir)
    assert functions == {}
    assert len(issues) == 1
    assert issues[0].file.endswith(f"scripts/{name}") and issues[0].path == where
    assert message in issues[0].message


def test_a_sql_and_a_python_function_of_one_name_clash(tmp_path: Path) -> None:
    page_dir = make_page(
        tmp_path,
        {"list_items.sql": "SELECT 1\n", "lib.py": "\n\ndef list_items(state, context):\n    return context\n"},
    )
    functions, issues = discover(page_dir)
    assert [(issue.path, issue.message) for issue in issues] == [
        ("$", "function 'list_items' is also defined in lib.py (line 3); rename one of them")
    ]
    assert functions["list_items"].kind == "sql"


def test_load_page_reads_database_json(tmp_path: Path) -> None:
    page_dir = make_page(tmp_path, {"list_items.sql": "SELECT id FROM items\n"})
    assert load_page("shop", page_dir).database is None
    facts = {
        "tables": {
            "items": {
                "source": "shop",
                "base_table": "items",
                "primary_key": ["id"],
                "columns": {"id": {"data_type": "integer", "db_type": "INTEGER", "primary_key": True}},
            }
        }
    }
    (page_dir / DATABASE_FILE).write_text(json.dumps(facts))
    database = load_page("shop", page_dir).database
    assert database is not None and database.tables["items"].smart


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("{not json", "$", "invalid JSON at line 1"),
        ('{"tables": {"items": {"columns": {}}}}', "tables.items.source", "missing required property 'source'"),
        ('{"tables": {}, "extra": 1}', "extra", "unknown property 'extra'"),
    ],
    ids=["not-json", "missing-source", "unknown-key"],
)
def test_a_malformed_database_json_is_an_issue(tmp_path: Path, text: str, where: str, message: str) -> None:
    page_dir = make_page(tmp_path, {"list_items.sql": "SELECT id FROM items\n"})
    (page_dir / DATABASE_FILE).write_text(text)
    with pytest.raises(PropertiesInvalid) as raised:
        load_page("shop", page_dir)
    found = [issue for issue in raised.value.issues if issue.file.endswith(DATABASE_FILE)]
    assert [(issue.path, message in issue.message) for issue in found] == [(where, True)]
    assert "run `appyard gen`" in found[0].message


def test_loading_a_page_for_runs_imports_only_its_python_functions(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    page_dir = make_page(
        root / "sqlapp",
        {"list_items.sql": "SELECT id FROM items\n", "actions.py": "def ship(state, context):\n    return context\n"},
    )
    (page_dir.parent / "__init__.py").write_text("")
    page = load_page("sqlapp", page_dir)
    codegen.write(page_dir, codegen.generate(page.properties, page.database))
    try:
        loaded = execution.load(page, root)
    finally:
        execution.unload("sqlapp")
    assert sorted(loaded.functions) == ["ship"]
