"""Taking URLs and passwords out of a database's own words before they become an error message."""

from __future__ import annotations

from collections.abc import Iterable

MESSAGE_LIMIT = 2000
"""Characters of a database's message kept in an error (the rest is cut)."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets`` (URLs, passwords) and cut to :data:`MESSAGE_LIMIT` characters."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"
