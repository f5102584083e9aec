"""The three properties.json files: workspace (its apps), app (its pages, access, runner settings) and page (its UI)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

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


DataSourceName = Annotated[Identifier, AfterValidator(_check_page_name), Field(max_length=40)]
"""The name apps, `.sql` files (``-- source: name``) and ``appyard.db("name")`` use for a data source."""

EnvName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Z_][A-Z0-9_]*$")]
"""The name of an environment variable."""


class DataSourceOptions(CatalogModel):
    """How a data source's connections are pooled and bounded."""

    pool_size: int = prop(5, group="general", description="Connections kept open per runner process.", ge=1, le=64)
    statement_timeout_ms: int = prop(
        10_000,
        group="general",
        description="A statement running longer is cancelled by the database and the run fails with a clear error.",
        ge=10,
        le=3_600_000,
    )
    max_rows: int = prop(
        10_000,
        group="general",
        description="Rows one query of a `.sql` function may return; more fails the run (page a table instead).",
        ge=1,
        le=1_000_000,
    )
    connect_timeout_seconds: float = prop(
        5.0, group="general", description="Waiting for a new connection longer is an unreachable source.", gt=0, le=60
    )


class DataSource(CatalogModel):
    """A database apps read and write. Its URL never lives in git: it comes from an environment variable (a
    git-ignored ``.env`` in `appyard dev`) or, in a cluster, from the Secret the Workspace references."""

    kind: Literal["postgres", "sqlite", "mysql"] = prop(group="general", description="The database's kind.")
    url_env: EnvName | None = prop(
        None,
        group="general",
        description="Environment variable holding the SQLAlchemy URL; defaults to APPYARD_DB_<NAME> (upper case).",
    )
    secret: str | None = prop(
        None,
        group="general",
        description="In a cluster: the key of the Workspace's data-source Secret holding the URL; defaults to the "
        "environment variable's name.",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
    )
    default_url: str | None = prop(
        None,
        group="general",
        description="SQLite only: used when the environment variable is unset, e.g. 'sqlite:///orders.sqlite3' (a "
        "relative file is in the app's data folder). Never a URL with credentials.",
        max_length=512,
        pattern=r"^sqlite:///[^?#]+$",
    )
    seed: str | None = prop(
        None,
        group="general",
        description="SQLite with a default_url only: a .sql file (relative to the workspace) run once when the "
        "database file is created.",
        max_length=256,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]*\.sql$",
    )
    options: DataSourceOptions = prop(DataSourceOptions(), group="general", description="Pooling, timeouts and limits.")

    def env_name(self, name: str) -> str:
        """The environment variable that holds this source's URL."""
        return self.url_env or f"APPYARD_DB_{name.upper()}"

    def secret_key(self, name: str) -> str:
        """The key of the Workspace's data-source Secret that holds this source's URL in a cluster."""
        return self.secret or self.env_name(name)


class WorkspaceProperties(CatalogModel):
    """workspace/properties.json: the apps of this workspace, in the order users see them."""

    label: str | None = prop(None, group="general", description="Name of the workspace shown in the app list.")
    apps: list[AppEntry] = prop([], group="general", description="The apps, in display order.")
    data_sources: dict[DataSourceName, DataSource] = prop(
        {}, group="general", description="Databases the apps use, by name (URLs come from the environment)."
    )


class PageEntry(CatalogModel):
    """A page of the app: a folder of the same name inside the app folder."""

    name: PageName = prop(group="general", description="Folder name; also the page's URL path.")
    label: str | None = prop(None, group="general", description="Title shown in navigation; defaults to the name.")


Role = Literal["use", "edit", "own"]
"""What a person may do with an app; each role includes the ones before it (own ⊇ edit ⊇ use)."""

ROLES: tuple[Role, ...] = ("use", "edit", "own")

Principal = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        pattern=r"^(\*|user:[^\s,]{1,250}|group:[^\s,]{1,249})$",
        examples=["user:alice@example.com", "group:support", "*"],
    ),
]
"""Who a role is granted to: ``user:<name or email>``, ``group:<group>``, or ``*`` (every signed-in person)."""


class Access(CatalogModel):
    """Who may do what with the app. Roles are cumulative: owners may edit, editors may use.

    Workspace admins (the API's ``APPYARD_API_ADMIN_GROUPS``) own every app. An app that grants nothing is
    open to admins only: nothing is open by default.
    """

    use: list[Principal] = prop(
        [], group="general", description="May open the pages, run functions and read their own runs."
    )
    edit: list[Principal] = prop(
        [], group="general", description="May also change pages and scripts, use the editor, and read every run."
    )
    own: list[Principal] = prop([], group="general", description="May also change who has access to the app.")

    def granted(self, role: Role) -> list[str]:
        """Principals that hold ``role`` directly or through a higher role."""
        higher = ROLES[ROLES.index(role) :]
        return [principal for name in higher for principal in getattr(self, name)]


SecretName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Z_][A-Z0-9_]*$")]
"""The name of an environment variable holding a secret."""


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
    ack_wait_seconds: float = prop(
        5.0,
        group="general",
        description="A run whose runner stops heartbeating (it died) is given to a runner again after this long.",
        ge=1,
        le=600,
    )
    max_deliver: int = prop(
        3,
        group="general",
        description="Deliveries of one run before it ends as failed (kind gave_up), so a run that keeps killing its "
        "runner is not retried forever.",
        ge=1,
        le=100,
    )
    secrets: list[SecretName] = prop(
        [],
        group="general",
        description="Environment variables (from the runner's environment: the shell of `appyard dev`, a Secret "
        "in a cluster) that the app's functions may read. Nothing else of the runner's environment reaches "
        "them, and these values are redacted from output, results, events and tracebacks.",
        max_length=64,
    )
    isolation: Literal["fresh", "warm"] = prop(
        "fresh",
        group="general",
        description="fresh: every run gets a new process forked from the app's imported code, so nothing a run "
        "changes reaches another run. warm: a long-lived process per concurrent run executes many runs of this "
        "app in turn (faster: no fork and no fresh page faults per run), so module-level state, globals, caches, "
        "os.environ changes and files outside the run's temporary folder persist between the runs it serves "
        "(never between apps); it is replaced after warm_max_runs runs, any failed run, a timeout or cancel, "
        "memory growth past warm_max_growth_mb, a thread or process left running, and a code change. Limits, "
        "cancel, output and tracebacks are the same.",
    )
    warm_max_runs: int = prop(
        1000,
        group="general",
        description="With isolation warm: a process is replaced after serving this many runs.",
        ge=1,
        le=1_000_000,
    )
    warm_max_growth_mb: int | None = prop(
        None,
        group="general",
        description="With isolation warm: a process is replaced once its memory grew by more than this many MiB "
        "since it started serving; must be below memory_mb. Default: a quarter of memory_mb, at most 64.",
        ge=1,
        le=65536,
    )

    @property
    def warm_growth_limit_mb(self) -> int:
        """``warm_max_growth_mb``, or its default for ``memory_mb``."""
        if self.warm_max_growth_mb is not None:
            return self.warm_max_growth_mb
        return max(1, min(64, self.memory_mb // 4))

    @model_validator(mode="after")
    def _growth_below_memory(self) -> RunnerSettings:
        growth = self.warm_max_growth_mb
        if self.isolation == "warm" and growth is not None and growth >= self.memory_mb:
            raise ValueError(
                f"warm_max_growth_mb ({growth}) must be below memory_mb ({self.memory_mb}): a warm "
                "process's next run may use memory_mb on top of what it kept; lower warm_max_growth_mb"
            )
        return self


class AppProperties(CatalogModel):
    """<app>/properties.json: the app's label, pages, access and runner settings."""

    label: str | None = prop(None, group="general", description="Name shown to users; defaults to the app name.")
    description: str | None = prop(None, group="general", description="One line shown in the app list.")
    pages: list[PageEntry] = prop([], group="general", description="The pages, in navigation order.")
    access: Access = prop(Access(), group="general", description="Who may use, edit and own the app.")
    runner: RunnerSettings = prop(RunnerSettings(), group="general", description="Limits for running functions.")
    data_sources: list[DataSourceName] = prop(
        [],
        group="general",
        description="The workspace's data sources this app uses (only these reach its runners); the first is the "
        "default of its .sql functions.",
        max_length=32,
    )


class PageProperties(CatalogModel):
    """<app>/<page>/properties.json: the blocks of the page and their components."""

    label: str | None = prop(None, group="general", description="Title of the page; defaults to its name.")
    description: str | None = prop(None, group="general", description="Text shown under the page title.")
    blocks: list[Block] = prop([], group="general", description="Widgets and tables, in page order.")


def dumps(properties: BaseModel) -> str:
    """A properties model as properties.json text: two-space indent, defaults left out, newline at the end."""
    return json.dumps(properties.model_dump(mode="json", exclude_defaults=True), indent=2, ensure_ascii=False) + "\n"
