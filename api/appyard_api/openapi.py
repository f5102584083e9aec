"""``python -m appyard_api.openapi FILE``: write the API's OpenAPI document (``--check``: fail when stale).

The web client's TypeScript API types are generated from it by ``make gen``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from appyard.schemas import write

from .app import create_app
from .settings import ApiSettings


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [arg for arg in argv if arg != "--check"]
    if len(paths) != 1:
        print("usage: python -m appyard_api.openapi [--check] FILE", file=sys.stderr)
        return 2
    document = create_app(ApiSettings()).openapi()  # building the app connects to nothing
    return write(Path(paths[0]), json.dumps(document, indent=2, sort_keys=True) + "\n", check)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
