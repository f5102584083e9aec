"""Which table requests a page allows: the API refuses the rest, and the runner checks again (DESIGN §7).

A viewer's :class:`~appyard.runs.TableRequest` pages, sorts, filters or edits a table whose fetcher is a `.sql`
query. It may name only that table's fetcher; an ``update`` only a column the page declares ``editable`` whose
database facts name a base column (never the primary key); an ``insert`` or ``delete`` only on a table that
declares ``insertable`` or ``deletable``. Sort and filter columns are checked against the query's own columns
by :mod:`appyard.sql.smart` when the page is fetched.
"""

from __future__ import annotations

from ..catalog.blocks import DataColumn, Table
from ..database import TableFacts
from ..errors import NotFound, TableRefused
from ..runs import TableQuery, TableRequest
from ..workspace import Page


def is_sql(page: Page, function: str | None) -> bool:
    """Whether ``function`` is a `.sql` function of the page."""
    info = page.functions.get(function) if function else None
    return info is not None and info.kind == "sql"


def sql_tables(page: Page) -> list[Table]:
    """The page's tables whose fetcher is a `.sql` function."""
    return [block for block in page.properties.blocks if isinstance(block, Table) and is_sql(page, block.fetcher)]


def table_of(page: Page, name: str) -> Table:
    """The page's table block ``name``, or NotFound listing the tables."""
    tables = [block for block in page.properties.blocks if isinstance(block, Table)]
    for table in tables:
        if table.name == name:
            return table
    known = ", ".join(table.name for table in tables) or "none"
    raise NotFound(f"page {page.app}/{page.name} has no table {name!r} (tables: {known})")


def first_query(table: Table) -> TableQuery:
    """The query of a table's first page (what a page open or a reload shows)."""
    return TableQuery(limit=table.page_size)


def _facts(page: Page, table: Table) -> TableFacts | None:
    return page.database.tables.get(table.name) if page.database is not None else None


def check_table_request(page: Page, function: str, request: TableRequest) -> Table:
    """The table the request is for, when the page allows it; else :class:`TableRefused` saying why."""
    try:
        table = table_of(page, request.table)
    except NotFound as error:
        raise TableRefused(str(error)) from None
    if table.fetcher != function:
        raise TableRefused(
            f"a request for table {table.name} must name its fetcher {table.fetcher!r}, not {function!r}"
            if table.fetcher
            else f"table {table.name} has no fetcher to page"
        )
    info = page.functions.get(function)
    if info is None or not info.is_query:
        raise TableRefused(f"table {table.name}'s fetcher {function} is not a .sql query: it pages in the browser")
    facts = _facts(page, table)
    if request.action == "update":
        assert request.edit is not None
        column = request.edit.column
        declared = {c.name: c for c in table.columns if isinstance(c, DataColumn)}
        if column not in declared or not declared[column].editable:
            editable = ", ".join(name for name, c in declared.items() if c.editable) or "none"
            raise TableRefused(
                f"column {column!r} of table {table.name} is not editable (editable: {editable})", forbidden=True
            )
        if facts is None or not facts.smart:
            raise TableRefused(
                f"table {table.name} cannot save edits: its query must read one table and return its primary key "
                "(see database.json)",
                forbidden=True,
            )
        known = facts.columns.get(column)
        if known is None or known.base_column is None:
            raise TableRefused(f"column {column!r} of table {table.name} is computed and cannot be saved")
        if known.primary_key or column in facts.primary_key:
            raise TableRefused(f"column {column!r} is table {table.name}'s primary key and cannot be edited")
    elif request.action in ("insert", "delete"):
        flag = "insertable" if request.action == "insert" else "deletable"
        if not (table.insertable if request.action == "insert" else table.deletable):
            raise TableRefused(
                f"table {table.name} does not allow {request.action}s: set {flag} in the page's properties",
                forbidden=True,
            )
        if facts is None or not facts.smart:
            raise TableRefused(
                f"table {table.name} cannot {request.action} rows: its query must read one table and return its "
                "primary key (see database.json)",
                forbidden=True,
            )
    return table
