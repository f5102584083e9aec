"""The ``appyard`` command.

Results that other programs read (``run``'s context JSON) go to stdout; progress and errors go to stderr.
Problems in properties.json files are printed one per line as ``file: json.path: message`` and make the
command exit with status 1.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table as RichTable

from . import atomic, codegen, database, execution, generated, scaffold, workspace
from .catalog import Table
from .errors import AppyardError, FunctionFailed, Issue, PropertiesInvalid, shown
from .scripts import SCRIPTS_DIR

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


def _python_modules(page: workspace.Page) -> list[str]:
    folder = page.dir / SCRIPTS_DIR
    return sorted(path.stem for path in folder.glob("*.py") if path.stem != "__init__") if folder.is_dir() else []


@app.command()
def validate(
    path: WorkspaceArg = Path(),
    imports: Annotated[
        bool,
        typer.Option(
            "--imports/--no-imports",
            help="Import each page's Python scripts in a child process (as a run does) and report failing imports.",
        ),
    ] = True,
) -> None:
    """Check every properties.json and script of a workspace; print each problem as file: path: message.

    Never connects to a database: SQL tables are checked against each page's committed database.json.
    """
    root = _root(path)
    loaded, issues = workspace.scan(root)
    if loaded is None:
        _report(issues)
    current: list[workspace.Page] = []
    for page in loaded.pages():
        stale = generated.differences(page.dir, generated.source(page.properties, page.database))
        issues += stale
        if not stale:
            current.append(page)
    if imports:
        from .tooling import imports as script_imports

        issues += script_imports.check(root, [(page.app, page.name, _python_modules(page)) for page in current])
    if issues:
        _report(issues)
    pages = sum(len(item.pages) for item in loaded.apps.values())
    summary = f"{_count(len(loaded.apps), 'app')}, {_count(pages, 'page')}"
    err.print(f"[green]✓[/green] {shown(loaded.root)}: {summary}, no problems")


def _sql_tables(page: workspace.Page) -> bool:
    return any(
        isinstance(block, Table) and block.fetcher is not None and page.functions[block.fetcher].kind == "sql"
        for block in page.properties.blocks
        if isinstance(block, Table) and block.fetcher in page.functions
    )


def _learn(root: Path) -> list[str]:
    """Rewrite each page's database.json from its data sources; returns the problems that are the queries' own.

    URLs come from the environment, else from ``<workspace>/.env`` (as in `appyard dev`). An unreachable or
    unconfigured source keeps the committed file and prints a warning naming it.
    """
    scanned, issues = workspace.scan(root, with_database=False)
    if scanned is None or issues:
        _report(issues)
    apps = {name: [page for page in app.pages.values() if _sql_tables(page)] for name, app in scanned.apps.items()}
    if not any(apps.values()):
        return []
    # Imported here so that a gen without SQL tables never loads SQLAlchemy.
    from . import errors as sql_errors
    from .sql.dotenv import read_dotenv
    from .sql.sources import Sources
    from .tooling.devserver import data_root

    try:
        facts = importlib.import_module("appyard.sql.facts")  # the smart-tables part
    except ImportError as error:
        err.print(f"[yellow]warning:[/yellow] cannot learn SQL tables' facts ({error}); database.json files kept")
        return []
    try:
        environ = {**read_dotenv(root / ".env"), **os.environ}
    except AppyardError as error:  # a malformed .env: the message names the file and the line
        _fail(str(error))
    failures: list[str] = []
    for name, pages in apps.items():
        if not pages:
            continue
        data = data_root(Path(".appyard")) / name  # the app's data folder, as `appyard dev` and `appyard run` use
        app_properties = scanned.apps[name].properties
        sources = Sources.for_app(
            name, app_properties, scanned.properties, workspace=root, environ=environ, data_dir=data
        )
        try:
            for page in pages:
                target = page.dir / database.DATABASE_FILE
                try:
                    learned = facts.learn_page(page, sources)
                except (sql_errors.StatementFailed, sql_errors.StatementTimeout, sql_errors.TooManyRows) as error:
                    failures.append(f"{shown(page.dir)}: {error}")
                    continue
                except sql_errors.DataSourceError as error:  # unreachable, not configured: keep what is committed
                    err.print("[yellow]warning:[/yellow] ", end="")
                    err.print(f"{error}; kept {shown(target)}", markup=False)  # the database's words: no markup
                    continue
                text = database.dumps(learned)
                if not target.is_file() or target.read_text(encoding="utf-8") != text:
                    atomic.write_all({target: text})
                    err.print(f"wrote {shown(target)}")
        finally:
            sources.close()
    return failures


@app.command()
def gen(
    path: WorkspaceArg = Path(),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 when a file is stale.")] = False,
) -> None:
    """Generate state.py and context.py for every page (only files that changed are written).

    First (not with --check) each page with a table whose fetcher is a .sql function learns its columns from
    the database into database.json; a source that cannot be reached keeps the committed file (a warning).
    """
    root = _root(path)
    failures = [] if check else _learn(root)
    loaded = _load(root)
    pages = list(loaded.pages())
    pending: list[tuple[workspace.Page, codegen.GeneratedModels]] = []
    with Progress(console=err, transient=True, disable=len(pages) < 10) as progress:
        task = progress.add_task("generating models", total=len(pages))
        for page in pages:
            progress.update(task, description=f"generating {page.app}/{page.name}")
            pending.append((page, codegen.generate(page.properties, page.database)))
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
    if failures:
        for failure in failures:
            typer.echo(failure)
        _fail(f"{_count(len(failures), 'SQL fetcher')} failed in the database; fix the query and run `appyard gen`")


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
    The function's own prints go to stderr, so stdout stays valid JSON. A `.sql` function runs here too, on the
    app's data sources (URLs from the environment or the workspace's .env): a table's fetcher prints its first
    page, a statement what it reloads and its message.
    """
    try:
        state_value: Any = json.loads(state)
    except json.JSONDecodeError as error:
        _fail(f"--state is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}")
    if not isinstance(state_value, dict):
        _fail('--state must be a JSON object, e.g. \'{"form": {"name": "Ada"}}\'')
    target = _root(root)
    from .tooling.devserver import data_root

    os.environ["APPYARD_DATA_DIR"] = str(data_root(Path(".appyard")))  # the same data as `appyard dev`
    try:
        found = workspace.load(target)
        page = found.page(app_name, page_name)
        if page.function(function).kind == "sql":  # SQL runs here too, without a runner
            from .errors import SqlFailed
            from .sql.answers import run_locally

            try:
                changes, output = run_locally(found, page, function, state_value)
            except SqlFailed as failed:
                _fail(f"{function} failed: {failed.error.message}")
            sys.stderr.write(output)
            typer.echo(json.dumps(changes, indent=2, ensure_ascii=False))
            return
        loaded = execution.load(page, target)
        if found.app(app_name).properties.data_sources:  # appyard.db() in the function: the app's sources
            from .sql.answers import local_sources
            from .sql.sources import use

            use(local_sources(found, app_name))
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
    web_dir: Annotated[
        Path | None,
        typer.Option(
            help="The built web client to serve at / (default: the one packaged with the API, else web/dist of "
            "the checkout appyard runs from)."
        ),
    ] = None,
) -> None:
    """Run Appyard locally: nats-server, the API, one runner per app, and a watcher. Ctrl-C stops everything."""
    from .tooling import devserver

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


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _moment(value: str | None, option: str) -> str | None:
    """An ISO 8601 time for the API from ``1h``/``30m``/``2d`` (that long ago) or an ISO 8601 time."""
    if value is None:
        return None
    if match := re.fullmatch(r"(\d+)([smhdw])", value.strip()):
        ago = timedelta(**{_UNITS[match[2]]: int(match[1])})
        return (datetime.now(UTC) - ago).isoformat()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r} is neither a duration (30m, 1h, 2d, 1w) nor an ISO 8601 time (2026-11-30T09:00)")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _get_json(url: str, path: str, params: dict[str, str | None]) -> Any:
    """GET from the Appyard API with the bearer token in APPYARD_TOKEN (if set); clear errors otherwise."""
    query = urllib.parse.urlencode({key: value for key, value in params.items() if value is not None})
    request = urllib.request.Request(f"{url.rstrip('/')}{path}?{query}", headers={"Accept": "application/json"})
    if token := os.environ.get("APPYARD_TOKEN"):
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        try:
            message = str(json.load(error).get("message", ""))
        except (ValueError, AttributeError):
            message = ""
        hints = {
            401: "the API wants to know who you are: set APPYARD_TOKEN to an API token (or sign in on the web)",
            403: "only the app's owners and workspace admins may read its audit log; ask an owner",
        }
        _fail(
            f"{error.code} from {url}: {message or error.reason}"
            + (f"; {hints[error.code]}" if error.code in hints else "")
        )
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        _fail(
            f"cannot reach the Appyard API at {url} ({reason}); start it with `appyard dev`, "
            "or point --url at a running one"
        )


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command()
def audit(
    app_name: Annotated[str | None, typer.Option("--app", help="Only this app's entries.")] = None,
    user: Annotated[str | None, typer.Option(help="Only what this person did.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From: 30m, 1h, 2d, 1w ago, or an ISO 8601 time (default 1d).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to: a duration ago or an ISO 8601 time (default now).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many entries (the latest).")] = 100,
    url: Annotated[str, typer.Option(envvar="APPYARD_URL", help="The Appyard API.")] = "http://127.0.0.1:8000",
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")] = False,
) -> None:
    """Print the audit log: who ran which function and who changed what (owners and admins only).

    Sends the token in APPYARD_TOKEN, if set, as a bearer token. Times are UTC.
    """
    params = {
        "app": app_name,
        "user": user,
        "since": _moment(since, "--since"),
        "until": _moment(until, "--until"),
        "limit": str(limit),
    }
    body = _get_json(url, "/api/audit", params)
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    entries: list[dict[str, Any]] = body.get("entries", [])
    if not entries:
        err.print("no entries match; widen the window (e.g. --since 1w) or drop --app/--user", markup=False)
        return
    table = RichTable(box=None, header_style="bold", pad_edge=False)
    for column in ("time (UTC)", "actor", "action", "where", "what", "outcome", "ms", "run"):
        table.add_column(column, no_wrap=column in ("time (UTC)", "run"), justify="right" if column == "ms" else "left")
    for entry in entries:
        where = "/".join(part for part in (entry.get("app"), entry.get("page")) if part) or "workspace"
        outcome = entry.get("outcome", "")
        if entry.get("error_kind"):
            outcome += f" ({entry['error_kind']})"
        duration = entry.get("duration_ms")
        table.add_row(
            _when(float(entry.get("at", 0))),
            entry.get("actor") or "-",
            entry.get("action", ""),
            where,
            entry.get("function") or entry.get("script") or "",
            outcome,
            f"{duration:.0f}" if isinstance(duration, (int, float)) else "",
            entry.get("run_id") or "",
        )
    Console(highlight=False).print(table)
    more = " (more match: narrow --since/--until or raise --limit)" if body.get("more") else ""
    err.print(f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}{more}", markup=False)


@app.command("broker-keys")
def broker_keys(
    folder: Annotated[Path, typer.Argument(help="Where to write the files (created; existing files are replaced).")],
    namespace: Annotated[
        list[str], typer.Option(help="A namespace whose API needs credentials (repeat for several).")
    ] = ["default"],  # noqa: B006 — typer reads the default, never mutates it
    days: Annotated[float, typer.Option(help="Lifetime of the API's and the operator's credentials.")] = 365,
) -> None:
    """Make a cluster's NATS keys: nats-server's auth config, the operator's account seed and creds, API creds."""
    from .tooling import brokerkeys

    try:
        written = brokerkeys.write(folder, namespace, days)
    except ValueError as error:
        _fail(str(error))
    for path in written:
        err.print(f"wrote {path}", markup=False)


def main() -> None:
    """Entry point of the ``appyard`` command."""
    app()
