"""Finding a page's functions in its ``scripts/`` folder without importing (running) any user code.

A function of the page is either a public, top-level ``def name(state, context)`` in a ``scripts/*.py`` file
(other functions in those files are private helpers), or a ``scripts/<name>.sql`` file: one SQL statement with
parameters bound from state (:mod:`appyard.sql.text` parses it). Two scripts may not define the same function
name, whatever their language. A ``.sql`` file whose name starts with ``_`` is not a function (a seed, say).
"""

from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .errors import AppyardError, Issue, PropertiesInvalid, shown

if TYPE_CHECKING:
    from .sql.text import SqlScript

SCRIPTS_DIR = "scripts"
MAX_SQL_BYTES = 256 * 1024
"""A ``.sql`` function larger than this is refused (it is one statement, not a dump)."""

FunctionKind = Literal["python", "sql"]


@dataclass(frozen=True)
class FunctionInfo:
    """A function a page's events can bind to."""

    name: str
    module: str
    """The script's module name (file name without ``.py`` or ``.sql``)."""
    line: int
    doc: str | None
    kind: FunctionKind = "python"
    """``python`` (a def in a .py script, run in a runner child) or ``sql`` (a .sql file, run in the parent)."""
    sql: SqlScript | None = None
    """The parsed ``.sql`` file, for kind ``sql``."""

    @property
    def file(self) -> str:
        """The script's file name inside ``scripts/``."""
        return f"{self.module}.{'sql' if self.kind == 'sql' else 'py'}"

    @property
    def is_query(self) -> bool:
        """A ``.sql`` function whose statement returns rows (it can be a table's fetcher)."""
        return self.sql is not None and self.sql.is_query


def _is_page_function(node: ast.stmt) -> bool:
    if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
        return False
    params = [arg.arg for arg in node.args.posonlyargs + node.args.args]
    # (state, context), optionally followed by parameters with defaults
    return params[:2] == ["state", "context"] and len(params) - len(node.args.defaults) <= 2


def functions_in(source: str, module: str) -> list[FunctionInfo]:
    """The page functions defined in one script's source (raises SyntaxError)."""
    tree = ast.parse(source, filename=f"{module}.py")
    return [
        FunctionInfo(node.name, module, node.lineno, ast.get_docstring(node))
        for node in tree.body
        if _is_page_function(node) and isinstance(node, ast.FunctionDef)
    ]


def sql_function(path: Path) -> FunctionInfo:
    """The function a ``.sql`` file defines; raises PropertiesInvalid (with ``line N``) when it cannot be used."""
    from .sql.text import parse_sql

    file = shown(path)
    name = path.stem
    if not (name.isascii() and name.isidentifier()) or keyword.iskeyword(name):
        raise PropertiesInvalid(
            [
                Issue(
                    file,
                    "$",
                    f"{path.name!r} is not a function name: rename it to letters, digits and underscores "
                    "(not starting with a digit, not a Python keyword)",
                )
            ]
        )
    if path.stat().st_size > MAX_SQL_BYTES:
        raise PropertiesInvalid(
            [Issue(file, "$", f"larger than {MAX_SQL_BYTES // 1024} KiB; a .sql function is one statement")]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PropertiesInvalid([Issue(file, "$", f"not UTF-8 text: {error.reason} at byte {error.start}")]) from None
    try:
        script = parse_sql(text, name, file)
    except AppyardError as error:  # SqlSyntaxError carries the Issue (file and line N)
        raise PropertiesInvalid(_sql_issues(error, file)) from None
    return FunctionInfo(name, name, 1, script.doc or None, kind="sql", sql=script)


def _sql_issues(error: AppyardError, file: str) -> list[Issue]:
    if isinstance(issue := getattr(error, "issue", None), Issue):
        return [issue]
    issues = getattr(error, "issues", None)
    if isinstance(issues, list) and issues:
        return issues
    return [Issue(file, "$", str(error))]


def discover(page_dir: Path) -> tuple[dict[str, FunctionInfo], list[Issue]]:
    """The page's functions by name, and issues for scripts that do not parse or clash."""
    functions: dict[str, FunctionInfo] = {}
    issues: list[Issue] = []
    scripts = page_dir / SCRIPTS_DIR
    for path in sorted(scripts.glob("*.py")) if scripts.is_dir() else []:
        if path.stem == "__init__":
            continue
        file = shown(path)
        try:
            found = functions_in(path.read_text(encoding="utf-8"), path.stem)
        except SyntaxError as error:
            issues.append(Issue(file, f"line {error.lineno}", f"syntax error: {error.msg}"))
            continue
        for info in found:
            if info.name in functions:
                other = functions[info.name]
                issues.append(
                    Issue(file, f"line {info.line}", f"function {info.name!r} is also defined in {other.module}.py")
                )
            else:
                functions[info.name] = info
    for path in sorted(scripts.glob("*.sql")) if scripts.is_dir() else []:
        if path.stem.startswith("_") or not path.is_file():
            continue
        try:
            info = sql_function(path)
        except PropertiesInvalid as invalid:
            issues += invalid.issues
            continue
        if info.name in functions:  # the .sql file wins: it is nothing but this function
            other = functions[info.name]
            issues.append(
                Issue(
                    shown(path),
                    "$",
                    f"function {info.name!r} is also defined in {other.file} (line {other.line}); rename one of them",
                )
            )
        functions[info.name] = info
    return functions, issues
