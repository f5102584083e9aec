"""An App's data sources in the cluster: their URLs reach its runners from the Workspace's Secret, and its
runners may connect to their hosts and to nothing else.

The workspace's ``properties.json`` declares the sources (kind, options — never a URL); an App's spec carries
the ones the app uses (``spec.dataSources``). The Workspace's ``spec.dataSources.secretName`` names a Secret
holding each URL under the source's key (``DataSource.secret_key``). For each App the operator gives its runner
Deployment:

- ``APPYARD_RUNNER_DATA_SOURCES``: the app's declarations as JSON (what the runner's parent opens pools for);
- per declared source, its variable (``DataSource.env_name``) from a ``secretKeyRef`` to that key — nothing
  for a source the app does not declare, so another app's database URL never reaches these runners;
- a pod annotation with a hash of those URLs (keyed by the Secret's uid): a changed URL rolls the runners onto
  it (found by the App's periodic check, since Secrets are read by name and never watched);
- egress rules for the NetworkPolicy: each source's host and port from its URL (a host name resolved to its
  addresses now, one ``/32`` or ``/128`` per address), or the Workspace's ``spec.dataSources.egress`` entry for
  the source when it has one. SQLite needs no network.

The URLs are read only to find hosts and ports and to hash; no message, log or status ever holds one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from lightkube.models.core_v1 import EnvVar, EnvVarSource, SecretKeySelector
from lightkube.models.meta_v1 import LabelSelector
from lightkube.models.networking_v1 import IPBlock, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort
from lightkube.resources.core_v1 import Secret

from appyard.properties import DataSource
from appyard.resources import AppResource, EgressRule, WorkspaceResource

from .kube import Kube

DECLARATIONS_ENV = "APPYARD_RUNNER_DATA_SOURCES"
URLS_HASH = "appyard.dev/data-sources-hash"  # pod template annotation: a new URL rolls the runners
EGRESS_HASH = "appyard.dev/egress-hash"  # Deployment annotation: a new address updates only the NetworkPolicy
REASON = "DataSource"  # the Stalled reason of a data-source problem
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
# Variables the runner itself reads: a data source's variable must not replace them.
_RESERVED_PREFIXES = ("APPYARD_RUNNER_", "APPYARD_DATA_", "PYTHON", "LD_")
_RESERVED = {"PATH", "HOME", "TMPDIR"}
RESOLVE_TIMEOUT_SECONDS = 5.0
MAX_URL_LENGTH = 4096
MAX_HOSTS = 16  # per URL (libpq's host lists): each is resolved and becomes an egress rule

Resolver = Callable[[str, int], Awaitable[list[str]]]


class DataSourceProblem(Exception):
    """Why the App's runners cannot get a data source (the App is Stalled with it; the message holds no URL)."""


@dataclass(frozen=True)
class Endpoint:
    """A host and port a source's URL names."""

    source: str
    host: str
    port: int


@dataclass(frozen=True)
class RunnerAccess:
    """What an App's runners get for its data sources."""

    env: list[EnvVar] = field(default_factory=list)
    egress: list[NetworkPolicyEgressRule] = field(default_factory=list)
    urls_hash: str | None = None  # None: no URL from the Secret
    egress_hash: str | None = None
    problem: str | None = None


def needs_secret(source: DataSource) -> bool:
    """Whether the source's URL must come from the Workspace's Secret (a SQLite source with a ``default_url``
    works without one: its file is in the runner's data folder)."""
    return not (source.kind == "sqlite" and source.default_url)


def declarations(app: AppResource) -> str:
    """``APPYARD_RUNNER_DATA_SOURCES``: the app's declared sources as JSON (no URLs, deterministic)."""
    sources = app.spec.data_sources
    return json.dumps(
        {name: sources[name].model_dump(mode="json", exclude_none=True) for name in sorted(sources)},
        sort_keys=True,
        separators=(",", ":"),
    )


def environment(app: AppResource, workspace: WorkspaceResource) -> list[EnvVar]:
    """The runner's variables for the app's data sources (none when it declares none)."""
    sources = app.spec.data_sources
    if not sources:
        return []
    secret_name = workspace.spec.data_sources.secret_name
    env = [EnvVar(name=DECLARATIONS_ENV, value=declarations(app))]
    for name in sorted(sources):
        source = sources[name]
        if secret_name is None:
            continue  # only a SQLite source with a default_url gets here (else the App is Stalled)
        selector = SecretKeySelector(name=secret_name, key=source.secret_key(name), optional=not needs_secret(source))
        env.append(EnvVar(name=source.env_name(name), valueFrom=EnvVarSource(secretKeyRef=selector)))
    return env


def endpoints(name: str, source: DataSource, url: str) -> list[Endpoint]:
    """The hosts and ports ``url`` names (libpq's ``host1:port1,host2:port2`` included); SQLite: none.

    Raises ValueError with a message that holds no part of the URL."""
    if source.kind == "sqlite":
        return []
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"is longer than {MAX_URL_LENGTH} characters")
    scheme, separator, rest = url.strip().partition("://")
    if not separator or not scheme:
        raise ValueError("is not a URL (expected e.g. postgresql://user:password@host:5432/database)")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    hosts = authority.rsplit("@", 1)[-1]
    found: list[Endpoint] = []
    if hosts.count(",") >= MAX_HOSTS:
        raise ValueError(f"names more than {MAX_HOSTS} hosts")
    for item in hosts.split(","):
        if item.startswith("["):  # [IPv6]:port
            host, bracket, after = item[1:].partition("]")
            if not bracket or (after and not after.startswith(":")):
                raise ValueError("has a malformed IPv6 host")
            port_text = after[1:]
        else:
            host, _, port_text = item.partition(":")
        host = unquote(host)
        if not host:
            raise ValueError("names no host (a Unix socket cannot be reached from a runner pod)")
        if port_text and not (port_text.isdigit() and 1 <= int(port_text) <= 65535):
            raise ValueError("has a port that is not a number from 1 to 65535")
        found.append(Endpoint(name, host, int(port_text) if port_text else DEFAULT_PORTS[source.kind]))
    return found


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` now (an address is itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    found = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), RESOLVE_TIMEOUT_SECONDS
    )
    return sorted({str(info[4][0]) for info in found})


def _block(address: str) -> str:
    parsed = ipaddress.ip_address(address)
    return f"{parsed}/{32 if parsed.version == 4 else 128}"


def _rule(blocks: list[str], port: int) -> NetworkPolicyEgressRule:
    return NetworkPolicyEgressRule(
        to=[NetworkPolicyPeer(ipBlock=IPBlock(cidr=block)) for block in sorted(set(blocks))],
        ports=[NetworkPolicyPort(protocol="TCP", port=port)],
    )


def declared_rules(name: str, rules: list[EgressRule]) -> list[NetworkPolicyEgressRule]:
    """The Workspace's ``spec.dataSources.egress`` entry of one source as NetworkPolicy egress rules."""
    result = []
    for index, rule in enumerate(rules):
        where = f"spec.dataSources.egress.{name}[{index}]"
        if (rule.cidr is None) == (rule.pod_labels is None):
            raise DataSourceProblem(f"{where}: give either cidr or podLabels")
        if rule.cidr is not None:
            try:
                cidr = str(ipaddress.ip_network(rule.cidr, strict=False))
            except ValueError:
                raise DataSourceProblem(f"{where}.cidr is not an address block (e.g. 10.0.0.0/16)") from None
            peer = NetworkPolicyPeer(ipBlock=IPBlock(cidr=cidr))
        else:
            namespaces = LabelSelector(matchLabels=rule.namespace_labels) if rule.namespace_labels else None
            peer = NetworkPolicyPeer(
                podSelector=LabelSelector(matchLabels=rule.pod_labels), namespaceSelector=namespaces
            )
        ports = [NetworkPolicyPort(protocol="TCP", port=port) for port in sorted(set(rule.ports))]
        result.append(NetworkPolicyEgressRule(to=[peer], ports=ports))
    return result


def _decoded(data: dict[str, str], key: str) -> str | None:
    encoded = data.get(key)
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _check_names(app: AppResource) -> None:
    seen: dict[str, str] = {}
    for name in sorted(app.spec.data_sources):
        variable = app.spec.data_sources[name].env_name(name)
        if variable in _RESERVED or variable.startswith(_RESERVED_PREFIXES):
            raise DataSourceProblem(
                f"data source {name!r}: its variable {variable} is one the runner uses: set another url_env in the "
                "workspace's properties.json"
            )
        if variable in seen:
            raise DataSourceProblem(
                f"data sources {seen[variable]!r} and {name!r} both use the variable {variable}: give one another "
                "url_env in the workspace's properties.json"
            )
        seen[variable] = name


async def plan(
    kube: Kube, app: AppResource, workspace: WorkspaceResource, resolver: Resolver = resolve
) -> RunnerAccess:
    """What the App's runners get for its data sources, or the problem that keeps them from it."""
    if not app.spec.data_sources:
        return RunnerAccess()
    secret_name = workspace.spec.data_sources.secret_name
    secret = await kube.get(Secret, secret_name, workspace.metadata.namespace or "") if secret_name else None
    data = None if secret is None else secret.data or {}
    key = (secret.metadata.uid if secret is not None and secret.metadata else None) or ""
    return await evaluate(app, workspace, data, resolver, key=key)


async def evaluate(
    app: AppResource,
    workspace: WorkspaceResource,
    data: dict[str, str] | None,
    resolver: Resolver = resolve,
    *,
    key: str = "",
) -> RunnerAccess:
    """:func:`plan` given the data of the Workspace's data-source Secret (base64 values; None: no such Secret).

    ``key`` keys the hash of the URLs (the Secret's uid): whoever may read Deployments but not Secrets cannot
    test guesses of a password against the pod annotation."""
    try:
        return await _evaluate(app, workspace, data, resolver, key)
    except DataSourceProblem as problem:
        return RunnerAccess(problem=str(problem))


async def _evaluate(
    app: AppResource, workspace: WorkspaceResource, data: dict[str, str] | None, resolver: Resolver, hash_key: str
) -> RunnerAccess:
    _check_names(app)
    settings = workspace.spec.data_sources
    sources = app.spec.data_sources
    secret_name = settings.secret_name
    wanted = {name: source for name, source in sources.items() if needs_secret(source)}
    if secret_name is None and wanted:
        keys = ", ".join(sorted(source.secret_key(name) for name, source in wanted.items()))
        raise DataSourceProblem(
            f"the app uses data source(s) {', '.join(sorted(wanted))}, whose URLs come from a Secret: set "
            f"spec.dataSources.secretName on Workspace {workspace.metadata.name!r} to a Secret with the key(s) {keys}"
        )
    if secret_name is not None and data is None and wanted:
        raise DataSourceProblem(
            f"the data-source Secret {secret_name!r} (spec.dataSources.secretName of Workspace "
            f"{workspace.metadata.name!r}) does not exist: create it in namespace {workspace.metadata.namespace}"
        )
    data = data or {}
    digest = hmac.new(hash_key.encode(), digestmod=hashlib.sha256)
    egress: list[NetworkPolicyEgressRule] = []
    used_secret = False
    for name in sorted(sources):
        source = sources[name]
        key = source.secret_key(name)
        url = _decoded(data, key)
        if url is None and needs_secret(source):
            raise DataSourceProblem(
                f"data source {name!r}: the Secret {secret_name!r} has no key {key!r}: add the source's URL under it"
            )
        if url is not None:
            used_secret = True
            digest.update(f"{name}\0{key}\0{url}\0".encode())
        declared = settings.egress.get(name)
        if declared is not None:
            egress += declared_rules(name, declared)
            continue
        if url is None:
            continue  # SQLite on its default file
        try:
            found = endpoints(name, source, url)
        except ValueError as error:
            raise DataSourceProblem(
                f"data source {name!r}: the URL in Secret {secret_name!r}, key {key!r}, {error}; or give "
                f"spec.dataSources.egress.{name} on the Workspace"
            ) from None
        for endpoint in found:
            try:
                addresses = await resolver(endpoint.host, endpoint.port)
            except (OSError, TimeoutError):
                addresses = []
            if not addresses:
                raise DataSourceProblem(
                    f"data source {name!r}: the host in Secret {secret_name!r}, key {key!r}, does not resolve: "
                    f"check the URL, or give spec.dataSources.egress.{name} on the Workspace"
                )
            egress.append(_rule([_block(address) for address in addresses], endpoint.port))
    egress_text = json.dumps([rule.to_dict() for rule in egress], sort_keys=True)
    return RunnerAccess(
        env=environment(app, workspace),
        egress=egress,
        urls_hash=digest.hexdigest()[:16] if used_secret else None,
        egress_hash=hashlib.sha256(egress_text.encode()).hexdigest()[:16] if egress else None,
    )


def due(
    app: AppResource, access: RunnerAccess, deployment_annotations: dict[str, str], pod_annotations: dict[str, str]
) -> bool:
    """Whether the App must be reconciled for its data sources: a URL or an address changed, or a problem
    appeared or went away (its periodic check calls this; Secrets are never watched)."""
    stalled = next((item for item in app.status.conditions if item.type == "Stalled" and item.status == "True"), None)
    reported = stalled.message if stalled is not None and stalled.reason == REASON else None
    if access.problem is not None or reported is not None:
        return access.problem != reported
    return (
        pod_annotations.get(URLS_HASH) != access.urls_hash
        or deployment_annotations.get(EGRESS_HASH) != access.egress_hash
    )
