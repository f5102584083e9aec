"""Display rules: show or hide a block or component from conditions over other components' state.

A rule looks like this in properties.json::

    "display_rules": {
      "action": "show",
      "when": {"all": [
        {"target": "filters.status", "operator": "equals", "value": "shipped"},
        {"any": [{"target": "filters.amount", "operator": "gte", "value": 100},
                 {"target": "filters.vip", "operator": "equals", "value": true}]}
      ]}
    }

``target`` is ``<block>.<component>`` for a widget's input, select or boolean, or ``<table>.<column>`` for
the selected row of a table. :func:`evaluate` is the reference semantics; the web client implements the
same rules and is tested against the same cases.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag

from ._fields import CatalogModel, prop

Operator = Literal["equals", "not_equals", "gt", "gte", "lt", "lte", "exists", "not_exists"]
OPERATORS: tuple[Operator, ...] = ("equals", "not_equals", "gt", "gte", "lt", "lte", "exists", "not_exists")
ORDERING_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
UNARY_OPERATORS = frozenset({"exists", "not_exists"})

Scalar = str | int | float | bool | None


class Comparison(CatalogModel):
    """Compare one component's current value with a constant."""

    target: str = prop(
        group="general",
        description="What to look at: '<block>.<component>', or '<table>.<column>' for the selected row.",
        json_schema_extra={"x-appyard-ref": "state"},
    )
    operator: Operator = prop(
        group="general",
        description="How to compare: equals, not_equals, gt, gte, lt, lte, exists (has a non-empty value), not_exists.",
    )
    value: Scalar | list[Scalar] = prop(
        None,
        group="general",
        description="The constant to compare with (ignored by exists and not_exists).",
    )


class AllOf(CatalogModel):
    """True when every condition holds (and)."""

    all: list[Condition] = prop(group="general", description="Conditions that must all hold.", min_length=1)


class AnyOf(CatalogModel):
    """True when at least one condition holds (or)."""

    any: list[Condition] = prop(group="general", description="Conditions of which one must hold.", min_length=1)


def _condition_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        if "all" in value:
            return "all"
        if "any" in value:
            return "any"
        return "comparison"
    if isinstance(value, AllOf):
        return "all"
    if isinstance(value, AnyOf):
        return "any"
    return "comparison"


Condition = Annotated[
    Annotated[Comparison, Tag("comparison")] | Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")],
    Discriminator(_condition_kind),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()


class DisplayRules(CatalogModel):
    """When to show (or hide) a block or component."""

    action: Literal["show", "hide"] = prop(
        "show",
        group="general",
        description="'show': visible only while the condition holds; 'hide': hidden while it holds.",
    )
    when: Condition = prop(
        group="general", description="The condition: a comparison, or {'all': [...]} / {'any': [...]} of conditions."
    )


def comparisons(
    condition: Comparison | AllOf | AnyOf, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Comparison]]:
    """Every comparison inside a condition with its JSON path below ``path``, depth first."""
    if isinstance(condition, Comparison):
        yield path, condition
        return
    key = "all" if isinstance(condition, AllOf) else "any"
    for index, child in enumerate(condition.all if isinstance(condition, AllOf) else condition.any):
        yield from comparisons(child, (*path, key, index))


def _is_empty(value: Any) -> bool:
    return value is None or value in ("", [])


def _ordered(left: Any, right: Any) -> bool:
    numbers = (int, float)
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    return (isinstance(left, numbers) and isinstance(right, numbers)) or (
        isinstance(left, str) and isinstance(right, str)
    )


def compare(operator: Operator, left: Any, right: Any) -> bool:
    """Apply one operator. Ordering operators are false unless both sides are numbers or both strings."""
    if operator == "exists":
        return not _is_empty(left)
    if operator == "not_exists":
        return _is_empty(left)
    if operator == "equals":
        return bool(left == right)
    if operator == "not_equals":
        return bool(left != right)
    if not _ordered(left, right):
        return False
    if operator == "gt":
        return bool(left > right)
    if operator == "gte":
        return bool(left >= right)
    if operator == "lt":
        return bool(left < right)
    return bool(left <= right)


def lookup(state: Mapping[str, Any], target: str) -> Any:
    """The value at ``<block>.<component>`` in a state mapping, or None when absent."""
    block, _, component = target.partition(".")
    values = state.get(block)
    if not isinstance(values, Mapping):
        return None
    return values.get(component)


def holds(condition: Comparison | AllOf | AnyOf, state: Mapping[str, Any]) -> bool:
    """Whether a condition holds for a state (a mapping ``{block: {component: value}}``)."""
    if isinstance(condition, AllOf):
        return all(holds(child, state) for child in condition.all)
    if isinstance(condition, AnyOf):
        return any(holds(child, state) for child in condition.any)
    return compare(condition.operator, lookup(state, condition.target), condition.value)


def evaluate(rules: DisplayRules | None, state: Mapping[str, Any]) -> bool:
    """Whether a block or component with these display rules is visible for this state."""
    if rules is None:
        return True
    result = holds(rules.when, state)
    return result if rules.action == "show" else not result
