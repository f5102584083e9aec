"""Loading a workspace folder: its apps, their pages, and every page's functions.

:func:`scan` reads everything it can and returns the valid parts together with every issue it found, so
``appyard validate`` reports all problems in one go; :func:`load` raises when there is any issue.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from . import database as page_database
from .database import PageDatabase
from .errors import Issue, NotFound, PropertiesInvalid, shown
from .properties import AppProperties, PageProperties, WorkspaceProperties
from .scripts import FunctionInfo, discover
from .sqlchecks import SourceScope, check_sql_functions
from .validation import (
    check_page,
    check_raw_page,
    format_path,
    issues_from,
    parse_json,
    raw_state_targets,
    state_targets,
    suggest,
    validate_model,
)

PROPERTIES = "properties.json"
Model = TypeVar("Model", bound=BaseModel)


@dataclass
class Page:
    """A valid page: its properties, the functions its scripts define and what its database.json says."""

    app: str
    name: str
    dir: Path
    properties: PageProperties
    functions: dict[str, FunctionInfo]
    database: PageDatabase | None = None
    """The page's database.json (what its SQL tables learned from the database), None when it has none."""

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


def read_json(path: Path) -> object:
    """One JSON file, parsed; raises PropertiesInvalid naming the file when it is missing or not JSON."""
    file = shown(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PropertiesInvalid([Issue(file, "$", "file not found")]) from None
    except UnicodeDecodeError as error:
        raise PropertiesInvalid([Issue(file, "$", f"not UTF-8 text: {error.reason} at byte {error.start}")]) from None
    return parse_json(text, file)


def read_properties(path: Path, model: type[Model]) -> Model:
    """Read and validate one properties.json; raises PropertiesInvalid naming the file."""
    return validate_model(model, read_json(path), shown(path))


def read_database(page_dir: Path) -> tuple[PageDatabase | None, list[Issue]]:
    """The page's database.json (None when it has none), or the issues that make it unreadable."""
    path = page_dir / page_database.DATABASE_FILE
    try:
        return page_database.read(page_dir), []
    except ValidationError as error:
        data: object = None
        try:
            data = parse_json(path.read_text(encoding="utf-8"), shown(path))
        except PropertiesInvalid as invalid:
            return None, [
                Issue(i.file, i.path, f"{i.message}; it is generated: run `appyard gen`") for i in invalid.issues
            ]
        issues = issues_from(error, data, shown(path), PageDatabase)
        return None, [Issue(i.file, i.path, f"{i.message}; it is generated: run `appyard gen`") for i in issues]
    except (OSError, UnicodeDecodeError) as error:
        return None, [Issue(shown(path), "$", f"cannot be read ({type(error).__name__}); run `appyard gen`")]


def load_page(app: str, page_dir: Path, *, sources: SourceScope | None = None, with_database: bool = True) -> Page:
    """Read one page folder: properties.json, scripts/ and database.json; raises PropertiesInvalid with every issue.

    ``sources`` (the app's and workspace's data sources) enables the data source checks of ``.sql`` functions;
    ``with_database`` false ignores database.json (``appyard gen`` reads the page so before it rewrites the file).
    """
    functions, issues = discover(page_dir)
    database, problems = read_database(page_dir) if with_database else (None, [])
    issues += problems
    file = shown(page_dir / PROPERTIES)
    try:
        data = read_json(page_dir / PROPERTIES)
    except PropertiesInvalid as invalid:
        raise PropertiesInvalid(issues + invalid.issues) from None
    try:
        properties = validate_model(PageProperties, data, file)
    except PropertiesInvalid as invalid:
        # Still check what the raw JSON allows, so every problem is reported in one go.
        issues += invalid.issues + check_raw_page(data, functions, file)
        issues += check_sql_functions(page_dir, functions, raw_state_targets(data), _raw_tables(data), sources)
        raise PropertiesInvalid(issues) from None
    issues += check_page(properties, functions, file, database=database, facts_pending=not with_database)
    tables = [block.name for block in properties.blocks if block.block_type == "table"]
    issues += check_sql_functions(page_dir, functions, state_targets(properties, database), tables, sources)
    if issues:
        raise PropertiesInvalid(issues)
    return Page(app, page_dir.name, page_dir, properties, functions, database)


def _raw_tables(data: object) -> list[str]:
    blocks = data.get("blocks") if isinstance(data, dict) else None
    return [
        str(block["name"])
        for block in (blocks if isinstance(blocks, list) else [])
        if isinstance(block, dict) and block.get("block_type") == "table" and isinstance(block.get("name"), str)
    ]


def _unlisted(parent: Path, listed: set[str]) -> list[str]:
    return sorted(
        child.name
        for child in parent.iterdir()
        if child.is_dir() and child.name not in listed and (child / PROPERTIES).is_file()
    )


def _check_app_sources(properties: AppProperties, declared: Collection[str], file: str) -> Iterator[Issue]:
    seen: set[str] = set()
    for index, name in enumerate(properties.data_sources):
        where = format_path(["data_sources", index])
        if name in seen:
            yield Issue(file, where, f"data source {name!r} is listed twice")
        elif name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            yield Issue(
                file,
                where,
                f"data source {name!r} is not declared in the workspace's properties.json{suggest(name, declared)} "
                f"(declared: {known}); declare it under data_sources there",
            )
        seen.add(name)


def _check_sources(properties: WorkspaceProperties, file: str) -> Iterator[Issue]:
    for name, source in properties.data_sources.items():
        where = ["data_sources", name]
        if source.kind != "sqlite" and source.default_url is not None:
            yield Issue(
                file,
                format_path([*where, "default_url"]),
                f"default_url is for sqlite sources only; a {source.kind} URL belongs in the environment variable "
                f"{source.env_name(name)} (locally in the git-ignored .env), never in git",
            )
        if source.seed is not None and (source.kind != "sqlite" or source.default_url is None):
            yield Issue(
                file,
                format_path([*where, "seed"]),
                "seed applies only to a sqlite source with a default_url (it fills the file when it is created); "
                "seed other databases yourself",
            )


def _scan_app(
    name: str, app_dir: Path, issues: list[Issue], declared: Collection[str], with_database: bool
) -> App | None:
    try:
        properties = read_properties(app_dir / PROPERTIES, AppProperties)
    except PropertiesInvalid as invalid:
        issues += invalid.issues
        return None
    app = App(name, app_dir, properties)
    file = shown(app_dir / PROPERTIES)
    issues += _check_app_sources(properties, declared, file)
    scope = SourceScope(file, list(properties.data_sources), declared)
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
                app.pages[entry.name] = load_page(name, page_dir, sources=scope, with_database=with_database)
            except PropertiesInvalid as invalid:
                issues += invalid.issues
    for extra in _unlisted(app_dir, {entry.name for entry in properties.pages}):
        issues.append(Issue(file, "pages", f"folder {extra}/ has a page properties.json but is not listed in pages"))
    return app


def scan(root: Path, *, with_database: bool = True) -> tuple[Workspace | None, list[Issue]]:
    """Everything valid in the workspace, and every issue found (the workspace is None if its own file is bad).

    ``with_database`` false ignores the pages' database.json files (see :func:`load_page`).
    """
    issues: list[Issue] = []
    try:
        properties = read_properties(root / PROPERTIES, WorkspaceProperties)
    except PropertiesInvalid as invalid:
        return None, invalid.issues
    workspace = Workspace(root, properties)
    file = shown(root / PROPERTIES)
    issues += _check_sources(properties, file)
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
        app = _scan_app(entry.name, app_dir, issues, set(properties.data_sources), with_database)
        if app is not None:
            workspace.apps[entry.name] = app
    for extra in _unlisted(root, seen):
        issues.append(Issue(file, "apps", f"folder {extra}/ has an app properties.json but is not listed in apps"))
    return workspace, issues


def load(root: Path, *, with_database: bool = True) -> Workspace:
    """The whole workspace; raises PropertiesInvalid listing every issue when anything is wrong."""
    workspace, issues = scan(root, with_database=with_database)
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
