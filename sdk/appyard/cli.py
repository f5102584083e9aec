"""The ``appyard`` command.

Results that other programs read (``run``'s context JSON) go to stdout; progress and errors go to stderr.
Problems in properties.json files are printed one per line as ``file: json.path: message`` and make the
command exit with status 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress

from . import codegen, execution, generated, scaffold, workspace
from .errors import AppyardError, FunctionFailed, Issue, PropertiesInvalid, shown

app = typer.Typer(
    help="Appyard: internal tools from declared pages and plain Python functions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
new = typer.Typer(help="Create apps and pages.", no_args_is_help=True)
app.add_typer(new, name="new")

err = Console(stderr=True, highlight=False, soft_wrap=True)

WorkspaceArg = Annotated[
    Path,
    typer.Argument(
        metavar="WORKSPACE", help="The workspace folder (default: ., or ./workspace when . has no properties.json)."
    ),
]
WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="The workspace folder.")]


def _fail(message: str) -> NoReturn:
    err.print("[red]error:[/red] ", end="")
    err.print(message, markup=False)  # messages quote user input; square brackets in it are not markup
    raise typer.Exit(1)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _report(issues: list[Issue]) -> NoReturn:
    for issue in issues:
        typer.echo(str(issue))
    files = len({issue.file for issue in issues})
    err.print(f"[red]✗[/red] {_count(len(issues), 'problem')} in {_count(files, 'file')}")
    raise typer.Exit(1)


def _root(path: Path) -> Path:
    try:
        return workspace.find_root(path)
    except AppyardError as error:
        _fail(str(error))


def _load(path: Path) -> workspace.Workspace:
    try:
        return workspace.load(_root(path))
    except PropertiesInvalid as invalid:
        _report(invalid.issues)


@app.command()
def validate(path: WorkspaceArg = Path()) -> None:
    """Check every properties.json and script of a workspace; print each problem as file: path: message."""
    loaded = _load(path)
    stale = [
        issue for page in loaded.pages() for issue in generated.differences(page.dir, generated.source(page.properties))
    ]
    if stale:
        _report(stale)
    pages = sum(len(item.pages) for item in loaded.apps.values())
    summary = f"{_count(len(loaded.apps), 'app')}, {_count(pages, 'page')}"
    err.print(f"[green]✓[/green] {shown(loaded.root)}: {summary}, no problems")


@app.command()
def gen(
    path: WorkspaceArg = Path(),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 when a file is stale.")] = False,
) -> None:
    """Generate state.py and context.py for every page (only files that changed are written)."""
    loaded = _load(path)
    pages = list(loaded.pages())
    pending: list[tuple[workspace.Page, codegen.GeneratedModels]] = []
    with Progress(console=err, transient=True, disable=len(pages) < 10) as progress:
        task = progress.add_task("generating models", total=len(pages))
        for page in pages:
            progress.update(task, description=f"generating {page.app}/{page.name}")
            pending.append((page, codegen.generate(page.properties)))
            progress.advance(task)
    stale = [path for page, models in pending for path in codegen.stale(page.dir, models)]
    if check:
        for file in stale:
            typer.echo(f"{shown(file)}: stale; run `appyard gen` (or `make gen`) and commit the result")
        if stale:
            raise typer.Exit(1)
        err.print(f"[green]✓[/green] generated models of {len(pages)} pages are up to date")
        return
    written = [file for page, models in pending for file in codegen.write(page.dir, models)]
    for file in written:
        err.print(f"wrote {shown(file)}")
    err.print(f"[green]✓[/green] {len(pages)} pages: {len(written)} files written, the rest up to date")


@new.command("app")
def new_app(
    name: Annotated[str, typer.Argument(metavar="NAME", help="App name: lowercase letters, digits and underscores.")],
    label: Annotated[str | None, typer.Option(help="Name shown to users.")] = None,
    root: WorkspaceOpt = Path(),
) -> None:
    """Create an app with a starter page (creating the workspace's properties.json if needed)."""
    try:
        target = workspace.find_root(root)
    except AppyardError:
        target = root  # a new workspace starts here
    try:
        written = scaffold.new_app(target, name, label)
    except PropertiesInvalid as invalid:
        _report(invalid.issues)
    except AppyardError as error:
        _fail(str(error))
    for file in written:
        err.print(f"created {shown(file)}")
    example = """'{"form": {"name": "Ada"}}'"""
    err.print(f"[green]✓[/green] app {name!r} created; try:")
    err.print(f"  appyard run {name} home greet --state {example} -w {shown(target)}", markup=False)


@new.command("page")
def new_page(
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The app to add the page to.")],
    name: Annotated[str, typer.Argument(metavar="PAGE", help="Page name: lowercase letters, digits, underscores.")],
    label: Annotated[str | None, typer.Option(help="Title of the page.")] = None,
    root: WorkspaceOpt = Path(),
) -> None:
    """Add a working starter page to an app: a widget with an input and a button bound to a function."""
    target = _root(root)
    try:
        written = scaffold.new_page(target, app_name, name, label)
    except PropertiesInvalid as invalid:
        _report(invalid.issues)
    except AppyardError as error:
        _fail(str(error))
    for file in written:
        err.print(f"created {shown(file)}")
    err.print(f"[green]✓[/green] page {app_name}/{name} created")


@app.command()
def run(
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The app.")],
    page_name: Annotated[str, typer.Argument(metavar="PAGE", help="The page.")],
    function: Annotated[str, typer.Argument(metavar="FUNCTION", help="The function of the page to run.")],
    state: Annotated[str, typer.Option(help='The page state as JSON, e.g. \'{"form": {"name": "Ada"}}\'.')] = "{}",
    full: Annotated[bool, typer.Option("--full", help="Print every context field, not only those set.")] = False,
    root: WorkspaceOpt = Path(),
) -> None:
    """Run a page function in this process and print the context it returned as JSON.

    Only the fields the function set are printed (what a run's response carries); --full prints them all.
    The function's own prints go to stderr, so stdout stays valid JSON.
    """
    try:
        state_value: Any = json.loads(state)
    except json.JSONDecodeError as error:
        _fail(f"--state is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}")
    if not isinstance(state_value, dict):
        _fail('--state must be a JSON object, e.g. \'{"form": {"name": "Ada"}}\'')
    target = _root(root)
    from .devserver import data_root

    os.environ["APPYARD_DATA_DIR"] = str(data_root(Path(".appyard")))  # the same data as `appyard dev`
    try:
        page = workspace.load(target).page(app_name, page_name)
        loaded = execution.load(page, target)
        with contextlib.redirect_stdout(sys.stderr):
            outcome = execution.execute(loaded, function, state_value, target)
    except PropertiesInvalid as invalid:
        _report(invalid.issues)
    except FunctionFailed as failed:
        err.print(failed.traceback.rstrip(), markup=False)
        _fail(f"{function} failed: {failed}")
    except AppyardError as error:
        _fail(str(error))
    typer.echo(json.dumps(outcome.context if full else outcome.changes, indent=2, ensure_ascii=False))


@app.command()
def dev(
    path: WorkspaceArg = Path(),
    host: Annotated[str, typer.Option(help="Interface to serve on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the API and web client.")] = 8000,
    nats_port: Annotated[int, typer.Option(help="Port of the embedded nats-server (default: a free one).")] = 0,
    web_dir: Annotated[Path | None, typer.Option(help="The built web client to serve at / (web/dist).")] = None,
) -> None:
    """Run Appyard locally: nats-server, the API, one runner per app, and a watcher. Ctrl-C stops everything."""
    from . import devserver

    options = devserver.DevOptions(
        workspace=_root(path),
        host=host,
        port=port,
        nats_port=nats_port,
        web_dir=web_dir,
        log=lambda line: err.print(line, markup=False),
    )
    try:
        devserver.run(options)
    except PropertiesInvalid as invalid:
        _report(invalid.issues)
    except AppyardError as error:
        _fail(str(error))


def main() -> None:
    """Entry point of the ``appyard`` command."""
    app()
