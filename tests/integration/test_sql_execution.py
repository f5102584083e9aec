""".sql functions on a real PostgreSQL and SQLite: parameters bound from state (typed, expanding lists, empty text
as NULL), never pasted — injection attempts through state change nothing — and the row cap."""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import text

from appyard.codegen import generate
from appyard.errors import SourceUndeclared, StatementFailed, TooManyRows
from appyard.properties import DataSource, DataSourceOptions, PageProperties
from appyard.sql.execution import bind_state, run_function, statement
from appyard.sql.sources import Sources
from appyard.sql.text import parse_sql

from ..postgres import Postgres
from .databases import postgres, sqlite_url  # noqa: F401 — fixtures

pytestmark = pytest.mark.integration

PAGE = PageProperties.model_validate(
    {
        "blocks": [
            {
                "block_type": "widget",
                "name": "filters",
                "layout": {"x": 0, "y": 0, "w": 12, "h": 2},
                "components": [
                    {"component_type": "input", "name": "customer"},
                    {
                        "component_type": "select",
                        "name": "status",
                        "multiple": True,
                        "options": [{"label": s, "value": s} for s in ("paid", "shipped", "pending")],
                    },
                    {"component_type": "input", "name": "min_total", "data_type": "float"},
                    {"component_type": "input", "name": "placed_after", "data_type": "date"},
                    {"component_type": "input", "name": "limit", "data_type": "integer"},
                ],
            },
            {
                "block_type": "widget",
                "name": "editor",
                "layout": {"x": 0, "y": 2, "w": 12, "h": 2},
                "components": [
                    {"component_type": "input", "name": "customer"},
                    {"component_type": "boolean", "name": "urgent"},
                    {"component_type": "input", "name": "due", "data_type": "datetime"},
                ],
            },
            {
                "block_type": "table",
                "name": "orders",
                "layout": {"x": 0, "y": 4, "w": 12, "h": 8},
                "columns": [{"name": "id", "data_type": "integer"}, {"name": "status", "data_type": "text"}],
            },
        ]
    }
)

ROWS = [
    (1, "Ada", "paid", "12.50", "2026-01-05"),
    (2, "Grace", "shipped", "99.99", "2026-02-10"),
    (3, "Linus", "pending", "5.00", "2026-03-15"),
    (4, "Ada", "shipped", "250.00", "2026-04-20"),
]


def _state_class() -> type[BaseModel]:
    # The page's generated state.py, imported as a module (pydantic resolves its annotations there).
    module = types.ModuleType("sql_execution_page_state")
    sys.modules[module.__name__] = module
    exec(generate(PAGE).state, module.__dict__)
    state_class: type[BaseModel] = module.State
    return state_class


STATE = _state_class()


def _state(**blocks: dict[str, Any]) -> BaseModel:
    return STATE.model_validate(blocks)


@pytest.fixture(params=["postgres", "sqlite"])
def sources(request: pytest.FixtureRequest, postgres: Postgres, sqlite_url: str) -> Iterator[Sources]:  # noqa: F811
    """Sources "shop" (and "other", same database) of one kind, with a fresh ``orders`` table of four rows."""
    url = postgres.url("execution") if request.param == "postgres" else sqlite_url
    options = DataSourceOptions(max_rows=4)
    declared = {
        "shop": DataSource(kind=request.param, options=options),
        "other": DataSource(kind=request.param, url_env="OTHER_URL"),
    }
    made = Sources(declared, environ={"APPYARD_DB_SHOP": url, "OTHER_URL": url})
    with made.transaction("shop") as connection:
        connection.execute(text("DROP TABLE IF EXISTS orders"))
        connection.execute(
            text(
                "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, status TEXT NOT NULL, "
                "total NUMERIC(10, 2) NOT NULL, placed_at DATE NOT NULL, note TEXT)"
            )
        )
        for row in ROWS:
            connection.execute(
                text("INSERT INTO orders (id, customer, status, total, placed_at) VALUES (:i, :c, :s, :t, :p)"),
                {"i": row[0], "c": row[1], "s": row[2], "t": row[3], "p": dt.date.fromisoformat(row[4])},
            )
    yield made
    made.close()


def _run(sources: Sources, sql: str, state: BaseModel, name: str = "fn") -> Any:
    return run_function(sources, PAGE, parse_sql(sql, name, f"scripts/{name}.sql"), state)


def _ids(sources: Sources, sql: str, **blocks: dict[str, Any]) -> list[int]:
    outcome = _run(sources, sql, _state(**blocks))
    return [row["id"] for row in outcome.rows]


def _table(sources: Sources) -> list[tuple[Any, ...]]:
    with sources.transaction("shop") as connection:
        return [tuple(row) for row in connection.execute(text("SELECT id, customer, note FROM orders ORDER BY id"))]


def test_a_query_returns_json_rows_and_its_columns(sources: Sources) -> None:
    outcome = _run(
        sources,
        "SELECT id, customer, total, placed_at FROM orders WHERE customer = :filters.customer ORDER BY id",
        _state(filters={"customer": "Ada"}),
    )
    assert outcome.columns == ["id", "customer", "total", "placed_at"]
    assert outcome.rows == [
        {"id": 1, "customer": "Ada", "total": 12.5, "placed_at": "2026-01-05"},
        {"id": 4, "customer": "Ada", "total": 250.0, "placed_at": "2026-04-20"},
    ]
    assert outcome.rowcount == 2


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"min_total": 50.0}, [2, 4]),
        ({"placed_after": "2026-03-01"}, [3, 4]),
        ({}, [1, 2, 3, 4]),  # an untouched filter is NULL, typed, so ":x IS NULL" works on PostgreSQL too
        ({"min_total": 50.0, "placed_after": "2026-03-01"}, [4]),
    ],
)
def test_values_are_bound_with_their_state_types(sources: Sources, values: dict[str, Any], expected: list[int]) -> None:
    sql = """
        SELECT id FROM orders
        WHERE (:filters.min_total IS NULL OR total >= :filters.min_total)
          AND (:filters.placed_after IS NULL OR placed_at >= :filters.placed_after)
        ORDER BY id
    """
    assert _ids(sources, sql, filters=values) == expected


@pytest.mark.parametrize(("urgent", "expected"), [(None, [1, 2, 3, 4]), (True, [1, 2, 3, 4]), (False, [])])
def test_a_boolean_binds_typed_even_when_null(sources: Sources, urgent: bool | None, expected: list[int]) -> None:
    sql = "SELECT id FROM orders WHERE (:editor.urgent IS NULL OR :editor.urgent = :editor.urgent AND :editor.urgent)"
    assert _ids(sources, sql + " ORDER BY id", editor={"urgent": urgent}) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [(["shipped"], [2, 4]), (["paid", "pending"], [1, 3]), ([], []), (None, [])],
)
def test_a_multi_select_binds_as_an_expanding_list(
    sources: Sources, status: list[str] | None, expected: list[int]
) -> None:
    sql = "SELECT id FROM orders WHERE status IN :filters.status ORDER BY id"
    assert _ids(sources, sql, filters={"status": status}) == expected


@pytest.mark.parametrize(
    ("due", "same"),
    [("2026-01-01T10:00:00Z", True), ("2026-01-01T12:00:00+02:00", True), ("2026-01-01T12:00:00Z", False)],
)
def test_an_aware_datetime_binds_as_an_instant(postgres: Postgres, due: str, same: bool) -> None:  # noqa: F811
    made = Sources({"shop": DataSource(kind="postgres")}, environ={"APPYARD_DB_SHOP": postgres.url("execution")})
    try:
        sql = "SELECT :editor.due = TIMESTAMPTZ '2026-01-01 10:00:00+00' AS same"
        assert _run(made, sql, _state(editor={"due": due})).rows == [{"same": same}]
    finally:
        made.close()


def test_empty_text_binds_as_null(sources: Sources) -> None:
    outcome = _run(sources, "SELECT :filters.customer IS NULL AS empty", _state(filters={"customer": ""}))
    assert outcome.rows[0]["empty"] in (True, 1)


def test_a_bare_name_binds_the_one_state_field_of_that_name_or_its_mapping(sources: Sources) -> None:
    assert _ids(sources, "SELECT id FROM orders WHERE total < :min_total ORDER BY id", filters={"min_total": 20}) == [
        1,
        3,
    ]
    mapped = "-- param who = editor.customer\nSELECT id FROM orders WHERE customer = :who ORDER BY id"
    assert _ids(sources, mapped, editor={"customer": "Grace"}, filters={"customer": "Ada"}) == [2]


def test_a_tables_selected_row_binds_by_column(sources: Sources) -> None:
    assert _ids(sources, "SELECT id FROM orders WHERE id = :orders.id", orders={"id": 3, "status": "pending"}) == [3]


def test_colons_in_strings_casts_and_comments_are_not_parameters(sources: Sources) -> None:
    cast = "date('2026-01-01')" if sources.kind("shop") == "sqlite" else "'2026-01-01'::date"
    sql = f"""
        -- returns ':filters.customer' literally (a comment mentioning :nothing)
        SELECT id, ':filters.customer' AS literal, {cast} AS day FROM orders WHERE id = :orders.id /* :x */
    """
    outcome = _run(sources, sql, _state(orders={"id": 1}))
    assert outcome.rows[0]["literal"] == ":filters.customer"
    assert str(outcome.rows[0]["day"]).startswith("2026-01-01")


INJECTIONS = [
    "'; DROP TABLE orders; --",
    "' OR '1'='1",
    "Ada' --",
    '"; DELETE FROM orders; --',
    "Robert'); DROP TABLE orders;--",
    "\\'; DROP TABLE orders; --",
    ":filters.customer",
    "$$; DROP TABLE orders; $$",
    "Zoë 🚀 — 日本語 ' \" \\ %s %(p0)s ?",
    "x" * 100_000,
]


@pytest.mark.parametrize("value", INJECTIONS, ids=[value[:24] for value in INJECTIONS])
def test_injection_through_state_changes_nothing(sources: Sources, value: str) -> None:
    before = _table(sources)
    found = _ids(sources, "SELECT id FROM orders WHERE customer = :filters.customer", filters={"customer": value})
    assert found == []
    assert _table(sources) == before

    # Written as data and read back byte for byte: the value never became SQL.
    outcome = _run(
        sources,
        "UPDATE orders SET note = :editor.customer WHERE id = :orders.id",
        _state(editor={"customer": value}, orders={"id": 2}),
    )
    assert outcome.rows is None and outcome.rowcount == 1
    assert _table(sources) == [(row[0], row[1], value if row[0] == 2 else None) for row in before]


def test_a_statement_commits_and_reports_its_rowcount(sources: Sources) -> None:
    outcome = _run(
        sources,
        "UPDATE orders SET note = 'vip' WHERE customer = :filters.customer",
        _state(filters={"customer": "Ada"}),
    )
    assert (outcome.rows, outcome.columns, outcome.rowcount) == (None, [], 2)
    assert [row[2] for row in _table(sources)] == ["vip", None, None, "vip"]


def test_a_failing_statement_changes_nothing_and_says_why(sources: Sources) -> None:
    sql = "UPDATE orders SET customer = CASE WHEN id = 4 THEN NULL ELSE 'changed' END"
    with pytest.raises(StatementFailed) as raised:
        _run(sources, sql, _state())
    assert str(raised.value).startswith("data source shop: ")
    assert "null" in str(raised.value).lower()
    assert [row[1] for row in _table(sources)] == ["Ada", "Grace", "Linus", "Ada"]


FIVE_ROWS = "SELECT id FROM orders UNION ALL SELECT 99"


def test_more_rows_than_the_cap_is_an_error_and_the_cap_itself_is_fine(sources: Sources) -> None:
    assert len(_run(sources, "SELECT id FROM orders", _state()).rows) == 4
    with pytest.raises(TooManyRows, match=r"more than 4 rows .*bind it as a table's fetcher"):
        _run(sources, FIVE_ROWS, _state())


def test_the_source_directive_picks_the_source_and_the_first_is_the_default(sources: Sources) -> None:
    # "other" has the default row cap, not 4: five rows come back through it.
    assert len(_run(sources, f"-- source: other\n{FIVE_ROWS}", _state()).rows) == 5
    with pytest.raises(SourceUndeclared, match=r"warehouse: not declared .*\(declared: other, shop\)"):
        _run(sources, "-- source: warehouse\nSELECT 1", _state())
    with pytest.raises(SourceUndeclared):
        run_function(Sources({}), PAGE, parse_sql("SELECT 1", "fn", "scripts/fn.sql"), _state())


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT :filters.custmer", "did you mean :filters.customer"),
        ("SELECT :customer", "could be :editor.customer or :filters.customer"),
        ("SELECT :nothing_like_it", "matches no state field"),
    ],
)
def test_a_parameter_that_binds_nothing_is_refused_before_the_database(
    sources: Sources, sql: str, fragment: str
) -> None:
    with pytest.raises(StatementFailed, match=fragment):
        bind_state(parse_sql(sql, "fn", "scripts/fn.sql"), PAGE, _state())


def test_a_json_value_that_is_a_list_binds_as_one_value() -> None:
    page = PageProperties.model_validate(
        {
            "blocks": [
                {
                    "block_type": "table",
                    "name": "items",
                    "layout": {"x": 0, "y": 0, "w": 12, "h": 8},
                    "columns": [{"name": "tags", "data_type": "json"}],
                }
            ]
        }
    )
    module = types.ModuleType("sql_execution_json_state")
    sys.modules[module.__name__] = module
    exec(generate(page).state, module.__dict__)
    state = module.State.model_validate({"items": {"tags": ["a", "b"]}})
    bound = bind_state(parse_sql("SELECT :items.tags", "fn", "scripts/fn.sql"), page, state)
    assert (bound["p0"].value, bound["p0"].data_type, bound["p0"].expanding) == (["a", "b"], "json", False)


def test_the_bound_statement_holds_no_value() -> None:
    script = parse_sql("SELECT id FROM orders WHERE customer = :filters.customer", "fn", "scripts/fn.sql")
    bound = bind_state(script, PAGE, _state(filters={"customer": "'; DROP TABLE orders; --"}))
    assert bound["p0"].path == "filters.customer" and bound["p0"].data_type == "text"
    assert "DROP" not in str(statement(script, bound))


def test_measure_a_function_through_run_function(postgres: Postgres) -> None:  # noqa: F811
    """Not an assertion on time: prints run_function (bind from state, one transaction, rows as JSON) p50/p99."""
    url = postgres.url("execution_measure")
    made = Sources({"shop": DataSource(kind="postgres")}, environ={"APPYARD_DB_SHOP": url})
    script = parse_sql("SELECT :filters.customer AS who, :filters.min_total AS at_least", "fn", "scripts/fn.sql")
    state = _state(filters={"customer": "Ada", "min_total": 1.5})
    try:
        for _ in range(200):
            run_function(made, PAGE, script, state)
        durations = []
        for _ in range(2000):
            started = time.perf_counter()
            run_function(made, PAGE, script, state)
            durations.append(time.perf_counter() - started)
        durations.sort()
        p50, p99 = statistics.median(durations) * 1000, durations[int(len(durations) * 0.99)] * 1000
        print(f"\nrun_function, 2 bound parameters, PostgreSQL, n=2000: p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    finally:
        made.close()
