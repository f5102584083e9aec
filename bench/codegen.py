"""Benchmark: regenerating State/Context for a 50-component page (goal: ≤ 50 ms warm).

Measures, on one synthetic page with 50 components across 5 widgets and a 10-column table: validation of
properties.json, generation of both modules (JSON schema → datamodel-code-generator, in-process), and the
atomic write. Prints median and p99; the goal is not asserted anywhere.
"""

from __future__ import annotations

import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appyard import codegen
from appyard.properties import PageProperties
from appyard.validation import validate_page

KINDS: list[dict[str, Any]] = [
    {"component_type": "input", "data_type": "text"},
    {"component_type": "input", "data_type": "integer", "default": 3},
    {"component_type": "input", "data_type": "date"},
    {"component_type": "select", "options": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]},
    {"component_type": "select", "multiple": True, "data_type": "integer", "options_fetcher": "fill"},
    {"component_type": "boolean"},
    {"component_type": "input", "data_type": "datetime"},
    {"component_type": "text", "text": "**hello**"},
    {"component_type": "button", "on_click": "fill"},
    {
        "component_type": "input",
        "data_type": "float",
        "display_rules": {"when": {"target": "w0.c1", "operator": "gt", "value": 2}},
    },
]


def page_with(components: int) -> dict[str, Any]:
    """A page of `components` components in widgets of ten, plus a ten-column table."""
    blocks: list[dict[str, Any]] = []
    for index in range(components):
        if index % 10 == 0:
            blocks.append({"block_type": "widget", "name": f"w{index // 10}", "components": []})
        blocks[-1]["components"].append({**KINDS[index % 10], "name": f"c{index % 10}"})
    columns = [
        {"name": f"col{index}", "data_type": ["text", "integer", "float", "date", "boolean"][index % 5]}
        for index in range(10)
    ]
    blocks.append({"block_type": "table", "name": "rows", "fetcher": "fill", "columns": columns})
    return {"blocks": blocks}


def measure(action: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds per call, after one warm-up call."""
    action()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def main() -> None:
    data = page_with(50)
    text = json.dumps(data)
    start = time.perf_counter()
    page: PageProperties = validate_page(json.loads(text), file="bench", functions={"fill"})
    codegen.generate(page)
    first = (time.perf_counter() - start) * 1000
    edits = itertools.count()

    def edit_one_component() -> None:
        # What the Studio does on every property change: one component's label changes, then save.
        changed = json.loads(text)
        changed["blocks"][2]["components"][3]["label"] = f"Label {next(edits)}"
        validated = validate_page(changed, file="bench", functions={"fill"})
        codegen.write(target, codegen.generate(validated))

    def add_one_component() -> None:
        # A structural edit: a new input in one widget, so that widget's classes are generated again.
        changed = json.loads(text)
        changed["blocks"][2]["components"].append({"component_type": "input", "name": f"added{next(edits)}"})
        validated = validate_page(changed, file="bench", functions={"fill"})
        codegen.write(target, codegen.generate(validated))

    def regenerate_everything() -> None:
        codegen.clear_cache()
        validated = validate_page(json.loads(text), file="bench", functions={"fill"})
        codegen.write(target, codegen.generate(validated))

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder)
        rows = [
            (
                "validate properties.json",
                measure(lambda: validate_page(json.loads(text), file="bench", functions={"fill"}), 200),
            ),
            ("unchanged page (all blocks cached)", measure(lambda: codegen.generate(page), 100)),
            ("relabel one component + write", measure(edit_one_component, 50)),
            ("add a component to a widget + write", measure(add_one_component, 50)),
            ("every block changed + write", measure(regenerate_everything, 20)),
        ]
    print("State/Context regeneration, 50 components in 5 widgets + a 10-column table (ms)")
    print(f"{'case':<38}{'median':>10}{'p99':>10}")
    for name, samples in rows:
        print(f"{name:<38}{statistics.median(samples):>10.1f}{p99(samples):>10.1f}")
    print(f"{'first call in a fresh process':<38}{first:>10.1f}")
    print("goal: regeneration after an edit ≤ 50 ms in a warm process (a relabel changes no generated code)")


if __name__ == "__main__":
    main()
