"""Running a `.sql` function: its parameters bound from the page's state, in one transaction of its source.

    bound = bind_state(script, page, state)          # {"p0": BoundValue(path="filters.customer", …), …}
    outcome = run_function(sources, page, script, state)
    outcome.rows, outcome.columns, outcome.rowcount

Values are never pasted into the text: each ``:param`` is a bound parameter typed from its State field's data type
(so ``:x IS NULL`` works on PostgreSQL, which needs a type for a NULL), a list (a multi-select) binds as an
expanding list (``status IN :filters.status``; no selection is an empty list, which matches nothing), and empty
text binds as NULL. A query may return at most the source's ``max_rows`` rows (more is :class:`TooManyRows`; page
it as a table's fetcher instead: :mod:`appyard.sql.smart`).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CursorResult,
    Date,
    DateTime,
    Float,
    String,
    TextClause,
    Time,
    TypeDecorator,
    bindparam,
    cast,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TypeEngine

from ..catalog.datatypes import DataType
from ..errors import SourceUndeclared, StatementFailed, TooManyRows
from ..properties import PageProperties
from ..tables import Row, to_json_value
from ..validation import state_targets
from .sources import Sources
from .text import SqlScript, resolve_params


class _PostgresCast(TypeDecorator[Any]):
    """A parameter PostgreSQL gets with an explicit cast: psycopg casts most types itself (``%(p0)s::DATE``) but
    not float and boolean, and PostgreSQL cannot type a NULL without one (``:x IS NULL``)."""

    impl: Any = postgresql.DOUBLE_PRECISION
    cache_ok = True

    def bind_expression(self, bindvalue: BindParameter[Any]) -> ColumnElement[Any]:
        return cast(bindvalue, self.impl_instance)


class _PostgresBoolean(_PostgresCast):
    impl = postgresql.BOOLEAN


_SQL_TYPES: dict[DataType, TypeEngine[Any]] = {
    "text": String(),
    "integer": BigInteger(),  # not Integer: a bound int8 compares with int2/int4/int8 columns alike
    "float": Float().with_variant(_PostgresCast(), "postgresql"),
    "boolean": Boolean().with_variant(_PostgresBoolean(), "postgresql"),
    "date": Date(),
    "datetime": DateTime(),
    "time": Time(),
    "json": JSON(),
}
# bool before int: True is an int too.
_PYTHON_TYPES: tuple[tuple[type, DataType], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "float"),
    (str, "text"),
    (dt.datetime, "datetime"),
    (dt.date, "date"),
    (dt.time, "time"),
)


@dataclass(frozen=True)
class BoundValue:
    """One parameter's value, taken from state, and how it is bound."""

    path: str
    """The state path it comes from, like 'filters.customer'."""
    value: Any
    """The value as bound (empty text already None; a list for an expanding parameter)."""
    data_type: DataType | None = None
    """Its State field's data type: the bound parameter's SQL type (None: left to the driver)."""
    expanding: bool = False
    """A list bound as ``IN (…)`` with one parameter per element."""

    def parameter(self, bind: str) -> BindParameter[Any]:
        """This value as SQLAlchemy's bound parameter ``bind`` (typed, expanding for a list)."""
        type_ = _SQL_TYPES[self.data_type] if self.data_type is not None else None
        if isinstance(self.value, dt.datetime) and self.value.tzinfo is not None:
            type_ = DateTime(timezone=True)  # an instant: compared as one with timestamptz and timestamp columns
        return bindparam(bind, self.value, type_=type_, expanding=self.expanding)


@dataclass
class SqlOutcome:
    """What a `.sql` function did: a query's rows (JSON values) and columns, or a statement's affected rows."""

    rows: list[Row] | None
    columns: list[str]
    rowcount: int


def bind_state(
    script: SqlScript, page: PageProperties, state: BaseModel, *, source: str | None = None
) -> dict[str, BoundValue]:
    """The script's parameters as bound values, by bind name (``p0``, ``p1``…), read from the page's ``state``.

    A parameter that names no state value is an error (validation reports it first, with "did you mean");
    ``source`` names the data source in that message when the script names none.
    """
    source = script.source or source or "(default)"
    targets = state_targets(page)
    paths, problems = resolve_params(script, targets)
    if problems:
        raise StatementFailed(source, f"{script_label(script)}: " + "; ".join(problems) + " (run `appyard validate`)")
    bound: dict[str, BoundValue] = {}
    for param in dict.fromkeys(script.params):
        path = paths[param]
        declared_type, multiple = targets.get(path, (None, False))
        value, annotation_type, annotation_multiple = _read(state, path, source)
        data_type = declared_type or annotation_type or _type_of(value)
        listed = multiple or annotation_multiple
        # A multi-select's list expands (IN :x); a json value that happens to be a list is one value.
        expanding = listed or (data_type != "json" and isinstance(value, (list, tuple)))
        if expanding:
            value = list(value) if value is not None else []
            if data_type == "json":  # a list of tags: each element is text
                data_type = "text"
        elif value == "" and data_type in ("text", None):
            value = None
        bound[script.bind_name(param)] = BoundValue(path, value, data_type, expanding)
    return bound


def statement(script: SqlScript, bound: Mapping[str, BoundValue]) -> TextClause:
    """The script's text for SQLAlchemy with every parameter bound (nothing pasted)."""
    return text(script.driver_sql()).bindparams(*(value.parameter(bind) for bind, value in bound.items()))


def run_function(sources: Sources, page: PageProperties, script: SqlScript, state: BaseModel) -> SqlOutcome:
    """Run a `.sql` function once in a transaction of its source (committed unless it fails)."""
    source = script.source or sources.default
    if source is None:
        raise SourceUndeclared("(default)", ())
    bound = bind_state(script, page, state, source=source)
    max_rows = sources.options(source).options.max_rows
    with sources.transaction(source) as connection:
        result = connection.execute(statement(script, bound))
        if not result.returns_rows:
            return SqlOutcome(rows=None, columns=[], rowcount=max(result.rowcount, 0))
        columns = list(result.keys())
        rows = fetch_rows(result, source, max_rows)
        return SqlOutcome(rows=rows, columns=columns, rowcount=len(rows))


def fetch_rows(result: CursorResult[Any], source: str, max_rows: int) -> list[Row]:
    """At most ``max_rows`` rows of ``result`` as JSON values; one more is :class:`TooManyRows`."""
    fetched = result.fetchmany(max_rows + 1)
    if len(fetched) > max_rows:
        result.close()
        raise TooManyRows(
            source,
            f"the query returned more than {max_rows} rows (the source's options.max_rows); narrow it with a WHERE, "
            "or bind it as a table's fetcher, which pages it in the database",
        )
    columns = list(result.keys())
    return [{column: to_json_value(value) for column, value in zip(columns, row, strict=True)} for row in fetched]


def script_label(script: SqlScript) -> str:
    """How messages name the script: its file name."""
    return f"{script.name}.sql"


def _read(state: BaseModel, path: str, source: str) -> tuple[Any, DataType | None, bool]:
    """The value at ``block.field`` and the data type its State annotation says (and whether it is a list)."""
    block_name, _, field_name = path.partition(".")
    block = getattr(state, block_name, None)
    if not isinstance(block, BaseModel) or field_name not in type(block).model_fields:
        raise StatementFailed(source, f"state has no value {path}; regenerate the page's models with `appyard gen`")
    annotation = type(block).model_fields[field_name].annotation
    data_type, multiple = _annotation_type(annotation)
    return getattr(block, field_name), data_type, multiple


def _annotation_type(annotation: Any) -> tuple[DataType | None, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        annotation = members[0] if len(members) == 1 else Any
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return _annotation_type(item)[0], True
    for python_type, data_type in _PYTHON_TYPES:
        if annotation is python_type:
            return data_type, False
    return None, False


def _type_of(value: Any) -> DataType | None:
    for python_type, data_type in _PYTHON_TYPES:
        if isinstance(value, python_type):
            return data_type
    return "json" if isinstance(value, (dict, list)) else None
