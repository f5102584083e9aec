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
    └── DevError                 `appyard dev` cannot start (a busy port, a missing program)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
