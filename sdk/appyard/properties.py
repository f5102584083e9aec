"""The three properties.json files: workspace (its apps), app (its pages, access, runner settings) and page (its UI)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from .catalog._fields import CatalogModel, Identifier, prop
from .catalog.blocks import Block

# Apps are imported as top-level packages (scripts can `import orders.lib`), so an app must not shadow a
# module of the standard library; and app names become Kubernetes object names (with "-" for "_").
_STDLIB = frozenset(sys.stdlib_module_names) | {"appyard", "appyard_api", "appyard_runner", "appyard_operator"}


def _check_page_name(value: str) -> str:
    if value != value.lower():
        raise ValueError(f"{value!r} must be lowercase (names become URL paths and Kubernetes names)")
    return value


def _check_app_name(value: str) -> str:
    _check_page_name(value)
    if value in _STDLIB:
        raise ValueError(f"{value!r} is the name of a Python module that apps import; choose another name")
    if value.endswith("_"):
        raise ValueError(f"{value!r} must not end with an underscore")
    return value


AppName = Annotated[Identifier, AfterValidator(_check_app_name), Field(max_length=40)]
PageName = Annotated[Identifier, AfterValidator(_check_page_name), Field(max_length=40)]


class AppEntry(CatalogModel):
    """An app of the workspace: a folder of the same name beside the workspace's properties.json."""

    name: AppName = prop(group="general", description="Folder name; also the app's URL path and Kubernetes name.")
    label: str | None = prop(None, group="general", description="Name shown to users; defaults to the name.")


class WorkspaceProperties(CatalogModel):
    """workspace/properties.json: the apps of this workspace, in the order users see them."""

    label: str | None = prop(None, group="general", description="Name of the workspace shown in the app list.")
    apps: list[AppEntry] = prop([], group="general", description="The apps, in display order.")


class PageEntry(CatalogModel):
    """A page of the app: a folder of the same name inside the app folder."""

    name: PageName = prop(group="general", description="Folder name; also the page's URL path.")
    label: str | None = prop(None, group="general", description="Title shown in navigation; defaults to the name.")


class Access(CatalogModel):
    """Who may use and who may edit the app."""

    roles: list[str] = prop(
        [], group="general", description="Roles allowed to open and use the app; empty means every signed-in user."
    )
    editor_roles: list[str] = prop(
        [], group="general", description="Roles allowed to change the app in the Studio; empty means developers only."
    )


class RunnerSettings(CatalogModel):
    """Limits and capacity for running the app's functions."""

    timeout_seconds: float = prop(
        30.0,
        group="general",
        description="Wall-clock limit of one run; the run's processes are killed past it.",
        gt=0,
        le=3600,
    )
    memory_mb: int = prop(512, group="general", description="Memory limit of one run, in MiB.", ge=32, le=65536)
    cpu_seconds: int | None = prop(
        None, group="general", description="CPU-time limit of one run; defaults to the timeout.", ge=1, le=86400
    )
    concurrency: int = prop(4, group="general", description="Runs executed at the same time per runner.", ge=1, le=256)
    max_output_kb: int = prop(
        1024,
        group="general",
        description="Captured stdout+stderr per run; more is cut with a notice.",
        ge=1,
        le=65536,
    )
    replicas: int = prop(1, group="general", description="Runner pods in a cluster.", ge=0, le=100)


class AppProperties(CatalogModel):
    """<app>/properties.json: the app's label, pages, access and runner settings."""

    label: str | None = prop(None, group="general", description="Name shown to users; defaults to the app name.")
    description: str | None = prop(None, group="general", description="One line shown in the app list.")
    pages: list[PageEntry] = prop([], group="general", description="The pages, in navigation order.")
    access: Access = prop(Access(), group="general", description="Who may use and edit the app.")
    runner: RunnerSettings = prop(RunnerSettings(), group="general", description="Limits for running functions.")


class PageProperties(CatalogModel):
    """<app>/<page>/properties.json: the blocks of the page and their components."""

    label: str | None = prop(None, group="general", description="Title of the page; defaults to its name.")
    description: str | None = prop(None, group="general", description="Text shown under the page title.")
    blocks: list[Block] = prop([], group="general", description="Widgets and tables, in page order.")


def dumps(properties: BaseModel) -> str:
    """A properties model as properties.json text: two-space indent, defaults left out, newline at the end."""
    return json.dumps(properties.model_dump(mode="json", exclude_defaults=True), indent=2, ensure_ascii=False) + "\n"
