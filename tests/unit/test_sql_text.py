"""Reading `.sql` functions: parameters are found only where they are parameters, and the driver binds only ours."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from appyard.catalog.datatypes import DataType
from appyard.errors import SqlSyntaxError
from appyard.sql.text import SqlScript, parse_sql, resolve_params

TARGETS: dict[str, tuple[DataType, bool]] = {
    "filters.customer": ("text", False),
    "filters.status": ("text", True),
    "orders.id": ("integer", False),
    "orders.customer": ("text", False),
    "editor.notes": ("text", False),
}


def parse(text: str) -> SqlScript:
    return parse_sql(text, "fn", "scripts/fn.sql")


@pytest.mark.parametrize(
    ("text", "params"),
    [
        ("SELECT * FROM t WHERE a = :filters.customer", ("filters.customer",)),
        ("SELECT * FROM t WHERE a = :x AND b = :x", ("x",)),
        ("SELECT :x::int, col::text FROM t", ("x",)),
        ("SELECT ':not_a_param', \"col:umn\" FROM t WHERE a = :y", ("y",)),
        ("SELECT 'it''s :no' FROM t -- :nor_this\nWHERE a = :z", ("z",)),
        ("SELECT /* :no /* nested :no */ still */ :a FROM t", ("a",)),
        ("SELECT $$ :no $$, $tag$ it's :no $tag$, :b", ("b",)),
        ("SELECT E'\\' :no', :c", ("c",)),
        ("SELECT arr[1:2], arr[:d] FROM t", ("d",)),
        ("SELECT `a:b` FROM t WHERE x = :e;", ("e",)),
        ("SELECT 10:30", ()),
    ],
)
def test_parameters_are_found_only_outside_strings_comments_and_casts(text: str, params: tuple[str, ...]) -> None:
    assert parse(text).params == params


def test_the_driver_text_binds_only_our_parameters() -> None:
    script = parse("SELECT ':x' AS a, :x::int AS b, \"c:d\" AS e, $$:y$$ AS f")
    assert script.params == ("x",)
    connection = sqlite3.connect(":memory:")
    engine = sa.create_engine("sqlite://", creator=lambda: connection)
    sql = parse("SELECT ':x' AS a, :x AS b, 'p:q' AS c").driver_sql()
    with engine.connect() as conn:
        row = conn.execute(sa.text(sql), {"p0": "'; DROP TABLE t; --"}).one()
    assert tuple(row) == (":x", "'; DROP TABLE t; --", "p:q")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("SELECT 1", "query"),
        ("  values (1)", "query"),
        ("WITH a AS (SELECT 1) SELECT * FROM a", "query"),
        ("WITH a AS (SELECT 1) UPDATE t SET x = 1", "statement"),
        ("UPDATE orders SET status = 'shipped' WHERE id = :orders.id", "statement"),
        ("-- doc\nINSERT INTO t VALUES (:a)", "statement"),
        ("DELETE FROM t", "statement"),
    ],
)
def test_kind(text: str, kind: str) -> None:
    assert parse(text).kind == kind


def test_directives_and_doc() -> None:
    script = parse(
        "-- Ship the selected order.\n"
        "-- source: shop\n"
        "-- param id = orders.id\n"
        "-- reload: orders, totals\n"
        "-- message: Order shipped.\n"
        "UPDATE orders SET status = 'shipped' WHERE id = :id\n"
    )
    assert script.source == "shop"
    assert script.mapping == {"id": "orders.id"}
    assert script.reload == ("orders", "totals")
    assert script.message == "Order shipped."
    assert script.doc == "Ship the selected order."


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("SELECT 1; SELECT 2", "line 1", "more than one statement"),
        ("SELECT 'open", "line 1", "unterminated string"),
        ('SELECT "open', "line 1", "unterminated quoted identifier"),
        ("SELECT 1 /* open", "line 1", "unterminated /* comment"),
        ("SELECT $x$ open", "line 1", "unterminated $x$-quoted string"),
        ("-- only a comment\n", "line 1", "no statement"),
        ("-- source: Shop!\nSELECT 1", "-- source", "is not a name"),
        ("-- source: a\n-- source: b\nSELECT 1", "line 2", "given twice"),
        ("-- param x orders.id\nSELECT :x", "line 1", "'-- param name = block.field'"),
    ],
)
def test_unreadable_files_name_the_line(text: str, where: str, message: str) -> None:
    with pytest.raises(SqlSyntaxError) as raised:
        parse(text)
    assert raised.value.issue.file == "scripts/fn.sql"
    assert raised.value.issue.path == where
    assert message in raised.value.issue.message


def test_a_trailing_semicolon_and_comment_are_fine() -> None:
    # The driver text ends with a newline: wrapped as a subquery, the comment swallows nothing.
    assert parse("SELECT 1; -- done").driver_sql() == "SELECT 1 -- done\n"


@pytest.mark.parametrize(
    ("text", "paths", "problem"),
    [
        ("SELECT :filters.customer", {"filters.customer": "filters.customer"}, None),
        ("SELECT :notes", {"notes": "editor.notes"}, None),
        ("-- param c = orders.customer\nSELECT :c", {"c": "orders.customer"}, None),
        ("SELECT :filters.custmer", {}, "matches no state field; did you mean :filters.customer?"),
        ("SELECT :customer", {}, "could be :filters.customer or :orders.customer"),
        ("SELECT :notez", {}, "did you mean :notes?"),
        ("SELECT :zzz", {}, "(state fields: editor.notes, filters.customer"),
        ("-- param c = orders.custmer\nSELECT :c", {}, "did you mean :orders.customer?"),
        ("-- param c = orders.id\nSELECT 1", {}, "never uses :c"),
    ],
)
def test_parameters_resolve_to_state_fields(text: str, paths: dict[str, str], problem: str | None) -> None:
    found, problems = resolve_params(parse(text), TARGETS)
    assert found == paths
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert problem in problems[0]


def test_did_you_mean_never_suggests_the_same_name() -> None:
    _, problems = resolve_params(
        parse("SELECT :customer"), {"a.customer": ("text", False), "b.customer": ("text", False)}
    )
    assert "did you mean :customer" not in problems[0]
