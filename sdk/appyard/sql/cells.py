"""A smart table's columns and cell values: the whitelist of names, typed values, and the fetcher as a clause.

Everything the viewer sends about a SQL table — sort keys, filter columns, edited cells, keyset values — passes
through here before it reaches SQL: a column name is only ever looked up in what the database said the query
returns (:class:`~appyard.database.TableFacts`) and never pasted, and a value is converted to the column's type
(a date string to a date, "12.50" to a Decimal for a NUMERIC column) so that it binds with the right type on every
dialect, or is refused with a message naming the column.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import BindParameter, TextClause, bindparam, text

from ..database import ColumnFacts, TableFacts
from ..errors import TableRequestInvalid


class FetcherScript(Protocol):
    """What smart tables need of a parsed `.sql` function (``appyard.sql.text.SqlScript`` is one)."""

    def driver_sql(self) -> str:
        """The statement for SQLAlchemy ``text()``: parameters as ``:p0``, ``:p1``…, other colons escaped."""
        ...


def known_columns(facts: TableFacts) -> str:
    """The query's columns, for messages."""
    return ", ".join(facts.columns) or "none"


def column_facts(facts: TableFacts, column: str, *, role: str = "column") -> ColumnFacts:
    """The facts of one of the query's own columns, or TableRequestInvalid naming the ones that exist."""
    found = facts.columns.get(column)
    if found is None:
        raise TableRequestInvalid(
            facts.source,
            f"{role} {column[:63]!r} is not a column of the table's query (columns: {known_columns(facts)})",
        )
    return found


def _fail(column: str, data_type: str, value: Any, source: str) -> TableRequestInvalid:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "…"
    return TableRequestInvalid(source, f"column {column!r} holds {data_type} values; {shown} is not one")


def _datetime(value: str) -> dt.datetime:
    # JavaScript's toISOString() ends in Z, which fromisoformat reads only from Python 3.11 on: be explicit.
    return dt.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)


def cell_value(column: str, facts: ColumnFacts, value: Any, source: str) -> Any:
    """``value`` (as JSON) converted to what the column's database type binds from; None stays NULL."""
    if value is None:
        return None
    data_type = facts.data_type
    try:
        if data_type == "text":
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise TypeError
            return value if isinstance(value, str) else str(value)
        if data_type == "integer":
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value.strip() if isinstance(value, str) else value)
        if data_type == "float":
            if isinstance(value, bool):
                raise TypeError
            exact = facts.db_type.upper().startswith(("NUMERIC", "DECIMAL"))
            number = decimal.Decimal(str(value).strip())
            if not number.is_finite():
                raise ValueError
            return number if exact else float(number)
        if data_type == "boolean":
            if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
                return value.strip().lower() == "true"
            if not isinstance(value, bool):
                raise TypeError
            return value
        if data_type == "date":
            return dt.date.fromisoformat(value[:10] if isinstance(value, str) and "T" in value else value)
        if data_type == "datetime":
            return _datetime(value)
        if data_type == "time":
            return dt.time.fromisoformat(value)
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        raise _fail(column, data_type, value, source) from None
    raise TableRequestInvalid(
        source,
        f"column {column!r} holds {data_type} values, which tables cannot filter or save here; use the table's "
        "on_edit (Python) for it",
    )


def statement(sql: str, bound: Mapping[str, Any]) -> TextClause:
    """``text(sql)`` with the fetcher's parameters bound: a list binds as an expanding list (``IN :p0``)."""
    params: list[BindParameter[Any]] = []
    for name, value in bound.items():
        if isinstance(value, BindParameter):
            params.append(value if value.key == name else bindparam(name, value.value, type_=value.type))
        elif isinstance(value, (list, tuple)):
            params.append(bindparam(name, list(value), expanding=True))
        else:
            params.append(bindparam(name, value))
    clause = text(sql)
    return clause.bindparams(*params) if params else clause
