"""Loading a workspace folder: its apps, their pages, and every page's functions.

:func:`scan` reads everything it can and returns the valid parts together with every issue it found, so
``appyard validate`` reports all problems in one go; :func:`load` raises when there is any issue.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from .errors import Issue, NotFound, PropertiesInvalid, shown
from .properties import AppProperties, PageProperties, WorkspaceProperties
from .scripts import FunctionInfo, discover
from .validation import check_page, format_path, parse_json, validate_model

PROPERTIES = "properties.json"
Model = TypeVar("Model", bound=BaseModel)


@dataclass
class Page:
    """A valid page: its properties and the functions its scripts define."""

    app: str
    name: str
    dir: Path
    properties: PageProperties
    functions: dict[str, FunctionInfo]

    @property
    def properties_file(self) -> Path:
        return self.dir / PROPERTIES

    def function(self, name: str) -> FunctionInfo:
        """A function of the page, or NotFound listing the ones that exist."""
        try:
            return self.functions[name]
        except KeyError:
            known = ", ".join(sorted(self.functions)) or "none"
            raise NotFound(f"page {self.app}/{self.name} has no function {name!r} (functions: {known})") from None


@dataclass
class App:
    """An app and its valid pages, in the order of its properties."""

    name: str
    dir: Path
    properties: AppProperties
    pages: dict[str, Page] = field(default_factory=dict)

    def page(self, name: str) -> Page:
        try:
            return self.pages[name]
        except KeyError:
            known = ", ".join(self.pages) or "none"
            raise NotFound(f"app {self.name!r} has no page {name!r} (pages: {known})") from None


@dataclass
class Workspace:
    """A workspace folder and its valid apps, in the order of its properties."""

    root: Path
    properties: WorkspaceProperties
    apps: dict[str, App] = field(default_factory=dict)

    def app(self, name: str) -> App:
        try:
            return self.apps[name]
        except KeyError:
            known = ", ".join(self.apps) or "none"
            raise NotFound(f"workspace has no app {name!r} (apps: {known})") from None

    def page(self, app: str, page: str) -> Page:
        return self.app(app).page(page)

    def pages(self) -> Iterator[Page]:
        for app in self.apps.values():
            yield from app.pages.values()


def read_properties(path: Path, model: type[Model]) -> Model:
    """Read and validate one properties.json; raises PropertiesInvalid naming the file."""
    file = shown(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PropertiesInvalid([Issue(file, "$", "file not found")]) from None
    except UnicodeDecodeError as error:
        raise PropertiesInvalid([Issue(file, "$", f"not UTF-8 text: {error.reason} at byte {error.start}")]) from None
    return validate_model(model, parse_json(text, file), file)


def load_page(app: str, page_dir: Path) -> Page:
    """Read one page folder: properties.json and scripts/; raises PropertiesInvalid with every issue."""
    functions, issues = discover(page_dir)
    try:
        properties = read_properties(page_dir / PROPERTIES, PageProperties)
    except PropertiesInvalid as invalid:
        raise PropertiesInvalid(issues + invalid.issues) from None
    issues += check_page(properties, functions, shown(page_dir / PROPERTIES))
    if issues:
        raise PropertiesInvalid(issues)
    return Page(app, page_dir.name, page_dir, properties, functions)


def _unlisted(parent: Path, listed: set[str]) -> list[str]:
    return sorted(
        child.name
        for child in parent.iterdir()
        if child.is_dir() and child.name not in listed and (child / PROPERTIES).is_file()
    )


def _scan_app(name: str, app_dir: Path, issues: list[Issue]) -> App | None:
    try:
        properties = read_properties(app_dir / PROPERTIES, AppProperties)
    except PropertiesInvalid as invalid:
        issues += invalid.issues
        return None
    app = App(name, app_dir, properties)
    file = shown(app_dir / PROPERTIES)
    listed: set[str] = set()
    for index, entry in enumerate(properties.pages):
        path = format_path(["pages", index, "name"])
        page_dir = app_dir / entry.name
        if entry.name in listed:
            issues.append(Issue(file, path, f"page {entry.name!r} is listed twice"))
            continue
        listed.add(entry.name)
        if not (page_dir / PROPERTIES).is_file():
            issues.append(Issue(file, path, f"page folder {shown(page_dir)}/ with a properties.json not found"))
        else:
            try:
                app.pages[entry.name] = load_page(name, page_dir)
            except PropertiesInvalid as invalid:
                issues += invalid.issues
    for extra in _unlisted(app_dir, {entry.name for entry in properties.pages}):
        issues.append(Issue(file, "pages", f"folder {extra}/ has a page properties.json but is not listed in pages"))
    return app


def scan(root: Path) -> tuple[Workspace | None, list[Issue]]:
    """Everything valid in the workspace, and every issue found (the workspace is None if its own file is bad)."""
    issues: list[Issue] = []
    try:
        properties = read_properties(root / PROPERTIES, WorkspaceProperties)
    except PropertiesInvalid as invalid:
        return None, invalid.issues
    workspace = Workspace(root, properties)
    file = shown(root / PROPERTIES)
    seen: set[str] = set()
    for index, entry in enumerate(properties.apps):
        path = format_path(["apps", index, "name"])
        if entry.name in seen:
            issues.append(Issue(file, path, f"app {entry.name!r} is listed twice"))
            continue
        seen.add(entry.name)
        app_dir = root / entry.name
        if not (app_dir / PROPERTIES).is_file():
            issues.append(Issue(file, path, f"app folder {shown(app_dir)}/ with a properties.json not found"))
            continue
        app = _scan_app(entry.name, app_dir, issues)
        if app is not None:
            workspace.apps[entry.name] = app
    for extra in _unlisted(root, seen):
        issues.append(Issue(file, "apps", f"folder {extra}/ has an app properties.json but is not listed in apps"))
    return workspace, issues


def load(root: Path) -> Workspace:
    """The whole workspace; raises PropertiesInvalid listing every issue when anything is wrong."""
    workspace, issues = scan(root)
    if issues or workspace is None:
        raise PropertiesInvalid(issues)
    return workspace


def find_root(start: Path) -> Path:
    """The workspace folder for a path given on the command line (``.`` also finds ``./workspace``)."""
    if (start / PROPERTIES).is_file():
        return start
    nested = start / "workspace"
    if (nested / PROPERTIES).is_file():
        return nested
    raise NotFound(
        f"no workspace at {shown(start)}: {PROPERTIES} not found there"
        + (" or in workspace/" if start.is_dir() else "")
        + "; pass the workspace folder, or create one with `appyard new app NAME`"
    )
