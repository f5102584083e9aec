"""The Kubernetes resources of Appyard: ``Workspace`` and ``App`` (group ``appyard.dev``), as pydantic models.

The CRDs in ``crds/`` are generated from these models (``python -m appyard.crds``), and the operator and the
API (in cluster mode) read and write objects through them, so the schema the API server enforces and the
code that uses it cannot drift. Fields are camelCase on the wire (Kubernetes style), snake_case in Python.

- A ``Workspace`` points at a git repository holding an Appyard workspace; the operator syncs it.
- An ``App`` is created by the operator for every valid app of the workspace, owned by the Workspace; it
  carries the app's revision, pages and runner settings, and its status says whether the app is serving.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .properties import Access, DataSource, RunnerSettings

GROUP = "appyard.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DURATION = r"^([0-9]+(ms|s|m|h))+$"
GIT_URL = r"^(https?://|ssh://|git@)[^\s]+$"
DNS_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A folder inside the checkout: relative, segments of anything but "/" and never "..", e.g. "." or "apps/tools".
# (No lookahead: the API server checks patterns with Go's RE2.) The operator also checks that the folder,
# symlinks resolved, stays inside the checkout.
_SEGMENT = r"(\.|\.?[^/.\x00-\x1f][^/\x00-\x1f]*|\.\.[^/\x00-\x1f]+)"
REPO_PATH = rf"^{_SEGMENT}(/{_SEGMENT})*/?$"
# A branch, tag or commit (git check-ref-format, narrowed): never starting with "-" (git would read an option),
# no "..", no leading or trailing "." in a component, none of ~^:?*[\ space or "@{".
_REF_PART = r"[A-Za-z0-9_+,=@-]+(\.[A-Za-z0-9_+,=@-]+)*"
GIT_REF = rf"^[A-Za-z0-9_+,=@][A-Za-z0-9_+,=@-]*(\.[A-Za-z0-9_+,=@-]+)*(/{_REF_PART})*$"
Port = Annotated[int, Field(ge=1, le=65535)]


class Resource(BaseModel):
    """camelCase on the wire, unknown fields kept out, fields settable by their Python names too."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SecretRef(Resource):
    """A Secret in the same namespace."""

    name: str = Field(description="Name of the Secret.", min_length=1, max_length=253)


class GitSource(Resource):
    """Where the workspace's files come from."""

    url: str = Field(
        description="Repository URL: https://…, ssh://… or git@host:path.", pattern=GIT_URL, max_length=2048
    )
    ref: str = Field(
        "main",
        description="Branch, tag or full commit SHA to follow (git ref rules; never starting with `-`).",
        min_length=1,
        max_length=255,
        pattern=GIT_REF,
    )
    path: str = Field(
        ".",
        description="Folder of the workspace inside the repository: relative, without `..` (symlinks must not lead "
        "out of the repository either).",
        min_length=1,
        max_length=1024,
        pattern=REPO_PATH,
    )
    interval: str = Field(
        "1m", description="How often to check the ref for new commits (e.g. 30s, 5m, 1h).", pattern=DURATION
    )
    secret_ref: SecretRef | None = Field(
        None,
        description="Credentials: keys `username` and `password` (a token) for HTTPS, or `identity` (a private "
        "key) and optionally `known_hosts` for SSH.",
    )


class BuildSettings(Resource):
    """How per-app runner images are built (only for apps with a requirements.txt)."""

    registry: str = Field(
        "registry.local/appyard", description="Image repository prefix the built runner images are pushed to."
    )
    push_secret_ref: SecretRef | None = Field(
        None, description="A docker-registry Secret (`.dockerconfigjson`) used to push and pull the images."
    )
    base_image: str = Field(
        "ghcr.io/appyard/runner:0.1.0", description="The runner image apps' images are built on (and run as is)."
    )
    builder_image: str = Field(
        "gcr.io/kaniko-project/executor:v1.23.2", description="A daemonless image builder (kaniko by default)."
    )
    insecure_registry: bool = Field(
        False,
        description="The registry speaks plain HTTP (one on a node or inside the cluster): the builder pushes to it "
        "and pulls the base image from it without TLS. The nodes' container runtime must be told the same.",
    )
    namespace: str | None = Field(
        None,
        description="Namespace the build Jobs run in; default: the Workspace's. Image builders run as root, so "
        "keep app namespaces at Pod Security *restricted* and give builds a namespace of their own (baseline). "
        "Built images are recorded there, so workspaces that share a build namespace share images.",
        pattern=DNS_NAME,
        max_length=63,
    )


class IngressSettings(Resource):
    """How apps are reached from outside the cluster."""

    host: str | None = Field(None, description="Host name of the Appyard API's ingress.", pattern=DNS_NAME)
    class_name: str | None = Field(None, description="IngressClass to use.")
    tls_secret_name: str | None = Field(None, description="Secret holding the TLS certificate for the host.")
    service_name: str = Field("appyard-api", description="The Appyard API Service that serves apps.")
    service_port: int = Field(80, description="Port of that Service.", ge=1, le=65535)


class RunnerDefaults(Resource):
    """Runner settings for every app of the workspace (an app's own runner properties win)."""

    cpu: str = Field("1", description="CPU limit of a runner pod.")
    nats_url: str | None = Field(None, description="NATS URL for runners; default: the operator's.")
    nats_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "nats"},
        description="Labels of the NATS pods runners may connect to (their NetworkPolicy allows only these).",
    )


class EgressRule(Resource):
    """Where the runners of apps using a data source may connect: an address block or in-cluster pods, on
    these ports. Given, it replaces what the operator would derive from the source's URL."""

    cidr: str | None = Field(
        None,
        description="An IPv4 or IPv6 address block, e.g. 10.20.0.0/16 or 2001:db8::/64.",
        pattern=r"^[0-9a-fA-F.:]+/[0-9]{1,3}$",
        max_length=64,
    )
    pod_labels: dict[str, str] | None = Field(
        None, description="Labels of the database's pods (for a database inside the cluster); instead of `cidr`."
    )
    namespace_labels: dict[str, str] | None = Field(
        None,
        description="With `podLabels`: labels of the namespaces those pods are in (default: the Workspace's).",
    )
    ports: list[Port] = Field(description="TCP ports the database listens on.", min_length=1, max_length=16)


class DataSourceSettings(Resource):
    """Where the apps' data sources (declared in the workspace's properties.json) come from in the cluster."""

    secret_name: str | None = Field(
        None,
        description="A Secret in the Workspace's namespace holding each data source's URL under the source's key "
        "(`secret` in properties.json, default its environment variable, e.g. `APPYARD_DB_SHOP`). Only the runners "
        "of apps that declare a source get its URL.",
        pattern=DNS_NAME,
        max_length=253,
    )
    egress: dict[str, Annotated[list[EgressRule], Field(max_length=16)]] = Field(
        default_factory=dict,
        description="Per data source name: where its apps' runners may connect. Without an entry the operator "
        "allows the host and port of the source's URL, resolving a host name to its addresses when it reconciles "
        "(give an entry when the addresses change, or the database runs in the cluster).",
    )


class WorkspaceSpec(Resource):
    """A git repository holding an Appyard workspace, and how to run its apps."""

    git: GitSource = Field(description="Where the workspace comes from.")
    build: BuildSettings = Field(default_factory=BuildSettings, description="How runner images are built.")
    ingress: IngressSettings = Field(default_factory=IngressSettings, description="How apps are reached.")
    runners: RunnerDefaults = Field(default_factory=RunnerDefaults, description="Defaults for app runners.")
    data_sources: DataSourceSettings = Field(
        default_factory=DataSourceSettings, description="The data sources' URLs and network access."
    )
    webhook_secret_ref: SecretRef | None = Field(
        None, description="Secret with key `secret`: the HMAC key push webhooks are signed with."
    )
    suspend: bool = Field(False, description="Stop syncing (apps keep serving their current revision).")


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(Resource):
    """A kstatus condition: Ready, Reconciling or Stalled."""

    type: str = Field(description="Ready, Reconciling or Stalled.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word for machines.")
    message: str = Field("", description="What people should know.")
    last_transition_time: str = Field(description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(None, description="The generation the condition was computed for.")


class AppSummary(Resource):
    """An app the workspace has, as the last sync saw it."""

    name: str = Field(description="App name.")
    valid: bool = Field(description="Whether the app validated at the workspace's revision.")
    message: str = Field("", description="The validation problems when it did not.")


class WorkspaceStatus(Resource):
    """What the operator saw at the last sync."""

    observed_generation: int | None = Field(None, description="The spec generation last synced.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Reconciling, Stalled.")
    revision: str | None = Field(None, description="The commit SHA the apps come from.")
    last_sync_time: str | None = Field(None, description="When the apps were last updated from git.")
    last_check_time: str | None = Field(None, description="When the ref was last checked.")
    apps: list[AppSummary] = Field(default_factory=list, description="The apps at that revision.")


class PageSource(Resource):
    """A page of an app, with its properties.json as it is at the app's revision."""

    name: str = Field(description="Page name.")
    label: str | None = Field(None, description="Title shown in navigation.")
    properties: dict[str, Any] = Field(
        description="The page's properties.json.", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    functions: list[str] = Field(default_factory=list, description="The page's functions (from its scripts).")
    database: dict[str, Any] | None = Field(
        None,
        description="The page's database.json: what its SQL tables learned from the database (generated, committed).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class AppSpec(Resource):
    """One app of a workspace at one revision (written by the operator; do not edit by hand)."""

    workspace: str = Field(description="The Workspace this app comes from.")
    app: str = Field(description="The app's name in the workspace (its folder; may contain underscores).")
    revision: str = Field(description="Commit SHA of the app's files.", min_length=7, max_length=64)
    path: str = Field(description="The app's folder inside the repository.")
    label: str | None = Field(None, description="Name shown to users.")
    description: str | None = Field(None, description="One line shown in the app list.")
    pages: list[PageSource] = Field(default_factory=list, description="The pages, in navigation order.")
    code: str = Field(description="ConfigMap holding the app's files (a tar.gz) at this revision.")
    code_hash: str = Field(description="sha256 of the app's files, to notice code-only changes.")
    requirements_hash: str | None = Field(
        None, description="sha256 of requirements.txt, or none: the runner image is keyed by it."
    )
    runner: RunnerSettings = Field(default_factory=RunnerSettings, description="Limits and capacity of runs.")
    data_sources: dict[str, DataSource] = Field(
        default_factory=dict,
        description="The data sources the app uses, as the workspace's properties.json declares them (never URLs).",
    )
    access: Access = Field(default_factory=Access, description="Who may use, edit and own the app.")


class AppStatus(Resource):
    """Whether the app is serving, with what."""

    observed_generation: int | None = Field(None, description="The spec generation last reconciled.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Reconciling, Stalled.")
    image: str | None = Field(None, description="The runner image in use (repository@digest).")
    serving_revision: str | None = Field(None, description="The revision the runners run.")
    serving_code: str | None = Field(None, description="The code ConfigMap the runners run (the API serves it too).")
    url: str | None = Field(None, description="Where users open the app.")
    build_job: str | None = Field(None, description="The Job building the app's image, while it runs.")


class Metadata(BaseModel):
    """The part of object metadata Appyard reads."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = Field(None, alias="resourceVersion")
    deletion_timestamp: str | None = Field(None, alias="deletionTimestamp")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class WorkspaceResource(BaseModel):
    """A whole Workspace object."""

    model_config = ConfigDict(extra="ignore")

    metadata: Metadata
    spec: WorkspaceSpec
    status: WorkspaceStatus = Field(default_factory=WorkspaceStatus)


class AppResource(BaseModel):
    """A whole App object."""

    model_config = ConfigDict(extra="ignore")

    metadata: Metadata
    spec: AppSpec
    status: AppStatus = Field(default_factory=AppStatus)


def kubernetes_name(name: str) -> str:
    """An app or page name as a Kubernetes object name (underscores are not allowed there)."""
    return name.replace("_", "-")
