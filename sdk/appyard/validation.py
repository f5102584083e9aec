"""Validation of properties.json files with errors a person can act on.

Every problem becomes an :class:`~appyard.errors.Issue` naming the file, the JSON path (``blocks[0].name``;
``$`` for the whole file) and what is wrong. All problems of a file are reported together: pydantic's
structural errors first, then the page checks that need the whole page (duplicate names, bindings to
functions that do not exist, display rules that target nothing).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from . import catalog
from .catalog import datatypes
from .catalog.blocks import Table, Widget
from .catalog.rules import ORDERING_OPERATORS, UNARY_OPERATORS, DisplayRules, comparisons
from .errors import Issue, PropertiesInvalid
from .properties import PageProperties

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
    "column_type": ["button", "data"],
}


def _vocabulary() -> set[str]:
    words: set[str] = set()
    for model in catalog.all_models():
        words.update(model.model_fields)
    return words


def _suggest(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        return f"unknown property {name!r}{_suggest(name, _vocabulary())}"
    if kind == "missing":
        return f"missing required property {str(error['loc'][-1])!r}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = next((key for key in _UNION_TAGS if key in str(ctx.get("discriminator", ""))), "type")
        valid = ", ".join(_UNION_TAGS.get(key, []))
        if kind == "union_tag_not_found":
            return f"missing {key}; one of: {valid}"
        return f"unknown {key} {ctx.get('tag')!r}; valid types: {valid}"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if kind != "value_error" and isinstance(value, (str, int, float, bool)) and not isinstance(value, Mapping):
        message += f" (got {json.dumps(value)})"
    return message


def issues_from(error: ValidationError, data: Any, file: str) -> list[Issue]:
    """Issues for every error pydantic found, with union tags removed from the paths."""
    issues = []
    for detail in error.errors(include_url=False):
        path = _json_path(tuple(detail["loc"]), data)
        if detail["type"] == "union_tag_invalid":  # point at the tag itself, e.g. ...components[1].component_type
            path.append(
                next((key for key in _UNION_TAGS if key in str(detail.get("ctx", {}).get("discriminator"))), "type")
            )
        issues.append(Issue(file, format_path(path), _message(detail)))
    return issues


def validate_model(model: type[Model], data: Any, file: str) -> Model:
    """Validate parsed JSON against a properties model; raise PropertiesInvalid with every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise PropertiesInvalid(issues_from(error, data, file)) from None


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


def state_targets(page: PageProperties) -> dict[str, tuple[datatypes.DataType, bool]]:
    """``<block>.<component>`` → (data type, multiple) for every value in the page's State."""
    targets: dict[str, tuple[datatypes.DataType, bool]] = {}
    for block in page.blocks:
        if isinstance(block, Widget):
            for component in block.components:
                if component.stateful:
                    data_type: datatypes.DataType = getattr(component, "data_type", "boolean")
                    targets[f"{block.name}.{component.name}"] = (data_type, bool(getattr(component, "multiple", False)))
        else:
            for column in block.data_columns():
                targets[f"{block.name}.{column.name}"] = (column.data_type, False)
    return targets


def _check_rules(
    rules: DisplayRules, path: list[PathElem], targets: Mapping[str, tuple[datatypes.DataType, bool]], file: str
) -> Iterator[Issue]:
    for leaf_path, leaf in comparisons(rules.when, (*path, "when")):
        where = format_path(leaf_path)
        if leaf.target not in targets:
            known = ", ".join(sorted(targets)) or "none (the page has no inputs, selects, booleans or table columns)"
            yield Issue(
                file,
                f"{where}.target",
                f"display rule target {leaf.target!r} does not exist{_suggest(leaf.target, targets)} "
                f"(targets: {known})",
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


def check_page(page: PageProperties, functions: Collection[str], file: str) -> list[Issue]:
    """Checks that need the whole page: unique names, bound functions exist, display rule targets exist."""
    issues = list(_duplicates([block.name for block in page.blocks], ["blocks"], "name", "block", file))
    for index, block in enumerate(page.blocks):
        prefix: list[PathElem] = ["blocks", index]
        if isinstance(block, Widget):
            names = [component.name for component in block.components]
            issues += _duplicates(names, [*prefix, "components"], "name", "component", file)
        elif isinstance(block, Table):
            names = [column.name for column in block.columns]
            issues += _duplicates(names, [*prefix, "columns"], "name", "column", file)
    available = sorted(functions)
    for path, name in _function_refs(page, []):
        if name not in functions:
            hint = (
                f"the page's functions are: {', '.join(available)}"
                if available
                else f"the page has no functions yet; add `def {name}(state, context)` to a file in scripts/"
            )
            issues.append(
                Issue(file, format_path(path), f"function {name!r} not found{_suggest(name, available)} ({hint})")
            )
    targets = state_targets(page)
    for index, block in enumerate(page.blocks):
        if block.display_rules:
            issues += _check_rules(block.display_rules, ["blocks", index, "display_rules"], targets, file)
        if isinstance(block, Widget):
            for position, component in enumerate(block.components):
                if component.display_rules:
                    where: list[PathElem] = ["blocks", index, "components", position, "display_rules"]
                    issues += _check_rules(component.display_rules, where, targets, file)
    return issues


def validate_page(data: Any, *, file: str, functions: Collection[str]) -> PageProperties:
    """A page's properties, validated structurally and against its functions; raises PropertiesInvalid."""
    page = validate_model(PageProperties, data, file)
    issues = check_page(page, functions, file)
    if issues:
        raise PropertiesInvalid(issues)
    return page
