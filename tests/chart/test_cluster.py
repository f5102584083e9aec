"""The chart against the tier's real kube-apiserver (+ kube-controller-manager; no kubelet, so pods stay Pending):
every rendered object accepted by a server-side dry-run, install → upgrade (changed values, a changed CRD) →
uninstall keeping Apps, CRDs and the session key, and Pod Security admission in a *restricted* namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment, ReplicaSet, StatefulSet
from lightkube.resources.core_v1 import Event, Namespace, Pod, Secret

from tests.integration.cluster import App, eventually

from .conftest import NamespaceMaker
from .support import OIDC, VALUE_SETS, HelmError, Obj, Tools, merge, moved, one, stage

pytestmark = pytest.mark.integration
SETS = sorted(VALUE_SETS)


# -- the real API server ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def third_party_crds(tools: Tools, kube: Client) -> None:
    """HTTPRoute and ServiceMonitor, which the control plane lacks (small stand-ins, see the YAML)."""
    tools.kubectl("apply", "--server-side", "-f", str(Path(__file__).parent / "third_party_crds.yaml"))
    for name in ("httproutes.gateway.networking.k8s.io", "servicemonitors.monitoring.coreos.com"):
        eventually(partial(_established, kube, name), 30, f"{name} to be established")


def _established(kube: Client, name: str) -> bool:
    status = kube.get(CustomResourceDefinition, name).status
    return any(c.type == "Established" and c.status == "True" for c in (status.conditions if status else None) or [])


def _dry_run(tools: Tools, objects: list[Obj]) -> str:
    manifest = yaml.safe_dump_all(objects)
    return tools.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict", "--force-conflicts",
        "--field-manager=chart-tests", "-f", "-", stdin=manifest,
    )  # fmt: skip


@pytest.mark.parametrize("name", SETS)
@pytest.mark.usefixtures("third_party_crds")
def test_api_server_accepts_every_object(tools: Tools, kube: Client, namespace: NamespaceMaker, name: str) -> None:
    target = namespace(f"dry-{name}")
    objects = tools.template(moved(VALUE_SETS[name], target), namespace=target)
    # other namespaces the release reaches into (e.g. Roles in operator.watchNamespaces)
    for other in {o["metadata"].get("namespace") for o in objects} - {None, target}:
        kube.apply(Namespace(metadata=ObjectMeta(name=other)), field_manager="chart-tests")
    out = _dry_run(tools, objects)
    applied = [line for line in out.splitlines() if "serverside-applied (server dry run)" in line]
    assert len(applied) == len(objects), out


CORRUPTIONS = [
    (
        "unknown field",
        ("containers", 0, "securityContext"),
        "runAsNonroot",
        True,
        "runAsNonroot: field not declared in schema",
    ),
    ("wrong type", ("containers", 0, "securityContext"), "runAsUser", "ten thousand", "runAsUser"),
    ("bad value", ("containers", 0), "imagePullPolicy", "Sometimes", "imagePullPolicy"),
]


@pytest.mark.parametrize(("case", "where", "field", "value", "says"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_api_server_refuses_a_corrupted_field(
    tools: Tools, namespace: NamespaceMaker, case: str, where: tuple[Any, ...], field: str, value: Any, says: str
) -> None:
    # Proves the dry-run above checks something: one field broken, and the server says which.
    target = namespace(f"corrupt-{case.replace(' ', '-')}")
    objects = tools.template(OIDC, namespace=target)
    operator = one(objects, "Deployment", "appyard-operator")
    node: Any = operator["spec"]["template"]["spec"]
    for step in where:
        node = node[step]
    node[field] = value
    with pytest.raises(HelmError) as refused:
        _dry_run(tools, objects)
    assert says in str(refused.value), str(refused.value)
    assert "appyard-operator" in str(refused.value)


# -- install, upgrade, uninstall ----------------------------------------------------------------------------------


LIFECYCLE = "tools"  # the namespace of the install → upgrade → uninstall release


@dataclass
class Lifecycle:
    """What the cluster held after each step of install → App created → upgrade → uninstall → install again."""

    app_uid: str
    session_installed: str
    session_upgraded: str
    columns_installed: list[str]
    columns_upgraded: list[str]
    app_uid_after_upgrade: str
    api_replicas_upgraded: int | None
    api_annotations_upgraded: dict[str, str]
    left_after_uninstall: dict[str, bool]
    app_uid_after_uninstall: str
    reinstalled: dict[str, bool]


def _columns(kube: Client) -> list[str]:
    crd = kube.get(CustomResourceDefinition, "apps.appyard.dev")
    return [column.name for column in crd.spec.versions[0].additionalPrinterColumns or []]


def _session(kube: Client, ns: str) -> str:
    data = kube.get(Secret, "appyard-session", namespace=ns).data or {}
    return str(data["session-secret"])


def _uid(kube: Client, ns: str) -> str:
    app = kube.get(App, "orders", namespace=ns)
    assert app.metadata and app.metadata.uid
    return app.metadata.uid


def _exists(kube: Client, resource: Any, name: str, ns: str | None = None) -> bool:
    try:
        kube.get(resource, name, namespace=ns) if ns else kube.get(resource, name)
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise
    return True


APP = {
    "workspace": "apps",
    "app": "orders",
    "revision": "0123456789abcdef",
    "path": "orders",
    "code": "orders-code",
    "codeHash": "sha256:" + "0" * 64,
}


@pytest.fixture(scope="module")
def lifecycle(
    tools: Tools, kube: Client, namespace: NamespaceMaker, tmp_path_factory: pytest.TempPathFactory
) -> Lifecycle:
    ns = namespace(LIFECYCLE, restricted=True)
    folder = tmp_path_factory.mktemp("charts")
    first = stage(folder / "v1")
    second = stage(folder / "v2", extra_column=True)
    tools.helm("install", "appyard", str(first), "-n", ns, values=OIDC)
    eventually(lambda: list(kube.list(App, namespace=ns)) == [], 30, "the App CRD to be served")
    kube.create(App(metadata=ObjectMeta(name="orders", namespace=ns), spec=APP))
    app_uid = _uid(kube, ns)
    session_installed = _session(kube, ns)
    columns_installed = _columns(kube)

    changed = merge(OIDC, {"api": {"replicaCount": 3, "podAnnotations": {"example.com/upgraded": "yes"}}})
    tools.helm("upgrade", "appyard", str(second), "-n", ns, values=changed)
    api = kube.get(Deployment, "appyard-api", namespace=ns)
    assert api.spec and api.spec.template.metadata
    session_upgraded = _session(kube, ns)
    columns_upgraded = _columns(kube)
    uid_upgraded = _uid(kube, ns)

    tools.helm("uninstall", "appyard", "-n", ns, "--wait")
    left = {
        "Deployment appyard-api": _exists(kube, Deployment, "appyard-api", ns),
        "StatefulSet appyard-nats": _exists(kube, StatefulSet, "appyard-nats", ns),
        "CRD apps": _exists(kube, CustomResourceDefinition, "apps.appyard.dev"),
        "CRD workspaces": _exists(kube, CustomResourceDefinition, "workspaces.appyard.dev"),
        "Secret appyard-session": _exists(kube, Secret, "appyard-session", ns),
    }
    app_uid_after_uninstall = _uid(kube, ns)

    # installed again: the release takes the kept CRDs and session key back (users stay signed in)
    tools.helm("install", "appyard", str(second), "-n", ns, values=OIDC)
    reinstalled = {
        "session": _session(kube, ns) == session_installed,
        "app": _uid(kube, ns) == app_uid,
        "columns": _columns(kube) == columns_upgraded,
    }
    tools.helm("uninstall", "appyard", "-n", ns, "--wait")
    return Lifecycle(
        app_uid=app_uid,
        session_installed=session_installed,
        session_upgraded=session_upgraded,
        columns_installed=columns_installed,
        columns_upgraded=columns_upgraded,
        app_uid_after_upgrade=uid_upgraded,
        api_replicas_upgraded=api.spec.replicas,
        api_annotations_upgraded=dict(api.spec.template.metadata.annotations or {}),
        left_after_uninstall=left,
        app_uid_after_uninstall=app_uid_after_uninstall,
        reinstalled=reinstalled,
    )


def test_install_after_uninstall_takes_the_kept_objects_back(lifecycle: Lifecycle) -> None:
    assert lifecycle.reinstalled == {"session": True, "app": True, "columns": True}


def test_upgrade_updates_the_crd(lifecycle: Lifecycle) -> None:
    assert "Code" not in lifecycle.columns_installed
    assert lifecycle.columns_upgraded == [*lifecycle.columns_installed, "Code"]


def test_app_survives_upgrade_and_uninstall(lifecycle: Lifecycle) -> None:
    assert lifecycle.app_uid_after_upgrade == lifecycle.app_uid
    assert lifecycle.app_uid_after_uninstall == lifecycle.app_uid


def test_upgrade_applies_changed_values(lifecycle: Lifecycle) -> None:
    assert lifecycle.api_replicas_upgraded == 3
    assert lifecycle.api_annotations_upgraded == {"example.com/upgraded": "yes"}


def test_session_secret_is_kept_across_upgrade(lifecycle: Lifecycle) -> None:
    assert len(lifecycle.session_installed) >= 64
    assert lifecycle.session_upgraded == lifecycle.session_installed


def test_uninstall_keeps_crds_and_session_but_removes_workloads(lifecycle: Lifecycle) -> None:
    assert lifecycle.left_after_uninstall == {
        "Deployment appyard-api": False,
        "StatefulSet appyard-nats": False,
        "CRD apps": True,
        "CRD workspaces": True,
        "Secret appyard-session": True,
    }


# -- Pod Security admission ---------------------------------------------------------------------------------------

# The release as installed: its own ServiceAccounts and RBAC, so the pods are the ones a platform team gets.
PSA_VALUES = merge(OIDC, {"crds": {"install": False}})  # the lifecycle release installed them


@pytest.fixture(scope="module")
def restricted(
    tools: Tools, kube: Client, namespace: NamespaceMaker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    ns = namespace("restricted", restricted=True)
    chart = stage(tmp_path_factory.mktemp("psa") / "appyard")
    tools.helm("install", "appyard", str(chart), "-n", ns, values=PSA_VALUES)
    yield ns
    tools.helm("uninstall", "appyard", "-n", ns)


def test_restricted_namespace_admits_every_pod(kube: Client, restricted: str) -> None:
    def created() -> bool:
        wanted_and_made = [
            (r.spec.replicas if r.spec else None, r.status.replicas if r.status else None)
            for r in kube.list(ReplicaSet, namespace=restricted)
        ] + [
            (s.spec.replicas if s.spec else None, s.status.replicas if s.status else None)
            for s in kube.list(StatefulSet, namespace=restricted)
        ]
        return len(wanted_and_made) == 3 and all(wanted == made for wanted, made in wanted_and_made)

    eventually(created, 60, "every ReplicaSet and the StatefulSet to create their pods")
    components = sorted(
        (pod.metadata.labels or {}).get("app.kubernetes.io/component", "")
        for pod in kube.list(Pod, namespace=restricted)
        if pod.metadata
    )
    assert components == ["api", "api", "nats", "operator"]
    refused = [event.message for event in kube.list(Event, namespace=restricted) if event.reason == "FailedCreate"]
    assert refused == []


def _pod(name: str, spec: Obj) -> Pod:
    return cast(Pod, Pod.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}))


def test_restricted_namespace_refuses_a_weakened_pod(kube: Client, restricted: str) -> None:
    # The label is enforced: a copy of a chart pod is admitted, the same pod with one field removed is not.
    eventually(lambda: list(kube.list(Pod, namespace=restricted, labels={"app.kubernetes.io/component": "api"})))
    source = next(iter(kube.list(Pod, namespace=restricted, labels={"app.kubernetes.io/component": "api"})))
    spec = source.to_dict()["spec"]
    spec.pop("nodeName", None)
    kube.create(_pod("copy", spec), namespace=restricted, dry_run=True)
    del spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    weakened = _pod("weakened", spec)
    with pytest.raises(ApiError) as refused:
        kube.create(weakened, namespace=restricted, dry_run=True)
    assert refused.value.status.code == 403
    assert 'violates PodSecurity "restricted' in str(refused.value.status.message)
    assert "allowPrivilegeEscalation" in str(refused.value.status.message)


# -- NOTES.txt ------------------------------------------------------------------------------------------------------


def _notes(tools: Tools, chart: Path, ns: str, values: Obj) -> tuple[str, Obj]:
    """The NOTES of an install (--dry-run=server renders them with the server's answers) and the Workspace in them."""
    out = tools.helm("install", "notes", str(chart), "-n", ns, "--dry-run=server", values=values)
    notes = out.split("\nNOTES:\n", 1)[1]
    lines = notes.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith("| kubectl apply -f -"))
    end = lines.index("YAML", start)
    workspace = yaml.safe_load("\n".join(lines[start + 1 : end]))
    assert isinstance(workspace, dict)
    return notes, workspace


NOTES_CASES = [
    ("defaults", merge(OIDC, {"crds": {"install": False}}), "port-forward service/appyard-api 8080:80", None),
    (
        "renamed service behind an ingress",
        merge(VALUE_SETS["everything"], {"crds": {"install": False}}),
        "https://appyard.example.com/",
        "tools-api",
    ),
]


@pytest.mark.parametrize(("case", "values", "url", "service"), NOTES_CASES, ids=[c[0] for c in NOTES_CASES])
@pytest.mark.usefixtures("lifecycle", "third_party_crds")  # the CRDs are in the cluster (kept by the uninstall)
def test_notes_give_the_url_and_a_workspace_the_server_accepts(
    tools: Tools,
    tmp_path: Path,
    case: str,
    values: Obj,
    url: str,
    service: str | None,
) -> None:
    chart = stage(tmp_path / "appyard")
    notes, workspace = _notes(tools, chart, LIFECYCLE, moved(values, LIFECYCLE))
    assert url in notes, case
    assert workspace["kind"] == "Workspace"
    assert workspace["metadata"]["namespace"] == LIFECYCLE
    # the operator's per-app Ingresses must point at this release's API Service
    assert workspace["spec"].get("ingress", {}).get("serviceName") == service
    applied = tools.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-", stdin=yaml.safe_dump(workspace)
    )
    assert "workspace.appyard.dev/apps serverside-applied (server dry run)" in applied


WORKSPACE_DATA_SOURCES = [
    ("a Secret", {"secretName": "databases"}, None),
    (
        "declared egress",
        {
            "secretName": "databases",
            "egress": {
                "shop": [{"cidr": "10.20.0.0/16", "ports": [5432]}, {"podLabels": {"app": "pg"}, "ports": [5432]}]
            },
        },
        None,
    ),
    ("a Secret name with capitals", {"secretName": "Databases"}, "spec.dataSources.secretName"),
    ("a port out of range", {"egress": {"shop": [{"cidr": "10.0.0.0/8", "ports": [70000]}]}}, "ports[0]"),
    ("no ports", {"egress": {"shop": [{"cidr": "10.0.0.0/8", "ports": []}]}}, "ports"),
    ("a host name as cidr", {"egress": {"shop": [{"cidr": "db.example.com", "ports": [5432]}]}}, "cidr"),
    ("a typo", {"secret": "databases"}, ".spec.dataSources.secret: field not declared in schema"),
]


@pytest.mark.parametrize(
    ("case", "sources", "refused"), WORKSPACE_DATA_SOURCES, ids=[case[0] for case in WORKSPACE_DATA_SOURCES]
)
@pytest.mark.usefixtures("lifecycle", "third_party_crds")  # the CRDs are in the cluster (kept by the uninstall)
def test_the_server_checks_a_workspaces_data_sources(
    tools: Tools, tmp_path: Path, case: str, sources: Obj, refused: str | None
) -> None:
    """The NOTES' Workspace with its data sources filled in: the chart's CRD takes good ones and refuses bad ones
    with the field's path (the operator never sees them)."""
    chart = stage(tmp_path / "appyard")
    notes, workspace = _notes(tools, chart, LIFECYCLE, moved(merge(OIDC, {"crds": {"install": False}}), LIFECYCLE))
    assert "# dataSources:" in notes and "secretName" in notes
    workspace["spec"]["dataSources"] = sources
    manifest = yaml.safe_dump(workspace)
    arguments = ["apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-"]
    if refused is None:
        assert "serverside-applied (server dry run)" in tools.kubectl(*arguments, stdin=manifest), case
        return
    with pytest.raises(HelmError) as error:
        tools.kubectl(*arguments, stdin=manifest)
    assert refused in str(error.value), (case, str(error.value))
