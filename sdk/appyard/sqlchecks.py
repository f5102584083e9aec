"""Validation of a page's ``.sql`` functions: their data source, their parameters and the tables they reload.

These checks need more than the ``.sql`` file: the app's and the workspace's data sources (:class:`SourceScope`)
and the page's State (what a ``:parameter`` can bind to). They never connect to a database. Each problem is an
:class:`~appyard.errors.Issue` on the ``.sql`` file, at the line where the parameter or directive is written when
it can be found.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import Issue, shown
from .scripts import SCRIPTS_DIR, FunctionInfo
from .validation import Targets, suggest


@dataclass(frozen=True)
class SourceScope:
    """The data sources a page's ``.sql`` functions may name: the app's list, within the workspace's declared."""

    app_file: str
    """The app's properties.json as people see it (where a missing source is to be added)."""
    app: list[str]
    """The app's ``data_sources``, in order: the first is the default."""
    declared: Collection[str]
    """The workspace's declared data source names."""


def _line_of(text: str, pattern: str) -> str:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(pattern, line):
            return f"line {number}"
    return "$"


def _check_source(info: FunctionInfo, scope: SourceScope, file: str, text: str) -> Iterator[Issue]:
    assert info.sql is not None
    name = info.sql.source
    if name is None:
        if not scope.app:
            yield Issue(
                file,
                "$",
                "no data source to run on: add the source to data_sources in "
                f"{scope.app_file}, or name it with `-- source: <name>`",
            )
        return
    if name in scope.app:
        return
    where = _line_of(text, r"^\s*--\s*source\s*:")
    if name in scope.declared:
        yield Issue(
            file,
            where,
            f"data source {name!r} is not one of this app's data_sources: add it to data_sources in {scope.app_file}",
        )
        return
    known = ", ".join(scope.app) or "none"
    yield Issue(
        file,
        where,
        f"data source {name!r} is not declared{suggest(name, [*scope.app, *scope.declared])} "
        f"(this app's data sources: {known})",
    )


def _check_params(info: FunctionInfo, targets: Targets, file: str, text: str) -> Iterator[Issue]:
    from .sql.text import resolve_params

    assert info.sql is not None
    _, problems = resolve_params(info.sql, targets)
    for problem in problems:
        if located := re.match(r"line (\d+): ", problem):
            yield Issue(file, f"line {located[1]}", problem[located.end() :])
        elif directive := re.match(r"'-- param (\w+)", problem):
            yield Issue(file, _line_of(text, rf"^\s*--\s*param\s+{directive[1]}\b"), problem)
        else:
            yield Issue(file, "$", problem)


def _check_reload(info: FunctionInfo, tables: list[str], file: str, text: str) -> Iterator[Issue]:
    assert info.sql is not None
    for table in info.sql.reload:
        if table not in tables:
            yield Issue(
                file,
                _line_of(text, r"^\s*--\s*reload\s*:"),
                f"`-- reload:` names {table!r}, which is no table of this page{suggest(table, tables)} "
                f"(tables: {', '.join(tables) or 'none'})",
            )


def check_sql_functions(
    page_dir: Path,
    functions: Mapping[str, FunctionInfo],
    targets: Targets,
    tables: list[str],
    scope: SourceScope | None,
) -> list[Issue]:
    """Problems of the page's ``.sql`` functions; ``scope`` None skips the data source checks."""
    issues: list[Issue] = []
    for info in functions.values():
        if info.kind != "sql" or info.sql is None:
            continue
        path = page_dir / SCRIPTS_DIR / info.file
        file = shown(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        if scope is not None:
            issues += _check_source(info, scope, file, text)
        issues += _check_params(info, targets, file, text)
        issues += _check_reload(info, tables, file, text)
    return issues
