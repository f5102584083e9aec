"""What a run changed in the context: the part of the response the client re-renders.

Contexts are compared as JSON (``model_dump(mode="json")``). A change is a nested mapping holding only the
leaves that differ; lists (table data, options) are replaced whole. :func:`merge` applies a change, so
``merge(before, changes(before, after)) == after`` for any two contexts of the same page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The leaves of ``after`` that differ from ``before`` (keys missing from ``after`` are not reported)."""
    result: dict[str, Any] = {}
    for key, new in after.items():
        old = before.get(key)
        if isinstance(new, Mapping) and isinstance(old, Mapping):
            nested = changes(old, new)
            if nested:
                result[key] = nested
        elif new != old or key not in before:
            result[key] = new
    return result


def merge(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``change`` applied (a new mapping; neither argument is modified)."""
    result = dict(base)
    for key, new in change.items():
        old = result.get(key)
        result[key] = merge(old, new) if isinstance(new, Mapping) and isinstance(old, Mapping) else new
    return result
