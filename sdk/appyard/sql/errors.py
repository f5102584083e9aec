"""Errors of data sources and SQL functions.

::

    DataSourceError              base: which source, and whether running again could succeed (``retryable``)
    ├── SourceUndeclared         the name is not among the app's declared data sources (lists the declared ones)
    ├── SourceNotConfigured      the source's URL is missing or unusable (set its environment variable)
    ├── SourceUnreachable        cannot connect, or the connection was lost twice in a row (retryable)
    ├── StatementTimeout         the database cancelled a statement past the source's statement timeout
    ├── StatementFailed          the database refused the statement (its own message, never the URL)
    └── TooManyRows              a query returned more rows than the source's ``max_rows``

Every one maps to ``RunError(kind="data_source")`` with :meth:`DataSourceError.run_error`. Messages start with
``data source <name>:`` and never contain a URL or a password: :func:`redact` removes both from the database's
own words before they are used.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import AppyardError
from ..runs import RunError

MESSAGE_LIMIT = 2000
"""Characters of a database's message kept in an error (the rest is cut)."""


class DataSourceError(AppyardError):
    """A data source is undeclared, unconfigured, unreachable, or refused or cancelled a statement."""

    retryable = False
    """Whether running the same function again, unchanged, could succeed."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.detail = message
        super().__init__(f"data source {source}: {message}")

    def run_error(self) -> RunError:
        """This error as a run's outcome, shown to the user as it is."""
        return RunError(kind="data_source", message=str(self), retryable=self.retryable)


class SourceUndeclared(DataSourceError):
    """The app uses a name that is not one of its declared data sources."""

    def __init__(self, source: str, declared: Iterable[str]) -> None:
        names = sorted(declared)
        known = ", ".join(names) if names else "none"
        super().__init__(
            source,
            f"not declared for this app (declared: {known}); add it to the workspace's data_sources and the "
            "app's data_sources in properties.json",
        )


class SourceNotConfigured(DataSourceError):
    """The source's URL is not set, cannot be parsed, or is for another kind of database."""


class SourceUnreachable(DataSourceError):
    """Connecting failed, or a connection was lost and the one retry failed too."""

    retryable = True


class StatementTimeout(DataSourceError):
    """The statement ran past the source's ``statement_timeout_ms`` and the database cancelled it."""

    retryable = True


class StatementFailed(DataSourceError):
    """The database refused the statement; the message is the database's own (without URL or password)."""


class TooManyRows(DataSourceError):
    """A query returned more than ``max_rows`` rows."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets`` (URLs, passwords) and cut to :data:`MESSAGE_LIMIT` characters."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"
