"""JSON schemas of the properties files, for tools outside Python (the web client's TypeScript types).

``python -m appyard.schemas FILE`` writes them (``--check``: fail when FILE is stale); ``make gen`` runs it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from .properties import AppProperties, PageProperties, WorkspaceProperties


def schema() -> dict[str, Any]:
    """One JSON schema whose root lists the three files and whose $defs hold every catalog model."""
    adapter: TypeAdapter[tuple[WorkspaceProperties, AppProperties, PageProperties]] = TypeAdapter(
        tuple[WorkspaceProperties, AppProperties, PageProperties]
    )
    generated = adapter.json_schema(ref_template="#/$defs/{model}")
    return {
        "title": "PropertiesFiles",
        "description": "The three properties.json files of a workspace (generated from the appyard catalog).",
        "type": "object",
        "properties": {
            "workspace": {"$ref": "#/$defs/WorkspaceProperties"},
            "app": {"$ref": "#/$defs/AppProperties"},
            "page": {"$ref": "#/$defs/PageProperties"},
        },
        "required": ["workspace", "app", "page"],
        "additionalProperties": False,
        "$defs": generated["$defs"],
    }


def write(target: Path, content: str, check: bool) -> int:
    """Write (or with ``check``, compare) a generated file; the exit status for a command."""
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    if current == content:
        return 0
    if check:
        print(f"{target}: stale; run `make gen` and commit the result", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [arg for arg in argv if arg != "--check"]
    if len(paths) != 1:
        print("usage: python -m appyard.schemas [--check] FILE", file=sys.stderr)
        return 2
    return write(Path(paths[0]), json.dumps(schema(), indent=2, sort_keys=True) + "\n", check)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
