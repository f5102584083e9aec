"""Errors raised by the SDK.

::

    AppyardError                 base of everything below
    ├── PropertiesInvalid        one or more Issues in properties.json files or scripts (permanent until fixed)
    │   └── SqlSyntaxError       a `.sql` function that cannot be read (two statements, an unterminated string, …)
    ├── NotFound                 an app, page or function that does not exist
    ├── AlreadyExists            an app or page of that name exists already
    ├── BadName                  a name that cannot be used for an app, a page or a script
    ├── GenerationFailed         State/Context generation failed (a bug or a broken environment, not user input)
    ├── ModelsStale              committed state.py/context.py are not what the generator writes (run `appyard gen`)
    ├── StateInvalid             a run's state does not fit the page's State; carries Issues
    ├── ContextInvalid           a function returned something that does not fit the page's Context; carries Issues
    ├── FunctionFailed           a user function raised; carries the formatted traceback of the user's frames
    ├── DevError                 `appyard dev` cannot start (a busy port, a missing program)
    ├── DotenvInvalid            a `.env` line that is not KEY=value (names the file and line, never the value)
    ├── TableRefused             a table request the page does not allow (the API answers 403 or 422)
    ├── SqlFailed                a SQL run failed; carries the RunError its result shows
    └── DataSourceError          which source, and whether running again could succeed (``retryable``)
        ├── SourceUndeclared     the name is not among the app's declared data sources (lists the declared ones)
        ├── SourceNotConfigured  the source's URL is missing or unusable (set its environment variable)
        ├── SourceUnreachable    cannot connect, or the connection was lost twice in a row (retryable)
        ├── StatementTimeout     the database cancelled a statement past the source's statement timeout
        ├── StatementFailed      the database refused the statement (its own message, never the URL)
        ├── TooManyRows          a query returned more rows than the source's ``max_rows``
        └── TableRequestInvalid  the viewer asked a SQL table for an unknown column, a badly typed value, …

Every DataSourceError maps to ``RunError(kind="data_source")`` with :meth:`DataSourceError.run_error`. Its messages
start with ``data source <name>:`` and never contain a URL or a password (see :mod:`appyard.sql.redaction`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .runs import RunError


def shown(path: Path) -> str:
    """A path as people should see it in messages: relative to the current directory when inside it."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


@dataclass(frozen=True, order=True)
class Issue:
    """One problem a person can act on: which file, where in it, and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


class AppyardError(Exception):
    """Base of every error raised by the appyard package."""


class PropertiesInvalid(AppyardError):
    """properties.json or scripts have problems; ``issues`` lists every one of them."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        count = len(issues)
        summary = "\n".join(str(issue) for issue in issues[:20])
        more = f"\n… and {count - 20} more" if count > 20 else ""
        super().__init__(f"{count} problem{'s' if count != 1 else ''}:\n{summary}{more}")


class SqlSyntaxError(PropertiesInvalid):
    """A `.sql` function that cannot be read; its one Issue names the file and the line."""

    def __init__(self, issue: Issue) -> None:
        super().__init__([issue])
        self.issue = issue


class NotFound(AppyardError):
    """An app, page or function that does not exist; the message lists what does."""


class GenerationFailed(AppyardError):
    """Generating State/Context models failed for a page whose properties are valid."""


class FunctionFailed(AppyardError):
    """A user function raised an exception."""

    def __init__(self, message: str, traceback: str) -> None:
        self.traceback = traceback
        super().__init__(message)


class AlreadyExists(AppyardError):
    """An app or page of that name exists already."""


class BadName(AppyardError):
    """A name that cannot be used for an app, a page or a script."""


class StateInvalid(AppyardError):
    """The state sent with a run does not fit the page's State model."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("state does not match the page: " + "; ".join(f"{i.path}: {i.message}" for i in issues))


class ContextInvalid(AppyardError):
    """A function returned something that does not fit the page's Context model."""

    def __init__(self, function: str, issues: list[Issue]) -> None:
        self.issues = issues
        details = "; ".join(f"{issue.path}: {issue.message}" for issue in issues)
        super().__init__(f"{function} returned an invalid context: {details}")


class ModelsStale(AppyardError):
    """The page's committed state.py/context.py are missing or not byte for byte what the generator writes."""


class DevError(AppyardError):
    """appyard dev cannot start (a busy port, a missing program)."""


class DotenvInvalid(AppyardError):
    """A ``.env`` line that is not ``KEY=value``; the message names the file and the line."""


class TableRefused(AppyardError):
    """A table request the page does not allow; ``forbidden`` when it names an action the table does not offer."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


class SqlFailed(AppyardError):
    """A SQL run that failed; ``error`` is what the run's result says."""

    def __init__(self, error: RunError) -> None:
        super().__init__(error.message)
        self.error = error


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


class TableRequestInvalid(DataSourceError):
    """The viewer asked for something the table cannot do: an unknown column, a value that does not fit its
    column's type, an edit of a read-only column. Permanent: the request must change."""
