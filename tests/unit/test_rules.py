"""Display rules: the reference semantics, from cases shared with the web client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from appyard.catalog.rules import DisplayRules, evaluate

CASES = json.loads((Path(__file__).parent.parent / "cases" / "display_rules.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_display_rules(case: dict[str, Any]) -> None:
    rules = None if case["rules"] is None else DisplayRules.model_validate(case["rules"])
    assert evaluate(rules, case["state"]) is case["visible"]


@pytest.mark.parametrize(
    "rules",
    [
        {"when": {"target": "f.x", "operator": "between"}},
        {"when": {"all": []}},
        {"action": "toggle", "when": {"target": "f.x", "operator": "exists"}},
        {"when": {"target": "f.x", "operator": "exists", "extra": 1}},
    ],
)
def test_malformed_rules_are_rejected(rules: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DisplayRules.model_validate(rules)
