"""Learn what a table's SQL fetcher returns: its columns, their types, and the one base table it reads, if any.

:func:`learn` asks the database twice. The query's output columns come from running it as a subquery with
``LIMIT 0`` (the cursor's description, so aliases and ``*`` are exactly what the database makes of them). The
base table comes from reading the statement's single top-level ``FROM``: a ``SELECT`` (no ``DISTINCT``) from one
table — no join, comma, subquery, ``GROUP BY``, ``HAVING``, set operation or aggregate — reads one table, and each
output column written as a plain reference (``col``, ``t.col``, ``col AS name``, ``*``, ``t.*``) is that table's
column. SQLAlchemy's inspector then gives types, the primary key, nullability, foreign keys and defaults. Anything
else (a join, an expression) still pages and sorts, but only plain base columns can be edited.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, inspect, types
from sqlalchemy.engine.interfaces import ReflectedColumn

from ..catalog.datatypes import DataType
from ..database import ColumnFacts, TableFacts
from ..errors import StatementFailed
from .cells import FetcherScript, statement

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    |(?P<comment>--[^\n]*|/\*.*?\*/)
    |(?P<string>[EeXxBbNn]?'(?:[^'\\]|''|\\.)*'|\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)
    |(?P<quoted>"(?:[^"]|"")*"|`(?:[^`]|``)*`)
    |(?P<param>\\:|::|:[A-Za-z_]\w*)
    |(?P<word>[A-Za-z_][\w$]*)
    |(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)
    |(?P<punct>.)
    """,
    re.S | re.X,
)

_SQLITE_RENAMED = re.compile(r"^(.+):\d+$")
_AGGREGATES = {
    "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "group_concat", "json_agg", "jsonb_agg",
    "json_object_agg", "jsonb_object_agg", "json_arrayagg", "json_objectagg", "bool_and", "bool_or", "every",
    "bit_and", "bit_or", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "total",
    "percentile_cont", "percentile_disc", "mode", "xmlagg",
}  # fmt: skip
_NOT_ONE_TABLE = {"group", "having", "union", "intersect", "except", "join", "natural", "lateral", "window"}
_FROM_ENDS = {"where", "order", "limit", "offset", "fetch", "for"}

# Types of computed columns, read from the cursor (the inspector only knows tables): PostgreSQL type OIDs ...
_PG_OIDS: dict[int, tuple[DataType, str]] = {
    16: ("boolean", "BOOLEAN"), 20: ("integer", "BIGINT"), 21: ("integer", "SMALLINT"), 23: ("integer", "INTEGER"),
    700: ("float", "REAL"), 701: ("float", "DOUBLE PRECISION"), 1700: ("float", "NUMERIC"),
    25: ("text", "TEXT"), 1043: ("text", "VARCHAR"), 1042: ("text", "CHAR"), 19: ("text", "NAME"),
    2950: ("text", "UUID"), 1082: ("date", "DATE"), 1114: ("datetime", "TIMESTAMP"),
    1184: ("datetime", "TIMESTAMP WITH TIME ZONE"), 1083: ("time", "TIME"), 114: ("json", "JSON"),
    3802: ("json", "JSONB"),
}  # fmt: skip
# ... and MySQL field types (PyMySQL's FIELD_TYPE).
_MYSQL_FIELDS: dict[int, DataType] = {
    0: "float", 1: "integer", 2: "integer", 3: "integer", 4: "float", 5: "float", 8: "integer", 9: "integer",
    7: "datetime", 10: "date", 11: "time", 12: "datetime", 13: "integer", 16: "integer", 245: "json", 246: "float",
}  # fmt: skip


@dataclass(frozen=True)
class Token:
    kind: str
    text: str

    @property
    def word(self) -> str:
        """The keyword in lower case ('' for anything that is not a bare word)."""
        return self.text.lower() if self.kind == "word" else ""


@dataclass(frozen=True)
class Name:
    """An identifier as written: quoted ones are exact, bare ones match without regard to case."""

    text: str
    quoted: bool


@dataclass(frozen=True)
class SelectItem:
    """One item of the select list: ``*`` (star) or a plain column reference (base) or something computed."""

    star: bool = False
    base: Name | None = None


@dataclass(frozen=True)
class OneTable:
    """A query over one table: its name as written and its select list."""

    schema: Name | None
    table: Name
    items: list[SelectItem]


def tokens(sql: str) -> list[Token]:
    """The statement's tokens, without spaces and comments."""
    found: list[Token] = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "punct"
        if kind == "tag":  # the inner group of a dollar-quoted string
            kind = "string"
        if kind not in {"space", "comment"}:
            found.append(Token(kind, match.group(0)))
    return found


def statement_body(sql: str) -> str:
    """The statement without a trailing ``;`` (and what follows it), ready to wrap as a subquery."""
    depth = 0
    for match in _TOKEN.finditer(sql):
        if match.group(0) in "()" and match.lastgroup == "punct":
            depth += 1 if match.group(0) == "(" else -1
        elif match.group(0) == ";" and match.lastgroup == "punct" and depth == 0:
            return sql[: match.start()]
    return sql


def without_own_order(sql: str) -> str:
    """The statement without its top-level ``ORDER BY`` when nothing after it (``LIMIT``, ``OFFSET``, ``FETCH``)
    depends on the order; otherwise the statement as it is. A count, or a page the viewer sorts itself, does not
    need the fetcher's order, and PostgreSQL would sort every row for it."""
    depth, start = 0, -1
    previous: re.Match[str] | None = None
    for match in _TOKEN.finditer(sql):
        kind, text = match.lastgroup, match.group(0)
        if kind in {"space", "comment"}:
            continue
        if kind == "punct" and text in "()":
            depth += 1 if text == "(" else -1
        elif depth == 0 and kind == "word":
            word = text.lower()
            if word == "by" and previous is not None and previous.group(0).lower() == "order":
                start = previous.start()
            elif start >= 0 and word in {"limit", "offset", "fetch"}:
                return sql
        previous = match
    return sql[:start] if start >= 0 else sql


def _name(token: Token) -> Name | None:
    if token.kind == "word":
        return Name(token.text, False)
    if token.kind == "quoted":
        inner = token.text[1:-1]
        return Name(inner.replace(token.text[0] * 2, token.text[0]), True)
    return None


def _top_level(parts: list[Token]) -> list[tuple[int, Token]]:
    """The tokens outside any parentheses, with their index."""
    depth, found = 0, []
    for index, token in enumerate(parts):
        if token.text == "(" and token.kind == "punct":
            depth += 1
        elif token.text == ")" and token.kind == "punct":
            depth -= 1
        elif depth == 0:
            found.append((index, token))
    return found


def _aggregates(parts: list[Token]) -> bool:
    """Whether the tokens call an aggregate (not as a window function: ``sum(x) OVER (…)`` keeps every row)."""
    for index, token in enumerate(parts[:-1]):
        if token.word in _AGGREGATES and parts[index + 1].text == "(":
            depth, end = 0, index + 1
            for end in range(index + 1, len(parts)):
                depth += {"(": 1, ")": -1}.get(parts[end].text, 0) if parts[end].kind == "punct" else 0
                if depth == 0:
                    break
            if end + 1 >= len(parts) or parts[end + 1].word != "over":
                return True
    return False


def _select_item(parts: list[Token], qualifiers: set[str]) -> SelectItem:
    texts = [token.text for token in parts]
    if texts == ["*"]:
        return SelectItem(star=True)
    if len(parts) == 3 and texts[1:] == [".", "*"] and (name := _name(parts[0])) and name.text.lower() in qualifiers:
        return SelectItem(star=True)
    # drop the alias: `x AS y` or `x y`
    if len(parts) >= 3 and parts[-2].word == "as":
        parts = parts[:-2]
    elif len(parts) >= 2 and _name(parts[-1]) is not None and parts[-2].text != ".":
        parts = parts[:-1]
    if len(parts) == 1 and (name := _name(parts[0])) is not None:
        return SelectItem(base=name)
    if len(parts) == 3 and parts[1].text == "." and (name := _name(parts[2])) is not None:
        qualifier = _name(parts[0])
        if qualifier is not None and qualifier.text.lower() in qualifiers:
            return SelectItem(base=name)
    return SelectItem()


def one_table(sql: str) -> OneTable | None:
    """The table and select list when the statement reads exactly one table row for row; else None."""
    parts = tokens(statement_body(sql))
    top = _top_level(parts)
    if len(top) < 2 or top[0][1].word != "select":
        return None
    if any(token.word in _NOT_ONE_TABLE for _, token in top) or _aggregates(parts):
        return None
    froms = [index for index, token in top if token.word == "from"]
    if len(froms) != 1:
        return None
    select_start = 1
    if parts[select_start].word in {"distinct", "top"}:
        return None
    if parts[select_start].word == "all":
        select_start += 1
    end = next((index for index, token in top if index > froms[0] and token.word in _FROM_ENDS), len(parts))
    reference = _table_reference(parts[froms[0] + 1 : end])
    if reference is None:
        return None
    schema, table, alias = reference
    qualifiers = {table.text.lower()} | ({alias.text.lower()} if alias else set())
    items: list[SelectItem] = []
    current: list[Token] = []
    depth = 0
    for token in parts[select_start : froms[0]]:
        if token.kind == "punct" and token.text in "()":
            depth += 1 if token.text == "(" else -1
        if token.text == "," and token.kind == "punct" and depth == 0:
            items.append(_select_item(current, qualifiers))
            current = []
        else:
            current.append(token)
    items.append(_select_item(current, qualifiers))
    return OneTable(schema, table, items)


def _table_reference(parts: list[Token]) -> tuple[Name | None, Name, Name | None] | None:
    """``[schema.]table [[AS] alias]`` → (schema, table, alias); None for anything else (a join, a subquery)."""
    schema: Name | None = None
    if len(parts) >= 3 and parts[1].text == "." and parts[1].kind == "punct":
        schema, parts = _name(parts[0]), parts[2:]
        if schema is None:
            return None
    if not parts or parts[0].word in {"only", "lateral", "unnest"}:
        return None
    table = _name(parts[0])
    rest = parts[1:]
    if table is None:
        return None
    if rest and rest[0].word == "as":
        rest = rest[1:]
    if not rest:
        return schema, table, None
    if len(rest) == 1 and (alias := _name(rest[0])) is not None and rest[0].word not in {"tablesample", "natural"}:
        return schema, table, alias
    return None


def data_type_of(column_type: Any) -> DataType:
    """The Appyard data type of a SQLAlchemy column type (NUMERIC → float; anything unknown → text)."""
    if isinstance(column_type, types.Boolean):
        return "boolean"
    if isinstance(column_type, types.Integer):
        return "integer"
    if isinstance(column_type, types.Numeric):
        return "float"
    if isinstance(column_type, types.DateTime):
        return "datetime"
    if isinstance(column_type, types.Date):
        return "date"
    if isinstance(column_type, types.Time):
        return "time"
    if isinstance(column_type, (types.JSON, types.ARRAY)):
        return "json"
    return "text"


def _db_type(connection: Connection, column_type: Any) -> str:
    try:
        return str(column_type.compile(dialect=connection.dialect))
    except Exception:  # some reflected types cannot be compiled back: the class name will do
        return type(column_type).__name__.upper()


def _lookup(names: Sequence[str], wanted: Name) -> str | None:
    """The real name among ``names``: exact for a quoted identifier, then without regard to case for a bare one."""
    if wanted.text in names:
        return wanted.text
    if wanted.quoted:
        return None
    folded = [name for name in names if name.lower() == wanted.text.lower()]
    return folded[0] if len(folded) == 1 else None


def _computed(connection: Connection, description: Sequence[Any], index: int, sample: Any) -> ColumnFacts:
    """Facts of an output column that is no base column: the type from the cursor (or, on SQLite, a value)."""
    code = description[index][1] if index < len(description) else None
    dialect = connection.dialect.name
    if dialect == "postgresql" and isinstance(code, int) and code in _PG_OIDS:
        known, db_type = _PG_OIDS[code]
        return ColumnFacts(data_type=known, db_type=db_type)
    if dialect in {"mysql", "mariadb"} and isinstance(code, int):
        return ColumnFacts(data_type=_MYSQL_FIELDS.get(code, "text"), db_type="")
    if sample is not None and not isinstance(sample, bool):
        data_type: DataType = "integer" if isinstance(sample, int) else "float" if isinstance(sample, float) else "text"
        return ColumnFacts(data_type=data_type, db_type="")
    return ColumnFacts(data_type="text", db_type="")


def learn(connection: Connection, script: FetcherScript, bound: Mapping[str, Any], source: str) -> TableFacts:
    """What the database says about a table's fetcher: columns and types, and the base table when there is one."""
    body = statement_body(script.driver_sql())
    probe = statement(f"SELECT * FROM ({body}\n) AS appyard_learn LIMIT 0", bound)
    result = connection.execute(probe)
    names = list(result.keys())
    description = list(result.cursor.description or []) if result.cursor is not None else []
    result.close()
    repeated = sorted({name for name in names if names.count(name) > 1})
    # SQLite renames the second `id` of a subquery to `id:1`
    repeated += [renamed[1] for name in names if (renamed := _SQLITE_RENAMED.match(name)) and renamed[1] in names]
    if repeated:
        raise StatementFailed(
            source,
            f"the query returns more than one column called {', '.join(map(repr, repeated))}; give each a "
            "different name with AS",
        )
    sample: Sequence[Any] = ()
    if connection.dialect.name == "sqlite":  # SQLite's cursor knows no types: one row tells computed columns'
        sample = (
            connection.execute(statement(f"SELECT * FROM ({body}\n) AS appyard_learn LIMIT 1", bound)).first() or ()
        )

    facts = TableFacts(source=source)
    base = _base_columns(connection, one_table(body), len(names))
    for index, name in enumerate(names):
        if base is not None and base.columns[index] is not None:
            facts.columns[name] = base.columns[index]  # type: ignore[assignment]
        else:
            value = sample[index] if index < len(sample) else None
            facts.columns[name] = _computed(connection, description, index, value)
    if base is not None:
        facts.base_table = base.table
        keys = [name for name, column in facts.columns.items() if column.primary_key]
        facts.primary_key = keys if len(keys) == base.key_size else []
    return facts


@dataclass
class _Base:
    table: str
    key_size: int
    columns: list[ColumnFacts | None]


def _base_columns(connection: Connection, query: OneTable | None, width: int) -> _Base | None:
    """The base table and, position by position, the output columns that are its columns."""
    if query is None:
        return None
    inspector = inspect(connection)
    default_schema = inspector.default_schema_name
    schema = None
    if query.schema is not None:
        schema = _lookup(inspector.get_schema_names(), query.schema)
        if schema is None:
            return None
    tables = [*inspector.get_table_names(schema=schema), *inspector.get_view_names(schema=schema)]
    table = _lookup(tables, query.table)
    if table is None:
        return None
    reflected: list[ReflectedColumn] = inspector.get_columns(table, schema=schema)
    key = list(inspector.get_pk_constraint(table, schema=schema).get("constrained_columns") or [])
    references: dict[str, str] = {}
    for foreign in inspector.get_foreign_keys(table, schema=schema):
        for mine, theirs in zip(foreign["constrained_columns"], foreign["referred_columns"], strict=False):
            referred = foreign["referred_table"]
            if foreign.get("referred_schema") and foreign["referred_schema"] != default_schema:
                referred = f"{foreign['referred_schema']}.{referred}"
            references[mine] = f"{referred}.{theirs}"
    by_name = {column["name"]: column for column in reflected}
    single_integer_key = len(key) == 1 and data_type_of(by_name[key[0]]["type"]) == "integer" if key else False

    def facts_of(column: ReflectedColumn) -> ColumnFacts:
        name = column["name"]
        generated = bool(column.get("autoincrement") is True or column.get("identity") or column.get("computed"))
        if connection.dialect.name == "sqlite" and single_integer_key and name in key:
            generated = True  # INTEGER PRIMARY KEY is the rowid: SQLite fills it
        return ColumnFacts(
            data_type=data_type_of(column["type"]),
            db_type=_db_type(connection, column["type"]),
            nullable=bool(column.get("nullable", True)) and name not in key,
            primary_key=name in key,
            base_column=name,
            references=references.get(name),
            has_default=generated or column.get("default") is not None,
        )

    columns: list[ColumnFacts | None] = []
    for item in query.items:
        if item.star:
            columns.extend(facts_of(column) for column in reflected)
        elif item.base is not None and (found := _lookup(list(by_name), item.base)) is not None:
            columns.append(facts_of(by_name[found]))
        else:
            columns.append(None)
    if len(columns) != width:  # the select list did not read as we thought: trust nothing of it
        columns = [None] * width
    shown_table = table if schema is None or schema == default_schema else f"{schema}.{table}"
    return _Base(shown_table, len(key), columns)
