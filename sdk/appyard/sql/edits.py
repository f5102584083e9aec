"""Saving a smart table's edits in its base table, without overwriting what someone else changed meanwhile.

An edited cell is saved as ``UPDATE base SET col = :new WHERE <key> = :key AND col IS NOT DISTINCT FROM :old``
(SQLAlchemy renders the NULL-safe comparison for each dialect: ``IS NOT DISTINCT FROM`` on PostgreSQL, ``IS`` on
SQLite, ``<=>`` on MySQL). When no row matches, the row is read again: either it still exists with another value
(a :class:`CellConflict` carrying the current value, shown on that cell) or it is gone. Two people saving the same
cell at once therefore end with exactly one saved value: the database's row lock makes the second UPDATE wait and
then find that the cell no longer holds what its user saw.

Only columns the database facts map to a base column are written, the primary key never; every value is converted
to the column's type first (an invalid one is an error naming the column).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Connection, Numeric, and_, column, delete, insert, literal, select, table, update
from sqlalchemy.sql.expression import TableClause

from ..bases import CellConflict
from ..database import TableFacts
from ..errors import TableRequestInvalid
from ..runs import CellEdit, JsonScalar
from ..tables import to_json_value
from .cells import FetcherScript, cell_value, column_facts, statement
from .inspection import statement_body

DELETED = "the row was deleted meanwhile; the table now shows the current rows"
NOT_SHOWN = "the row is not one this table shows (its query leaves it out); nothing was changed"

Fetcher = tuple[FetcherScript, Mapping[str, Any]]
"""The table's `.sql` fetcher and its bound parameters, as given to ``fetch_page``."""


def _base(facts: TableFacts, action: str) -> TableClause:
    """The base table as a SQLAlchemy table of the base columns the query returns."""
    if facts.base_table is None:
        raise TableRequestInvalid(
            facts.source,
            f"cannot {action}: the table's query does not read one table row for row (it joins, groups or "
            "aggregates); use the table's on_edit (Python) for it",
        )
    if not facts.primary_key:
        raise TableRequestInvalid(
            facts.source,
            f"cannot {action}: the query does not return the primary key of {facts.base_table}; add its key "
            "columns to the SELECT",
        )
    schema, _, name = facts.base_table.rpartition(".")
    bases = sorted({facts_of.base_column for facts_of in facts.columns.values() if facts_of.base_column})
    return table(name, *(column(base) for base in bases), schema=schema or None)


def _bind(value: Any) -> Any:
    """A value for an untyped column: a Decimal binds as NUMERIC (SQLite's driver cannot bind Decimal itself)."""
    return literal(value, Numeric(asdecimal=True)) if isinstance(value, decimal.Decimal) else value


def _where_key(facts: TableFacts, base: TableClause, key: Mapping[str, JsonScalar]) -> ColumnElement[bool]:
    """``pk1 = :k1 AND pk2 = :k2`` from the row's full primary key (by output column names)."""
    if set(key) != set(facts.primary_key):
        raise TableRequestInvalid(
            facts.source,
            f"a row is named by its whole primary key ({', '.join(facts.primary_key)}), not by "
            f"{', '.join(key) or 'nothing'}",
        )
    conditions = []
    for name in facts.primary_key:
        facts_of = facts.columns[name]
        value = cell_value(name, facts_of, key[name], facts.source)
        if value is None:
            raise TableRequestInvalid(facts.source, f"primary key column {name!r} cannot be null")
        conditions.append(base.c[str(facts_of.base_column)] == _bind(value))
    return and_(*conditions)


def _shown_by(
    connection: Connection, facts: TableFacts, key: Mapping[str, JsonScalar], fetcher: Fetcher | None
) -> bool:
    """Whether the table's query (with the state's values) returns the row: edits stay within what it shows."""
    if fetcher is None:
        return True
    script, bound = fetcher
    names = list(facts.columns)
    rows = statement(statement_body(script.driver_sql()) + "\n", bound).columns(*(column(name) for name in names))
    shown = rows.subquery("appyard_shown")
    same_key = [
        shown.c[name] == _bind(cell_value(name, facts.columns[name], key[name], facts.source))
        for name in facts.primary_key
    ]
    return connection.execute(select(literal(1)).select_from(shown).where(*same_key).limit(1)).first() is not None


def update_cell(
    connection: Connection, facts: TableFacts, edit: CellEdit, *, fetcher: Fetcher | None = None
) -> CellConflict | None:
    """Save one cell if it still holds ``edit.old``; otherwise the conflict (current value, or the row is gone).

    With ``fetcher`` (the table's script and its bound parameters) only a row the table's query returns can be
    changed: a key the viewer did not get from the table (another customer's order, say) is a conflict.
    """
    edit_key, column_name, old, new = edit.key, edit.column, edit.old, edit.new
    facts_of = column_facts(facts, column_name, role="edited column")
    base = _base(facts, "save the edit")
    if facts_of.base_column is None:
        raise TableRequestInvalid(
            facts.source,
            f"column {column_name!r} is computed by the query, not a column of {facts.base_table}; it cannot be edited",
        )
    if facts_of.primary_key:
        raise TableRequestInvalid(
            facts.source,
            f"column {column_name!r} is the primary key; it cannot be edited",
        )
    if not facts_of.nullable and new is None:
        raise TableRequestInvalid(facts.source, f"column {column_name!r} cannot be empty")
    target = base.c[facts_of.base_column]
    new_value = cell_value(column_name, facts_of, new, facts.source)
    old_value = cell_value(column_name, facts_of, old, facts.source)
    where_key = _where_key(facts, base, edit_key)
    if not _shown_by(connection, facts, edit_key, fetcher):
        return CellConflict(key=dict(edit_key), column=column_name, message=NOT_SHOWN, current=None)
    saved = connection.execute(
        update(base).where(where_key, target.is_not_distinct_from(_bind(old_value))).values({target: _bind(new_value)})
    )
    if saved.rowcount == 1:
        return None
    if saved.rowcount > 1:  # the "primary key" matched several rows: never leave that half done
        raise TableRequestInvalid(
            facts.source,
            f"the key {dict(edit_key)} matches {saved.rowcount} rows of {facts.base_table}; nothing was saved",
        )
    current = connection.execute(select(target).where(where_key)).first()
    key = dict(edit_key)
    if current is None:
        return CellConflict(key=key, column=column_name, message=DELETED, current=None)
    value = to_json_value(current[0])
    return CellConflict(
        key=key,
        column=column_name,
        message=f"not saved: someone changed this cell meanwhile (it now holds {_shown(value)})",
        current=value,
    )


def _shown(value: Any) -> str:
    text = "empty" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def insert_row(
    connection: Connection, facts: TableFacts, values: Mapping[str, JsonScalar], *, fetcher: Fetcher | None = None
) -> dict[str, Any]:
    """Insert a row from base columns' values (output column names); returns the new row's primary key.

    With ``fetcher``, a row the table's query would not return is refused (the caller's transaction rolls back).
    """
    base = _base(facts, "insert a row")
    row: dict[str, Any] = {}
    for name, value in values.items():
        facts_of = column_facts(facts, name, role="inserted column")
        if facts_of.base_column is None:
            raise TableRequestInvalid(
                facts.source,
                f"column {name!r} is computed by the query; it cannot be given a value",
            )
        row[facts_of.base_column] = cell_value(name, facts_of, value, facts.source)
    missing = [
        name
        for name, facts_of in facts.columns.items()
        if facts_of.base_column
        and facts_of.base_column not in row
        and not facts_of.nullable
        and not facts_of.has_default
    ]
    if missing:
        raise TableRequestInvalid(facts.source, f"a new row needs a value for {', '.join(missing)}")
    key_columns = [base.c[str(facts.columns[name].base_column)] for name in facts.primary_key]
    adding = insert(base).values({name: _bind(value) for name, value in row.items()}) if row else insert(base)
    key: dict[str, Any] = {}
    if connection.dialect.insert_returning:
        created = connection.execute(adding.returning(*key_columns)).one()
        key = {name: to_json_value(value) for name, value in zip(facts.primary_key, created, strict=True)}
    else:
        result = connection.execute(adding)
        for name in facts.primary_key:
            base_column = str(facts.columns[name].base_column)
            key[name] = to_json_value(row.get(base_column, result.lastrowid))
    if not _shown_by(connection, facts, key, fetcher):
        raise TableRequestInvalid(
            facts.source,
            "the new row would not be one this table shows (its query leaves it out); nothing was added",
        )
    return key


def delete_row(
    connection: Connection, facts: TableFacts, key: Mapping[str, JsonScalar], *, fetcher: Fetcher | None = None
) -> CellConflict | None:
    """Delete the row with this full primary key; a conflict (on its first key column) when it is gone already.

    With ``fetcher``, only a row the table's query returns (see :func:`update_cell`).
    """
    base = _base(facts, "delete a row")
    where_key = _where_key(facts, base, key)
    if not _shown_by(connection, facts, key, fetcher):
        return CellConflict(key=dict(key), column=facts.primary_key[0], message=NOT_SHOWN, current=None)
    deleted = connection.execute(delete(base).where(where_key))
    if deleted.rowcount == 1:
        return None
    if deleted.rowcount > 1:
        raise TableRequestInvalid(
            facts.source,
            f"the key {dict(key)} matches {deleted.rowcount} rows of {facts.base_table}; nothing was deleted",
        )
    return CellConflict(key=dict(key), column=facts.primary_key[0], message=DELETED, current=None)
