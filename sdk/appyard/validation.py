"""Validation of properties.json files with errors a person can act on.

Every problem becomes an :class:`~appyard.errors.Issue` naming the file, the JSON path (``blocks[0].name``;
``$`` for the whole file) and what is wrong. All problems of a file are reported together: pydantic's
structural errors first, then the page checks that need the whole page (duplicate names, bindings to
functions that do not exist, display rules that target nothing, columns against the page's database.json).
A page whose structure is broken still gets the checks its raw JSON allows (:func:`check_raw_page`: bound
functions exist). The checks of ``.sql`` functions (sources, parameters, reloads) are in :mod:`.sqlchecks`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Iterator, Mapping
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from . import catalog
from .catalog import datatypes
from .catalog.blocks import DataColumn, DisplayType, Table, Widget
from .catalog.rules import ORDERING_OPERATORS, UNARY_OPERATORS, DisplayRules, comparisons
from .database import PageDatabase, TableFacts
from .errors import Issue, PropertiesInvalid
from .properties import PageProperties
from .scripts import FunctionInfo

Model = TypeVar("Model", bound=BaseModel)
PathElem = str | int


def format_path(elems: Collection[PathElem]) -> str:
    """``["blocks", 0, "name"]`` → ``blocks[0].name``; the empty path is ``$``."""
    text = ""
    for elem in elems:
        text += f"[{elem}]" if isinstance(elem, int) else (f".{elem}" if text else str(elem))
    return text or "$"


def parse_json(text: str, file: str) -> Any:
    """Parse JSON, reporting a syntax error with its line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PropertiesInvalid(
            [Issue(file, "$", f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}")]
        ) from None


# Discriminated unions put the chosen tag into an error's location; these keys name the tag of a dict.
def _tags(node: Mapping[str, Any]) -> set[Any]:
    tags = {node.get("component_type"), node.get("block_type"), node.get("column_type", "data")}
    tags.add("all" if "all" in node else "any" if "any" in node else "comparison")
    return tags


def _json_path(loc: tuple[PathElem, ...], data: Any) -> list[PathElem]:
    """Drop the union tags from a pydantic location by walking the data it points into.

    The tag always comes right after the position of the dict it selects a model for, so it is skipped
    once per dict; a field that happens to share the tag's name (a text component's ``text``) is kept.
    """
    path: list[PathElem] = []
    node = data
    tag_skipped = False
    for elem in loc:
        if isinstance(node, Mapping) and not tag_skipped and elem in _tags(node):
            tag_skipped = True
            continue
        tag_skipped = False
        path.append(elem)
        if isinstance(node, Mapping) and isinstance(elem, str):
            node = node.get(elem)
        elif isinstance(node, list) and isinstance(elem, int) and 0 <= elem < len(node):
            node = node[elem]
        else:
            node = None
    return path


_UNION_TAGS = {
    "component_type": sorted(catalog.COMPONENT_TYPES),
    "block_type": sorted(catalog.BLOCK_TYPES),
    "column_type": sorted(catalog.COLUMN_TYPES),
}

# How pydantic names each union's discriminator in an error's context (a callable shows as its name).
_DISCRIMINATORS = {"component_type": "component_type", "block_type": "block_type", "_column_kind": "column_type"}

# Keys people write for another one (other tools' names, plurals, abbreviations) → the key Appyard uses.
ALIASES = {
    "tables": "blocks",
    "widgets": "blocks",
    "components_list": "components",
    "size": "page_size",
    "pagesize": "page_size",
    "pageSize": "page_size",
    "rows_per_page": "page_size",
    "per_page": "page_size",
    "title": "label",
    "name_label": "label",
    "header": "label",
    "type": "(the tag)",
    "kind": "(the tag)",
    "fetch": "fetcher",
    "query": "fetcher",
    "onClick": "on_click",
    "onChange": "on_change",
    "click": "on_click",
    "choices": "options",
    "items": "options",
    "readonly": "editable",
    "sources": "data_sources",
    "data_source": "data_sources",
    "datasources": "data_sources",
    "format": "display_type",
    "display": "display_type",
    "visible": "hidden",
}


def _tag_key(discriminator: Any) -> str:
    text = str(discriminator or "")
    return next((key for name, key in _DISCRIMINATORS.items() if name in text), "type")


def _vocabulary() -> set[str]:
    words: set[str] = set()
    for model in catalog.all_models():
        words.update(model.model_fields)
    return words


def suggest(word: str, choices: Collection[str]) -> str:
    """``; did you mean 'x'?`` for the closest other choice (never ``word`` itself), or nothing."""
    others = sorted(choice for choice in choices if choice != word)
    close = difflib.get_close_matches(word, others, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _model_at(data: Any, path: list[PathElem], root: type[BaseModel] | None) -> type[BaseModel] | None:
    """The catalog model of the JSON object at ``path`` (best effort: from its tag or its parent's key)."""
    if not path:
        return root
    node = data
    for elem in path:
        if isinstance(node, Mapping) and isinstance(elem, str):
            node = node.get(elem)
        elif isinstance(node, list) and isinstance(elem, int) and 0 <= elem < len(node):
            node = node[elem]
        else:
            return None
    if not isinstance(node, Mapping):
        return None
    if "component_type" in node:
        return catalog.COMPONENT_TYPES.get(str(node["component_type"]))
    if "block_type" in node:
        return catalog.BLOCK_TYPES.get(str(node["block_type"]))
    parent = next((elem for elem in reversed(path) if isinstance(elem, str)), "")
    by_key: dict[str, type[BaseModel]] = {
        "layout": catalog.Layout,
        "filters": catalog.TableFilter,
        "options": catalog.Option,
        "display_rules": catalog.DisplayRules,
    }
    if parent == "columns":
        return catalog.COLUMN_TYPES.get(str(node.get("column_type", "data")))
    return by_key.get(parent)


def _unknown_property(name: str, model: type[BaseModel] | None) -> str:
    where = ""
    fields = set(model.model_fields) if model is not None else _vocabulary()
    alias = ALIASES.get(name)
    if alias == "(the tag)" and model is not None:
        key = next((key for key in _UNION_TAGS if key in fields), None)
        if key is not None:
            return f"unknown property {name!r}{where}; the key is {key!r} (one of: {', '.join(_UNION_TAGS[key])})"
    if alias is not None and alias in fields:
        return f"unknown property {name!r}{where}; did you mean {alias!r}?"
    return f"unknown property {name!r}{where}{suggest(name, fields)}"


def _unknown_tag(key: str, tag: Any) -> str:
    valid = ", ".join(_UNION_TAGS.get(key, []))
    message = f"unknown {key} {tag!r}; valid types: {valid}"
    if key == "column_type":
        keys = [
            name
            for name, values in (("data_type", datatypes.DATA_TYPES), ("display_type", get_args(DisplayType)))
            if tag in values
        ]
        if keys:
            what = " and a ".join(keys)
            message += f" ({tag!r} is a {what}: keep column_type 'data' and set {' or '.join(keys)})"
    return message


def _is_function_field(loc: tuple[PathElem, ...]) -> bool:
    last = next((elem for elem in reversed(loc) if isinstance(elem, str)), "")
    return last.startswith("on_") or last.endswith("fetcher")


def _message(error: ErrorDetails, data: Any = None, root: type[BaseModel] | None = None) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        parent = _json_path(tuple(error["loc"][:-1]), data)
        return _unknown_property(name, _model_at(data, parent, root))
    if kind == "missing":
        return f"missing required property {str(error['loc'][-1])!r}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = _tag_key(ctx.get("discriminator"))
        if kind == "union_tag_not_found":
            return f"missing {key}; one of: {', '.join(_UNION_TAGS.get(key, []))}"
        return _unknown_tag(key, ctx.get("tag"))
    value = error.get("input")
    if kind == "string_type" and _is_function_field(tuple(error["loc"])):
        return f'expected a function name (text such as "list_orders"), got {json.dumps(value)}'
    message = error["msg"].removeprefix("Value error, ")
    if kind != "value_error" and isinstance(value, (str, int, float, bool)) and not isinstance(value, Mapping):
        message += f" (got {json.dumps(value)})"
    return message


def issues_from(error: ValidationError, data: Any, file: str, root: type[BaseModel] | None = None) -> list[Issue]:
    """Issues for every error pydantic found, with union tags removed from the paths."""
    issues = []
    for detail in error.errors(include_url=False):
        path = _json_path(tuple(detail["loc"]), data)
        if detail["type"] == "union_tag_invalid":  # point at the tag itself, e.g. ...components[1].component_type
            path.append(_tag_key(detail.get("ctx", {}).get("discriminator")))
        issues.append(Issue(file, format_path(path), _message(detail, data, root)))
    return issues


def validate_model(model: type[Model], data: Any, file: str) -> Model:
    """Validate parsed JSON against a properties model; raise PropertiesInvalid with every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise PropertiesInvalid(issues_from(error, data, file, model)) from None


def _duplicates(names: list[str], prefix: list[PathElem], field: str, kind: str, file: str) -> Iterator[Issue]:
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in first:
            where = format_path([*prefix, first[name], "name"])
            yield Issue(file, format_path([*prefix, index, field]), f"duplicate {kind} name {name!r} (also at {where})")
        else:
            first[name] = index


def _function_refs(model: BaseModel, path: list[PathElem]) -> Iterator[tuple[list[PathElem], str]]:
    """Every bound function (fields named ``on_*`` or ``*fetcher``) inside a model, with its path."""
    for field in type(model).model_fields:
        value = getattr(model, field)
        if isinstance(value, str) and (field.startswith("on_") or field.endswith("fetcher")):
            yield [*path, field], value
        elif isinstance(value, BaseModel):
            yield from _function_refs(value, [*path, field])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _function_refs(item, [*path, field, index])


def _raw_function_refs(node: Any, path: list[PathElem]) -> Iterator[tuple[list[PathElem], str]]:
    """Like :func:`_function_refs` over raw JSON: every string under an ``on_*`` or ``*fetcher`` key."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str):
                continue
            if isinstance(value, str) and (key.startswith("on_") or key.endswith("fetcher")):
                yield [*path, key], value
            else:
                yield from _raw_function_refs(value, [*path, key])
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _raw_function_refs(item, [*path, index])


Targets = dict[str, tuple[datatypes.DataType, bool]]


def state_targets(page: PageProperties, database: PageDatabase | None = None) -> Targets:
    """``<block>.<component>`` → (data type, multiple) for every value in the page's State.

    A table column without a declared data type has the type ``database`` (the page's database.json) gives it.
    """
    targets: Targets = {}
    for block in page.blocks:
        if isinstance(block, Widget):
            for component in block.components:
                if component.stateful:
                    data_type: datatypes.DataType = getattr(component, "data_type", "boolean")
                    targets[f"{block.name}.{component.name}"] = (data_type, bool(getattr(component, "multiple", False)))
        else:
            facts = database.tables.get(block.name) if database is not None else None
            for column in block.data_columns():
                targets[f"{block.name}.{column.name}"] = (block.column_type(column, facts), False)
    return targets


_STATEFUL = {"input": "text", "select": "text", "boolean": "boolean"}


def raw_state_targets(data: Any) -> Targets:
    """:func:`state_targets` of a page whose structure is broken, read leniently from its raw JSON."""
    targets: Targets = {}
    blocks = data.get("blocks") if isinstance(data, Mapping) else None
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, Mapping) or not isinstance(block.get("name"), str):
            continue
        items = block.get("components") if block.get("block_type") == "widget" else block.get("columns")
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                continue
            kind = item.get("component_type") if block.get("block_type") == "widget" else "column"
            if kind == "column" and item.get("column_type", "data") != "data":
                continue
            if kind != "column" and kind not in _STATEFUL:
                continue
            default = _STATEFUL.get(str(kind), "text")
            declared = item.get("data_type", default)
            data_type: datatypes.DataType = declared if declared in datatypes.DATA_TYPES else "text"
            targets[f"{block['name']}.{item['name']}"] = (data_type, item.get("multiple") is True)
    return targets


def _check_rules(rules: DisplayRules, path: list[PathElem], targets: Targets, file: str) -> Iterator[Issue]:
    for leaf_path, leaf in comparisons(rules.when, (*path, "when")):
        where = format_path(leaf_path)
        if leaf.target not in targets:
            known = ", ".join(sorted(targets)) or "none (the page has no inputs, selects, booleans or table columns)"
            yield Issue(
                file,
                f"{where}.target",
                f"display rule target {leaf.target!r} does not exist{suggest(leaf.target, targets)} (targets: {known})",
            )
            continue
        data_type, multiple = targets[leaf.target]
        if leaf.operator in UNARY_OPERATORS:
            continue
        if leaf.operator in ORDERING_OPERATORS and (data_type in ("boolean", "json") or multiple):
            yield Issue(file, f"{where}.operator", f"{leaf.operator} cannot compare {data_type} values")
            continue
        problem = datatypes.check_value(leaf.value, data_type, multiple=multiple)
        if problem:
            yield Issue(file, f"{where}.value", f"{problem}, the type of {leaf.target}")


def _missing_functions(
    refs: Iterator[tuple[list[PathElem], str]], functions: Collection[str], file: str
) -> Iterator[Issue]:
    available = sorted(functions)
    for path, name in refs:
        if name not in functions:
            hint = (
                f"the page's functions are: {', '.join(available)}"
                if available
                else f"the page has no functions yet; add `def {name}(state, context)` to a file in scripts/"
            )
            yield Issue(file, format_path(path), f"function {name!r} not found{suggest(name, available)} ({hint})")


def _kind_mismatches(page: PageProperties, functions: Mapping[str, FunctionInfo], file: str) -> Iterator[Issue]:
    """A ``.sql`` statement as a table's fetcher, or a ``.sql`` query bound to anything else."""
    for path, name in _function_refs(page, []):
        info = functions.get(name)
        if info is None or info.kind != "sql":
            continue
        table_fetcher = len(path) == 3 and path[-1] == "fetcher"
        if table_fetcher and not info.is_query:
            yield Issue(
                file,
                format_path(path),
                f"{info.file} is a statement, not a query: a table's fetcher must return rows "
                "(SELECT …, WITH … SELECT, VALUES); bind the statement to a button instead",
            )
        elif not table_fetcher and info.is_query:
            yield Issue(
                file,
                format_path(path),
                f"{info.file} is a query (it returns rows): bind it as a table's fetcher; "
                "an event runs a statement (UPDATE, INSERT, DELETE …), which can reload tables with `-- reload:`",
            )


def _is_sql(name: str | None, functions: Mapping[str, FunctionInfo]) -> bool:
    info = functions.get(name) if name is not None else None
    return info is not None and info.kind == "sql"


def _not_editable(table: Table, column: DataColumn, facts: TableFacts | None, sql: bool) -> str | None:
    """Why an editable column's edits could not be saved (None when they can)."""
    if table.on_edit is not None:
        return None
    what = f"column {column.name!r} is editable but"
    if not sql:
        return (
            f"{what} the table has no on_edit to save edits: set on_edit, or give the table a .sql fetcher "
            "over one table so edits are saved by primary key"
        )
    if facts is None:
        return (
            f"{what} database.json knows nothing of this table yet, so edits cannot be saved by primary key: "
            "run `appyard gen` with the data source reachable, or set on_edit"
        )
    if not facts.smart:
        return (
            f"{what} the fetcher does not read one table with its whole primary key (database.json), so edits "
            "cannot be saved by key: set on_edit, or select the primary key from one table"
        )
    column_facts = facts.columns.get(column.name)
    if column_facts is None or column_facts.base_column is None:
        return f"{what} the query computes it (it is no column of {facts.base_table}): set on_edit, or drop editable"
    if column_facts.primary_key:
        return f"{what} it is the primary key of {facts.base_table}, which is never edited: drop editable"
    return None


def _not_smart(facts: TableFacts | None, sql: bool, flag: str) -> str | None:
    if not sql:
        return f"{flag} needs a smart table: a .sql fetcher over one table"
    if facts is None:
        return f"{flag} needs database.json's facts for this table: run `appyard gen` with the data source reachable"
    if not facts.smart:
        return f"{flag} needs the fetcher to read one table with its whole primary key (database.json)"
    return None


def _check_table(
    table: Table, prefix: list[PathElem], facts: TableFacts | None, sql: bool, file: str
) -> Iterator[Issue]:
    """A table's columns and filters against database.json, and whether edits can be saved."""
    for position, column in enumerate(table.columns):
        if not isinstance(column, DataColumn):
            continue
        where = [*prefix, "columns", position]
        column_facts = facts.columns.get(column.name) if facts is not None else None
        if column_facts is not None and column.data_type is not None and column.data_type != column_facts.data_type:
            yield Issue(
                file,
                format_path([*where, "data_type"]),
                f"data_type {column.data_type!r} contradicts the database: {column.name} is "
                f"{column_facts.db_type} ({column_facts.data_type}); drop data_type to take the database's type",
            )
        elif column.data_type is None and (column_facts is not None or not sql):
            # (a SQL table that database.json does not know yet: the type is unknown until `appyard gen`)
            problem = column.display_problem(column.effective_data_type(column_facts))
            if problem:
                origin = f" ({column_facts.db_type} in the database)" if column_facts is not None else ""
                yield Issue(file, format_path([*where, "display_type"]), problem + origin)
        if column.editable:
            reason = _not_editable(table, column, facts, sql)
            if reason:
                yield Issue(file, format_path([*where, "editable"]), reason)
    declared = [column.name for column in table.data_columns()]
    returned = list(facts.columns) if facts is not None else []
    for index, item in enumerate(table.filters):
        if item.column not in declared:
            yield Issue(
                file,
                format_path([*prefix, "filters", index, "column"]),
                f"{item.column!r} is not a data column of the table{suggest(item.column, declared)} "
                f"(columns: {', '.join(declared) or 'none'})",
            )
        elif returned and item.column not in returned:
            yield Issue(
                file,
                format_path([*prefix, "filters", index, "column"]),
                f"the fetcher's query does not return column {item.column!r}{suggest(item.column, returned)} "
                f"(it returns: {', '.join(returned)})",
            )
    for flag in ("insertable", "deletable"):
        if getattr(table, flag):
            reason = _not_smart(facts, sql, flag)
            if reason:
                yield Issue(file, format_path([*prefix, flag]), reason)


def check_raw_page(data: Any, functions: Collection[str], file: str) -> list[Issue]:
    """The checks a page whose structure is broken still allows: its bound functions exist."""
    return list(_missing_functions(_raw_function_refs(data, []), functions, file))


def check_page(
    page: PageProperties,
    functions: Collection[str],
    file: str,
    *,
    database: PageDatabase | None = None,
    facts_pending: bool = False,
) -> list[Issue]:
    """Checks that need the whole page: unique names, bound functions exist and fit (a ``.sql`` query only as a
    table's fetcher), display rule targets exist, columns agree with ``database`` (the page's database.json).
    ``facts_pending``: ``appyard gen`` is about to learn database.json, so a table without facts is no problem yet."""
    issues = list(_duplicates([block.name for block in page.blocks], ["blocks"], "name", "block", file))
    infos: Mapping[str, FunctionInfo] = functions if isinstance(functions, Mapping) else {}
    for index, block in enumerate(page.blocks):
        prefix: list[PathElem] = ["blocks", index]
        if isinstance(block, Widget):
            names = [component.name for component in block.components]
            issues += _duplicates(names, [*prefix, "components"], "name", "component", file)
        elif isinstance(block, Table):
            names = [column.name for column in block.columns]
            issues += _duplicates(names, [*prefix, "columns"], "name", "column", file)
            facts = database.tables.get(block.name) if database is not None else None
            if facts is None and facts_pending:
                continue
            issues += _check_table(block, prefix, facts, _is_sql(block.fetcher, infos), file)
    issues += _missing_functions(_function_refs(page, []), functions, file)
    issues += _kind_mismatches(page, infos, file)
    targets = state_targets(page, database)
    for index, block in enumerate(page.blocks):
        if block.display_rules:
            issues += _check_rules(block.display_rules, ["blocks", index, "display_rules"], targets, file)
        if isinstance(block, Widget):
            for position, component in enumerate(block.components):
                if component.display_rules:
                    where: list[PathElem] = ["blocks", index, "components", position, "display_rules"]
                    issues += _check_rules(component.display_rules, where, targets, file)
    return issues


def validate_page(
    data: Any, *, file: str, functions: Collection[str], database: PageDatabase | None = None
) -> PageProperties:
    """A page's properties, validated structurally and against its functions; raises PropertiesInvalid.

    When the structure is broken, the problems :func:`check_raw_page` finds are reported with pydantic's.
    """
    try:
        page = validate_model(PageProperties, data, file)
    except PropertiesInvalid as invalid:
        raise PropertiesInvalid(invalid.issues + check_raw_page(data, functions, file)) from None
    issues = check_page(page, functions, file, database=database)
    if issues:
        raise PropertiesInvalid(issues)
    return page
