"""The workspace's ``.env``: local settings (a data source's URL) that `appyard dev` adds to its processes.

The file is git-ignored and holds one ``KEY=value`` per line::

    # the shop sample's database
    APPYARD_DB_SHOP=postgresql://shop:secret@127.0.0.1:5432/shop
    export APPYARD_DB_CRM='postgresql://crm@db/crm'    # "export" is allowed, so the file can be sourced
    GREETING="two\\nlines"                              # escapes \\n \\t \\r \\\\ \\" inside double quotes only

Blank lines and lines starting with ``#`` are skipped; an unquoted value ends at `` #``. A variable already set
in the environment is never overridden (:func:`load_dotenv`). Messages about a malformed line give its number and
never its value (which is likely a secret).
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

from ..errors import DotenvInvalid, shown

MAX_BYTES = 1 << 20
"""The largest ``.env`` read (a bigger one is an error, not a slow start)."""

_LINE = re.compile(r"^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$"}


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of the ``.env`` file at ``path``, in order; a missing file has none."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return {}
    if size > MAX_BYTES:
        raise DotenvInvalid(f"{shown(path)}: {size} bytes is more than a .env may hold ({MAX_BYTES}); trim it")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DotenvInvalid(f"{shown(path)}: not UTF-8 text; save it as UTF-8") from None
    return parse_dotenv(text, shown(path))


def parse_dotenv(text: str, file: str = ".env") -> dict[str, str]:
    """The variables of ``.env`` text (``file`` names it in messages)."""
    variables: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if match is None:
            raise DotenvInvalid(f"{file}: line {number}: {_what_is_wrong(stripped)}")
        key, raw = match.groups()
        try:
            variables[key] = _value(raw)
        except ValueError as error:
            raise DotenvInvalid(f"{file}: line {number}: {key}: {error}") from None
    return variables


def load_dotenv(path: Path, environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Add the ``.env`` file's variables to ``environ`` unless already set there; returns the ones added."""
    added = {key: value for key, value in read_dotenv(path).items() if key not in environ}
    environ.update(added)
    return added


def _what_is_wrong(line: str) -> str:
    name = re.match(r"^(?:export[ \t]+)?([^=\s]*)", line)
    candidate = name.group(1) if name else ""
    if "=" not in line:
        return "expected KEY=value (no '=' on this line)"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", candidate):
        return "a variable name has only letters, digits and '_' and does not start with a digit (expected KEY=value)"
    return "expected KEY=value"


def _value(raw: str) -> str:
    if raw.startswith("'"):
        end = raw.find("'", 1)
        if end < 0:
            raise ValueError("the single quote is not closed on this line (values are one line)")
        _only_comment_after(raw[end + 1 :])
        return raw[1:end]
    if raw.startswith('"'):
        value: list[str] = []
        index = 1
        while index < len(raw):
            char = raw[index]
            if char == "\\" and index + 1 < len(raw) and raw[index + 1] in _ESCAPES:
                value.append(_ESCAPES[raw[index + 1]])
                index += 2
                continue
            if char == '"':
                _only_comment_after(raw[index + 1 :])
                return "".join(value)
            value.append(char)
            index += 1
        raise ValueError("the double quote is not closed on this line (values are one line; write \\n for a newline)")
    comment = re.search(r"[ \t]#", raw)
    return (raw[: comment.start()] if comment else raw).strip()


def _only_comment_after(rest: str) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise ValueError("text after the closing quote; quote the whole value or put a '#' before a comment")
