"""Path parameters of the HTTP API, each with its pattern, so nothing else reaches files or NATS subjects.

A run id is a ULID (``*`` or ``>`` would be wildcards in a NATS subject filter); app and page names are the
identifiers their properties allow; a script is a Python module name, with or without ``.py``, or a `.sql`
file's name with ``.sql``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

RUN_ID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
NAME = r"^[a-z][a-z0-9_]{0,39}$"
SCRIPT = r"^[A-Za-z_][A-Za-z0-9_]{0,99}(\.py|\.sql)?$"

AppName = Annotated[str, Path(pattern=NAME, description="The app's name (lowercase letters, digits, underscores).")]
PageName = Annotated[str, Path(pattern=NAME, description="The page's name (lowercase letters, digits, underscores).")]
ScriptName = Annotated[
    str, Path(pattern=SCRIPT, description="A script of the page's scripts/ folder (.py optional; .sql for SQL).")
]
RunId = Annotated[str, Path(pattern=RUN_ID, description="The run's id (a ULID).")]
