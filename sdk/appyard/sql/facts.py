"""A page's ``database.json``: what each table whose fetcher is a `.sql` query learns from its database.

``appyard gen`` (and the local API when a page is saved) call :func:`learn_page` for every page with SQL tables
and write the result with :func:`appyard.database.dumps`. Each fetcher runs once as ``SELECT * FROM (…) LIMIT 0``
in a transaction of its data source (see :func:`appyard.sql.inspection.learn`), with every parameter bound to a
NULL of its State field's type: no rows are read, and a parameter's type is still known to the database.

A source that cannot be reached (or whose URL is not set) raises its :class:`~appyard.errors.DataSourceError`
(``SourceUnreachable``, ``SourceNotConfigured``) so that the caller keeps the committed file; a query the database
refuses raises ``StatementFailed`` naming the page's problem.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import JSON, BindParameter, Boolean, Date, DateTime, Float, Integer, String, Time, bindparam
from sqlalchemy.types import TypeEngine

from ..catalog.blocks import Table
from ..catalog.datatypes import DataType
from ..database import PageDatabase
from ..errors import SourceUndeclared
from ..validation import state_targets
from ..workspace import Page
from .inspection import learn
from .sources import Sources
from .text import SqlScript, resolve_params

_TYPES: dict[DataType, type[TypeEngine[Any]]] = {
    "text": String,
    "integer": Integer,
    "float": Float,
    "boolean": Boolean,
    "date": Date,
    "datetime": DateTime,
    "time": Time,
    "json": JSON,
}


def learning_binds(
    script: SqlScript, targets: Mapping[str, tuple[DataType, bool]], untyped: Collection[str] = ()
) -> dict[str, BindParameter[Any]]:
    """Every parameter of ``script`` as a NULL typed like its State field (an empty list for a multi-select).

    A parameter bound to a path in ``untyped`` (a table column whose type nobody knows yet: not declared, not
    learned) is a NULL without a type, so the database infers it (``product_id = :products.id`` on a first
    ``appyard gen``: typed as text it would fail with ``bigint = character varying``).
    """
    paths, _ = resolve_params(script, targets)
    bound: dict[str, BindParameter[Any]] = {}
    for param in script.params:
        name = script.bind_name(param)
        path = paths.get(param, "")
        data_type, multiple = targets.get(path, ("text", False))
        if path in untyped and not multiple:
            bound[name] = bindparam(name, None)
        elif multiple:
            bound[name] = bindparam(name, [], type_=_TYPES[data_type](), expanding=True)
        else:
            bound[name] = bindparam(name, None, type_=_TYPES[data_type]())
    return bound


def learn_page(page: Page, sources: Sources) -> PageDatabase:
    """What the database says about each of the page's tables whose fetcher is a `.sql` query.

    ``sources`` are the app's, in its order: the first is the source of fetchers that name none.
    """
    fallback = sources.default
    targets = state_targets(page.properties, page.database)
    untyped = _untyped_columns(page)
    learned = PageDatabase()
    for block in page.properties.blocks:
        if not isinstance(block, Table) or block.fetcher is None:
            continue
        function = page.functions.get(block.fetcher)
        if function is None or function.sql is None or not function.sql.is_query:
            continue
        script = function.sql
        source = script.source or fallback
        if source is None:
            raise SourceUndeclared(f"(none for {page.app}/{page.name}/{function.file})", sources.declared)
        with sources.transaction(source) as connection:
            binds = learning_binds(script, targets, untyped)
            learned.tables[block.name] = learn(connection, script, binds, source)
    return learned


def _untyped_columns(page: Page) -> set[str]:
    """``<table>.<column>`` of every column with neither a declared data_type nor a learned one."""
    untyped: set[str] = set()
    for block in page.properties.blocks:
        if not isinstance(block, Table):
            continue
        facts = page.database.tables.get(block.name) if page.database is not None else None
        for column in block.data_columns():
            if column.data_type is None and (facts is None or column.name not in facts.columns):
                untyped.add(f"{block.name}.{column.name}")
    return untyped
