"""Creating apps and pages: ``appyard new app`` and ``appyard new page``.

A new page is a working starter: a widget with an input and a button bound to a function that greets the
name typed in. Every file of a change (properties, generated models, the starter script) is written in one
atomic group, so a failure leaves the workspace as it was.
"""

from __future__ import annotations

from pathlib import Path

from . import atomic, codegen
from .catalog.blocks import Widget
from .catalog.components import Button, Input, Text
from .errors import AlreadyExists, BadName, PropertiesInvalid, shown
from .properties import AppEntry, AppProperties, PageEntry, PageProperties, WorkspaceProperties, dumps
from .scripts import SCRIPTS_DIR
from .validation import validate_model
from .workspace import PROPERTIES, read_properties

STARTER_FUNCTION = "greet"

STARTER_SCRIPT = '''"""Functions of this page. Each takes the page's State and Context and returns the Context."""

from ..context import Context
from ..state import State


def {function}(state: State, context: Context) -> Context:
    """Greet whoever typed their name."""
    name = state.form.name or "world"
    context.form.set_message(f"Hello, {{name}}!", "success")
    return context
'''


def starter_page(label: str | None = None) -> PageProperties:
    """The properties of a new page: a form with a name input and a greet button."""
    return PageProperties(
        label=label,
        blocks=[
            Widget(
                block_type="widget",
                name="form",
                label="Say hello",
                components=[
                    Text(component_type="text", name="intro", text="Type a name and press **Greet**."),
                    Input(component_type="input", name="name", label="Your name", placeholder="Ada", on_submit="greet"),
                    Button(component_type="button", name="greet", label="Greet", on_click=STARTER_FUNCTION),
                ],
            )
        ],
    )


def _check_name(model: type[AppEntry] | type[PageEntry], name: str, what: str) -> None:
    try:
        validate_model(model, {"name": name}, what)
    except PropertiesInvalid as invalid:
        raise BadName(f"{name!r} cannot be {what}: {invalid.issues[0].message}") from None


def page_files(page_dir: Path, properties: PageProperties) -> dict[Path, str]:
    """Every file of a new starter page: properties.json, generated models, the starter script."""
    models = codegen.generate(properties)
    return {
        page_dir / PROPERTIES: dumps(properties),
        **codegen.outputs(page_dir, models),
        page_dir / SCRIPTS_DIR / f"{STARTER_FUNCTION}.py": STARTER_SCRIPT.format(function=STARTER_FUNCTION),
    }


def new_page(root: Path, app: str, page: str, label: str | None = None) -> list[Path]:
    """Add a starter page to an app; returns the files written."""
    app_file = root / app / PROPERTIES
    app_properties = read_properties(app_file, AppProperties)
    _check_name(PageEntry, page, "a page name")
    page_dir = root / app / page
    if page_dir.exists() or any(entry.name == page for entry in app_properties.pages):
        raise AlreadyExists(f"app {app!r} already has a page {page!r} ({shown(page_dir)}/)")
    app_properties.pages.append(PageEntry(name=page, label=label))
    files = {app_file: dumps(app_properties), **page_files(page_dir, starter_page(label))}
    atomic.write_all(files)
    return sorted(files)


def new_app(root: Path, app: str, label: str | None = None, page: str = "home") -> list[Path]:
    """Create an app with one starter page (and the workspace's properties.json if missing)."""
    workspace_file = root / PROPERTIES
    if workspace_file.exists():
        workspace = read_properties(workspace_file, WorkspaceProperties)
    else:
        workspace = WorkspaceProperties()
    _check_name(AppEntry, app, "an app name")
    _check_name(PageEntry, page, "a page name")
    app_dir = root / app
    if app_dir.exists() or any(entry.name == app for entry in workspace.apps):
        raise AlreadyExists(f"the workspace already has an app {app!r} ({shown(app_dir)}/)")
    workspace.apps.append(AppEntry(name=app, label=label))
    app_properties = AppProperties(label=label, pages=[PageEntry(name=page)])
    files = {
        workspace_file: dumps(workspace),
        app_dir / PROPERTIES: dumps(app_properties),
        **page_files(app_dir / page, starter_page()),
    }
    atomic.write_all(files)
    return sorted(files)
