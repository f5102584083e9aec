"""Reading a fetcher's statement without a database: which queries read one table row for row, and which select
items are plain column references (the parts of `learn` that decide what a smart table may edit)."""

from __future__ import annotations

import pytest

from appyard.sql.inspection import Name, SelectItem, one_table, statement_body, without_own_order
from appyard.sql.paging import orders_itself
from appyard.sql.text import parse_sql


def driver(sql: str) -> str:
    """The statement as the parser hands it to smart tables (parameters `:p0`, other colons escaped)."""
    return parse_sql(sql, "fetcher", "scripts/fetcher.sql").driver_sql()


@pytest.mark.parametrize(
    ("sql", "schema", "table", "items"),
    [
        ("SELECT * FROM orders", None, "orders", [SelectItem(star=True)]),
        ("select o.* from shop.orders o", "shop", "orders", [SelectItem(star=True)]),
        (
            'SELECT id, o.customer AS who, "Status" s FROM orders AS o WHERE amount > :min',
            None,
            "orders",
            [
                SelectItem(base=Name("id", False)),
                SelectItem(base=Name("customer", False)),
                SelectItem(base=Name("Status", True)),
            ],
        ),
        (
            "SELECT id, amount * 2 AS twice, upper(customer), x::text FROM orders",
            None,
            "orders",
            [SelectItem(base=Name("id", False)), SelectItem(), SelectItem(), SelectItem()],
        ),
        (
            "SELECT id, sum(amount) OVER (PARTITION BY customer) AS running FROM orders ORDER BY id",
            None,
            "orders",
            [SelectItem(base=Name("id", False)), SelectItem()],
        ),
        (
            "-- doc\nSELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers GROUP BY id); -- end",
            None,
            "orders",
            [SelectItem(base=Name("id", False))],
        ),
        (
            "SELECT id, 'a, b FROM c' AS text FROM orders",
            None,
            "orders",
            [SelectItem(base=Name("id", False)), SelectItem()],
        ),
        ("SELECT other.id FROM orders", None, "orders", [SelectItem()]),  # not this table's column
    ],
)
def test_one_table_queries(sql: str, schema: str | None, table: str, items: list[SelectItem]) -> None:
    found = one_table(driver(sql))
    assert found is not None
    assert (found.schema.text if found.schema else None, found.table.text, found.items) == (schema, table, items)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id",
        "SELECT o.id FROM orders o LEFT JOIN customers c USING (id)",
        "SELECT o.id FROM orders o, customers c",
        "SELECT o.id FROM orders o NATURAL JOIN customers",
        "SELECT status, count(*) FROM orders GROUP BY status",
        "SELECT max(amount) FROM orders",
        "SELECT DISTINCT status FROM orders",
        "SELECT id FROM orders UNION ALL SELECT id FROM archive",
        "SELECT id FROM orders EXCEPT SELECT id FROM archive",
        "SELECT * FROM (SELECT * FROM orders) AS o",
        "SELECT * FROM generate_series(1, 10) AS g",
        "SELECT * FROM ONLY orders",
        "WITH o AS (SELECT * FROM orders) SELECT * FROM o",
        "VALUES (1), (2)",
        "TABLE orders",
        "SELECT 1",
        "SELECT id FROM orders HAVING count(*) > 1",
    ],
)
def test_queries_that_are_not_one_tables_rows(sql: str) -> None:
    assert one_table(driver(sql)) is None


@pytest.mark.parametrize(
    ("sql", "body"),
    [
        ("SELECT 1;", "SELECT 1"),
        ("SELECT ';' AS x; -- done", "SELECT ';' AS x"),
        ("SELECT $$;$$ AS x;", "SELECT $$;$$ AS x"),
        ("SELECT 1 -- no semicolon", "SELECT 1 -- no semicolon"),
    ],
)
def test_statement_body_drops_a_trailing_semicolon_only(sql: str, body: str) -> None:
    assert statement_body(sql) == body


@pytest.mark.parametrize(
    ("sql", "ordered"),
    [
        ("SELECT * FROM orders ORDER BY placed DESC", True),
        ("SELECT *, row_number() OVER (ORDER BY placed) AS n FROM orders", False),
        ("SELECT * FROM orders WHERE note = 'ORDER BY'", False),
        ("SELECT * FROM orders -- ORDER BY id", False),
    ],
)
def test_a_fetchers_own_order(sql: str, ordered: bool) -> None:
    assert orders_itself(driver(sql)) is ordered


@pytest.mark.parametrize(
    ("sql", "unordered"),
    [
        ("SELECT * FROM orders ORDER BY placed DESC", "SELECT * FROM orders "),
        ("SELECT * FROM orders ORDER BY placed DESC LIMIT 10", None),
        ("SELECT * FROM orders ORDER BY placed OFFSET 5", None),
        ("SELECT * FROM orders ORDER BY placed FETCH FIRST 5 ROWS ONLY", None),
        ("SELECT *, row_number() OVER (ORDER BY placed) AS n FROM orders", None),
        ("SELECT * FROM (SELECT * FROM orders ORDER BY id LIMIT 5) AS o", None),
        ("SELECT * FROM orders -- ORDER BY id", None),
        ("SELECT id FROM a UNION SELECT id FROM b ORDER BY id", "SELECT id FROM a UNION SELECT id FROM b "),
    ],
)
def test_the_fetchers_order_is_dropped_only_when_nothing_depends_on_it(sql: str, unordered: str | None) -> None:
    assert without_own_order(sql) == (sql if unordered is None else unordered)
