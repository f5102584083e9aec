"""One page of a SQL table, sorted and filtered in the database: the fetcher wrapped as a subquery.

``SELECT <its columns> FROM (<fetcher>) AS appyard_page WHERE <filters> ORDER BY <sort>, <key> LIMIT n + 1``:

- **Names** (sort keys, filter columns) are looked up in the query's own columns (:class:`TableFacts`) and
  rendered by SQLAlchemy as identifiers of that whitelist; the viewer's text never reaches SQL. An unknown name is
  an error that lists the valid ones.
- **Values** (filters, search, keyset) are converted to the column's type and bound. ``contains`` and
  ``starts_with`` escape ``%`` and ``_`` and ignore case on every dialect (SQLite folds ASCII letters only);
  ``not_equals`` keeps NULLs (``IS DISTINCT FROM``). A filter with an empty value (``None`` or ``""``) is no filter:
  that is an empty input above the table. ``search`` looks for the text in every text column.
- **Order**: the requested keys, then the primary key (every sortable column when there is none), so that pages
  never overlap or skip rows. NULL sorts as the largest value on every dialect (PostgreSQL's rule; emulated with a
  leading ``col IS NULL`` key elsewhere). With no sort requested, a fetcher's own top-level ``ORDER BY`` is kept;
  otherwise (and for the count) it is dropped unless a ``LIMIT``/``OFFSET`` or a parameter depends on it.
- **Paging**: ``offset``, or keyset with ``after`` (the last shown row's values of the order keys). One more row
  than the page is read to know ``more``.
- **Total**: exact and free when the page is the last one (``offset + rows``). Otherwise ``count(*)`` over the
  filtered subquery capped at :data:`COUNT_LIMIT` rows (``SELECT count(*) FROM (SELECT 1 … LIMIT 1001)``), so a
  count never reads more than that many matching rows: 0.26 ms in PostgreSQL for an unfiltered 1,000,000-row table
  here (1.2 ms at a cap of 10,000), against a full scan for an exact count. Past the cap ``total`` is None and the
  viewer shows "more" instead of a page count. Without the viewer's filters the count is a scalar subquery of the
  page's own statement (no extra round trip). A filter no index serves (``search``, ``contains``) can make even
  the capped count scan the whole table, so then it is a statement of its own, and on PostgreSQL it has its own
  :data:`COUNT_TIMEOUT_MS` (in a savepoint; past it ``total`` is None and the page is answered anyway).
  ``count=false`` skips it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Integer,
    Select,
    String,
    and_,
    cast,
    column,
    exc,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.selectable import Subquery

from ..database import TableFacts
from ..errors import TableRequestInvalid
from ..runs import FILTER_OPERATORS, ColumnFilter, TableQuery
from ..tables import Row, to_json_value
from .cells import FetcherScript, cell_value, column_facts, known_columns, statement
from .inspection import learn, statement_body, tokens, without_own_order

COUNT_LIMIT = 1_000
"""Counting stops after this many matching rows (``total`` is then None): a count's cost stays bounded. 1,000
rather than 10,000: the count is on the path of every page (the whole path's goal is p50 ≤ 10 ms), and counting
10,000 rows added ~5 ms per page under load here against ~1 ms for 1,000."""

COUNT_TIMEOUT_MS = 100
"""On PostgreSQL a count taking longer is cancelled (``total`` is then None): a filter no index serves can make
even a capped count scan the whole table."""


@dataclass(frozen=True)
class TablePage:
    """A page of rows as the table shows it."""

    rows: list[Row]
    total: int | None
    """Rows matching the filters, when known cheaply (see the module's docstring)."""
    offset: int
    """Where the page starts (as the request said, for keyset paging)."""
    more: bool
    """Whether rows follow this page."""


class DeclaredFilter(Protocol):
    """A filter the table declares in properties.json (its value comes with the query's filters)."""

    @property
    def column(self) -> str: ...

    @property
    def operator(self) -> str: ...


@dataclass(frozen=True)
class _Key:
    name: str
    descending: bool
    nullable: bool


def orders_itself(sql: str) -> bool:
    """Whether the statement has its own top-level ORDER BY (kept when the viewer asks for no sort)."""
    depth = 0
    parts = tokens(sql)
    for index, token in enumerate(parts[:-1]):
        if token.kind == "punct" and token.text in "()":
            depth += 1 if token.text == "(" else -1
        elif depth == 0 and token.word == "order" and parts[index + 1].word == "by":
            return True
    return False


def _condition(
    facts: TableFacts, columns: Mapping[str, ColumnElement[Any]], where: ColumnFilter
) -> ColumnElement[bool]:
    """One filter as one SQL expression over a whitelisted column with a bound value."""
    facts_of = column_facts(facts, where.column, role="filter column")
    target = columns[where.column]
    operator = where.operator
    if operator == "is_null":
        return target.is_(None)
    if operator == "is_not_null":
        return target.is_not(None)
    if operator in {"contains", "starts_with"}:
        text_value = str(where.value)
        as_text = target if facts_of.data_type == "text" else cast(target, String)
        if operator == "contains":
            return as_text.icontains(text_value, autoescape=True)
        return as_text.istartswith(text_value, autoescape=True)
    if operator == "in":
        values = where.value if isinstance(where.value, list) else [where.value]
        typed = [cell_value(where.column, facts_of, value, facts.source) for value in values if value is not None]
        matched = target.in_(typed)
        return or_(matched, target.is_(None)) if None in values else matched
    value = cell_value(where.column, facts_of, where.value, facts.source)
    compared: ColumnElement[bool]
    if operator == "equals":
        compared = target == value
    elif operator == "not_equals":
        compared = target.is_distinct_from(value)
    elif operator == "lt":
        compared = target < value
    elif operator == "lte":
        compared = target <= value
    elif operator == "gt":
        compared = target > value
    else:  # gte
        compared = target >= value
    return compared


def _filters(
    facts: TableFacts, columns: Mapping[str, ColumnElement[Any]], query: TableQuery
) -> list[ColumnElement[bool]]:
    conditions = [
        _condition(facts, columns, where)
        for where in query.filters
        if where.operator in {"is_null", "is_not_null"} or where.value not in (None, "", [])
    ]
    search = (query.search or "").strip()
    if search:
        texts = [columns[name] for name, facts_of in facts.columns.items() if facts_of.data_type == "text"]
        conditions.append(or_(*(target.icontains(search, autoescape=True) for target in texts)) if texts else false())
    return conditions


def _order_keys(facts: TableFacts, query: TableQuery) -> list[_Key]:
    keys: list[_Key] = []
    for sort in query.sort:
        facts_of = column_facts(facts, sort.column, role="sort column")
        if facts_of.data_type == "json":
            raise TableRequestInvalid(facts.source, f"column {sort.column!r} holds JSON, which cannot be sorted")
        if all(key.name != sort.column for key in keys):
            keys.append(_Key(sort.column, sort.descending, facts_of.nullable))
    tiebreak = facts.primary_key or [name for name, facts_of in facts.columns.items() if facts_of.data_type != "json"]
    for name in tiebreak:
        if all(key.name != name for key in keys):
            keys.append(_Key(name, False, facts.columns[name].nullable))
    return keys


def _order_by(
    keys: Sequence[_Key], columns: Mapping[str, ColumnElement[Any]], nulls_native: bool
) -> list[UnaryExpression[Any] | ColumnElement[Any]]:
    order: list[UnaryExpression[Any] | ColumnElement[Any]] = []
    for key in keys:
        target = columns[key.name]
        if key.nullable and not nulls_native:  # NULL as the largest value, as PostgreSQL sorts it
            order.append(target.is_(None).desc() if key.descending else target.is_(None))
        order.append(target.desc() if key.descending else target.asc())
    return order


def _after(
    facts: TableFacts, keys: Sequence[_Key], columns: Mapping[str, ColumnElement[Any]], after: Sequence[Any]
) -> ColumnElement[bool]:
    """Rows strictly after the one whose order-key values are ``after`` (keyset paging)."""
    if len(after) != len(keys):
        names = ", ".join(key.name for key in keys)
        raise TableRequestInvalid(
            facts.source,
            f"keyset paging needs {len(keys)} values in 'after' (the last row's {names}), not {len(after)}",
        )
    values = [
        cell_value(key.name, facts.columns[key.name], value, facts.source)
        for key, value in zip(keys, after, strict=True)
    ]
    directions = {key.descending for key in keys}
    if len(directions) == 1 and not any(key.nullable for key in keys) and None not in values:
        # one row comparison: PostgreSQL walks an index on (a, b) straight to the first row of the page
        left = tuple_(*(columns[key.name] for key in keys))
        right = tuple_(*(literal(value) for value in values))
        return left < right if keys[0].descending else left > right
    condition: ColumnElement[bool] | None = None
    for key, value in reversed(list(zip(keys, values, strict=True))):
        target = columns[key.name]
        if value is None:
            beyond: ColumnElement[bool] = target.is_not(None) if key.descending else false()
            same: ColumnElement[bool] = target.is_(None)
        else:
            beyond = target < value if key.descending else target > value
            if key.nullable and not key.descending:
                beyond = or_(beyond, target.is_(None))
            same = target == value
        condition = beyond if condition is None else or_(beyond, and_(same, condition))
    return condition if condition is not None else true()


def _row(names: Sequence[str], values: Sequence[Any], booleans: set[str]) -> Row:
    """A row as JSON; SQLite and MySQL hand booleans over as 0 and 1."""
    row: Row = {}
    for name, value in zip(names, values, strict=True):
        row[name] = bool(value) if name in booleans and isinstance(value, int) else to_json_value(value)
    return row


def _unordered(body: str, bound: Mapping[str, Any]) -> str:
    """The fetcher without its own ORDER BY when that is safe, and it keeps every parameter."""
    unordered = without_own_order(body)
    if unordered is not body and any(not re.search(rf"(?<![\\\w]):{name}\b", unordered) for name in bound):
        return body  # a parameter was in the ORDER BY: keep the statement whole
    return unordered


def _rows(sql: str, bound: Mapping[str, Any], facts: TableFacts) -> tuple[Subquery, dict[str, ColumnElement[Any]]]:
    """The fetcher as a subquery whose columns are the query's own (the whitelist), by name."""
    names = list(facts.columns)
    subquery = statement(sql + "\n", bound).columns(*(column(name) for name in names)).subquery("appyard_page")
    return subquery, {name: subquery.c[name] for name in names}


def fetch_page(
    connection: Connection,
    dialect: str | Dialect,
    script: FetcherScript,
    bound: Mapping[str, Any],
    facts: TableFacts,
    query: TableQuery,
    declared_filters: Sequence[DeclaredFilter],
    max_rows: int,
    *,
    count_limit: int = COUNT_LIMIT,
) -> TablePage:
    """One page of the fetcher's rows for ``query`` (see the module docstring for what runs in the database).

    ``dialect`` names the source's kind for messages; the SQL follows the connection's own dialect. The page holds
    at most ``max_rows`` rows (the source's row cap).
    """
    del dialect  # the connection knows its dialect; the argument stays for callers that pass the source's kind
    if not facts.columns:
        facts = learn(connection, script, bound, facts.source)
    for declared in declared_filters:
        column_facts(facts, declared.column, role="declared filter column")
        if declared.operator not in FILTER_OPERATORS:
            raise TableRequestInvalid(
                facts.source,
                f"filter operator {declared.operator!r} is not one of {', '.join(FILTER_OPERATORS)}",
            )
    body = statement_body(script.driver_sql())
    unordered = _unordered(body, bound)
    keep_own_order = not query.sort and orders_itself(body)
    if keep_own_order and query.after is not None:
        raise TableRequestInvalid(
            facts.source,
            "keyset paging ('after') needs a sort: the fetcher orders rows itself; use 'offset'",
        )
    subquery, columns = _rows(body if keep_own_order else unordered, bound, facts)
    conditions = _filters(facts, columns, query)
    limit = max(1, min(query.limit, max_rows))

    page: Select[Any] = select(*columns.values()).select_from(subquery).where(*conditions)
    if not keep_own_order:
        keys = _order_keys(facts, query)
        page = page.order_by(*_order_by(keys, columns, connection.dialect.name == "postgresql"))
        if query.after is not None:
            page = page.where(_after(facts, keys, columns, query.after))
    # LIMIT and OFFSET are written as numbers (validated integers), not bound: psycopg prepares a statement run
    # often, and PostgreSQL's generic plan for `LIMIT $1` does not know the page is small (4x slower here)
    page = page.limit(literal_column(str(int(limit + 1)), Integer))
    if query.after is None and query.offset:
        page = page.offset(literal_column(str(int(query.offset)), Integer))

    width = len(columns)
    capped_at = literal_column(str(int(count_limit + 1)), Integer)
    # Without the viewer's filters the capped count reads at most COUNT_LIMIT rows of the fetcher: it rides along
    # in the page's statement (one scalar subquery, run once) and costs no round trip of its own.
    folded = query.count and not conditions
    if folded:
        counted_rows, _ = _rows(unordered, bound, facts)
        capped = select(literal(1)).select_from(counted_rows).limit(capped_at).subquery()
        page = page.add_columns(select(func.count()).select_from(capped).scalar_subquery().label("appyard_total"))

    fetched = connection.execute(page).all()
    more = len(fetched) > limit
    booleans = {name for name, facts_of in facts.columns.items() if facts_of.data_type == "boolean"}
    rows = [_row(list(columns), row[:width], booleans) for row in fetched[:limit]]
    total: int | None = None
    if query.count:
        counted: int | None
        if not more and query.after is None and (rows or not query.offset):
            counted = query.offset + len(rows)
        elif folded and fetched:
            counted = int(fetched[0][width])
        else:
            counted_rows, counted_columns = _rows(unordered, bound, facts)
            matching = _filters(facts, counted_columns, query)
            capped = select(literal(1)).select_from(counted_rows).where(*matching).limit(capped_at).subquery()
            counted = _count(connection, select(func.count()).select_from(capped))
        total = counted if counted is not None and (counted <= count_limit or not more) else None
    return TablePage(rows=rows, total=total, offset=query.offset, more=more)


def _count(connection: Connection, count: Select[Any]) -> int | None:
    """The count, or None when PostgreSQL needs more than :data:`COUNT_TIMEOUT_MS` for it.

    The count runs inside a savepoint with its own statement timeout, and the savepoint is always rolled back
    (the count changed nothing): that restores the source's timeout, and after a cancelled count the page's
    transaction goes on. Two round trips more than the count alone.
    """
    if connection.dialect.name != "postgresql":
        return int(connection.execute(count).scalar_one())
    connection.exec_driver_sql(
        f"SAVEPOINT appyard_count; SET LOCAL statement_timeout = {int(COUNT_TIMEOUT_MS)}"  # a number, not input
    )
    try:
        return int(connection.execute(count).scalar_one())
    except exc.DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != "57014":  # query_canceled
            raise
        return None
    finally:
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT appyard_count; RELEASE SAVEPOINT appyard_count")


__all__ = ["COUNT_LIMIT", "DeclaredFilter", "TablePage", "fetch_page", "known_columns"]
