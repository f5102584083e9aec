"""The chart's RBAC, proven against a real kube-apiserver: the real operator and the real cluster-mode API run
authenticated as the chart's ServiceAccounts (tokens from the TokenRequest API, nothing else) through the git-push
flow, with not one request forbidden; every rule of every role is compared with an exact list, so an added verb or
a wildcard fails; and the tokens are refused what they must not do.

The control plane enables the OwnerReferencesPermissionEnforcement admission plugin (on in OpenShift and hardened
clusters): setting ``blockOwnerDeletion`` in an owner reference then needs ``update`` on the owner's finalizers.
As in tests/integration/test_operator.py there is no kubelet: the test writes Pod statuses where a Pod would run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Event, Secret
from lightkube.resources.networking_v1 import Ingress, NetworkPolicy

from appyard import scaffold
from appyard.brokerauth import api_permissions

from ..integration.cluster import (
    REPO,
    App,
    Operator,
    Workspace,
    as_dict,
    create,
    create_namespace,
    create_secret,
    eventually,
    finish_pod,
    install_crds,
    namespace,
    pods,
    sign,
    start_runners,
    workspace_object,
)
from ..integration.controlplane import ControlPlane
from ..integration.gitserver import Clone, GitServer
from ..integration.servers import Api, NatsServer, free_port
from .rbac_support import Rule, allowed, apply, client_for, kubeconfig, render, rules, token

RELEASE_NS = "appyard"  # Workspaces and Apps live in the release namespace (the API serves its Apps)
BUILDS = "appyard-builds"
OUTSIDE = "elsewhere"  # a namespace the operator does not watch
CLUSTER_WIDE_NS = "appyard-everywhere"  # the release namespace of the cluster-wide variant
BASE_IMAGE = "registry.test/appyard/runner:test"
REGISTRY = "registry.test/appyard"
HOOK_SECRET = b"push-hook-secret"
DATABASES = "databases"
SAMPLE_APPS = sorted(app["name"] for app in json.loads((REPO / "workspace" / "properties.json").read_text())["apps"])
DATABASE_URL = "postgresql://app:app-password@192.0.2.15:5433/warehouse"
OPERATOR_ACCOUNT = "appyard-operator"
API_ACCOUNT = "appyard-api"

# Exactly what each role grants. A change to the chart's rules must change this list too, and say why.
OPERATOR_RULES: set[Rule] = {
    ("appyard.dev", "workspaces", "get"),
    ("appyard.dev", "workspaces", "list"),
    ("appyard.dev", "workspaces", "watch"),
    ("appyard.dev", "workspaces", "patch"),  # kopf's annotations
    ("appyard.dev", "workspaces/status", "patch"),
    ("appyard.dev", "workspaces/finalizers", "update"),  # blockOwnerDeletion in the Apps' owner references
    ("appyard.dev", "apps", "get"),
    ("appyard.dev", "apps", "list"),
    ("appyard.dev", "apps", "watch"),
    ("appyard.dev", "apps", "create"),  # server-side apply of a new object needs create and patch
    ("appyard.dev", "apps", "patch"),  # server-side apply; kopf's finalizer
    ("appyard.dev", "apps", "delete"),  # an app no longer in the workspace
    ("appyard.dev", "apps/status", "patch"),
    ("appyard.dev", "apps/finalizers", "update"),  # blockOwnerDeletion in the runner objects' owner references
    ("", "configmaps", "get"),
    ("", "configmaps", "list"),  # old code of an app, by label
    ("", "configmaps", "create"),  # code and images, created once
    ("", "configmaps", "patch"),
    ("", "configmaps", "delete"),  # old code of an app
    ("", "secrets", "get"),  # by name only: git credentials, webhook keys, runner credentials, data-source URLs
    ("", "secrets", "create"),  # the runners' Secret (server-side apply)
    ("", "secrets", "patch"),
    ("", "pods", "list"),  # a build's termination message
    ("", "events", "create"),  # kopf reports handler failures
    ("batch", "jobs", "get"),
    ("batch", "jobs", "list"),
    ("batch", "jobs", "watch"),
    ("batch", "jobs", "create"),
    ("apps", "deployments", "get"),
    ("apps", "deployments", "list"),
    ("apps", "deployments", "watch"),
    ("apps", "deployments", "create"),
    ("apps", "deployments", "patch"),
    ("networking.k8s.io", "networkpolicies", "create"),
    ("networking.k8s.io", "networkpolicies", "patch"),
    ("networking.k8s.io", "ingresses", "create"),
    ("networking.k8s.io", "ingresses", "patch"),
}
API_RULES: set[Rule] = {
    ("appyard.dev", "apps", "list"),
    ("appyard.dev", "apps", "watch"),
    ("", "configmaps", "get"),  # the code of the Apps it serves
}
WATCHED = {"operator.watchNamespaces": "{" + f"{RELEASE_NS},{BUILDS}" + "}"}


# -- the rules, as data -----------------------------------------------------------------------------------


def test_every_role_grants_exactly_the_expected_rules() -> None:
    """Namespaced: one operator Role per watched namespace and the API's Role in the release namespace, no
    ClusterRole; cluster-wide: one ClusterRole for the operator, the API still only a Role."""
    assert rules(render(RELEASE_NS, WATCHED)) == {
        f"Role {RELEASE_NS}/appyard-operator": OPERATOR_RULES,
        f"Role {BUILDS}/appyard-operator": OPERATOR_RULES,
        f"Role {RELEASE_NS}/appyard-api": API_RULES,
    }
    assert rules(render(CLUSTER_WIDE_NS)) == {
        f"ClusterRole /appyard-operator-{CLUSTER_WIDE_NS}": OPERATOR_RULES,
        f"Role {CLUSTER_WIDE_NS}/appyard-api": API_RULES,
    }


@pytest.mark.parametrize("values", [WATCHED, {}], ids=["watch-namespaces", "cluster-wide"])
def test_no_rule_holds_a_wildcard(values: dict[str, str]) -> None:
    """No `*` in any field of any rule, and no rule of another shape (non-resource URLs, aggregation)."""
    for obj in render(RELEASE_NS, values):
        for rule in obj.get("rules") or []:
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert not [item for item in rule.get(field) or [] if "*" in item], (obj["metadata"], rule)
            assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule


def test_bindings_name_the_charts_service_accounts() -> None:
    objects = render(RELEASE_NS, WATCHED)
    subjects = {
        f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}": obj["subjects"]
        for obj in objects
        if obj["kind"] == "RoleBinding"
    }
    operator = [{"kind": "ServiceAccount", "name": OPERATOR_ACCOUNT, "namespace": RELEASE_NS}]
    api = [{"kind": "ServiceAccount", "name": API_ACCOUNT, "namespace": RELEASE_NS}]
    assert subjects == {
        f"RoleBinding {RELEASE_NS}/appyard-operator": operator,
        f"RoleBinding {BUILDS}/appyard-operator": operator,
        f"RoleBinding {RELEASE_NS}/appyard-api": api,
    }


def test_service_accounts_follow_the_values() -> None:
    named = render(
        RELEASE_NS,
        {
            "operator.serviceAccount.name": "robot",
            "operator.serviceAccount.annotations.iam\\.example\\.com/role": "appyard",
            "api.serviceAccount.create": "false",
            "api.serviceAccount.name": "existing-api",
        },
    )
    accounts = {obj["metadata"]["name"]: obj for obj in named if obj["kind"] == "ServiceAccount"}
    assert list(accounts) == ["robot"]  # the API's account exists already: not made by the chart
    assert accounts["robot"]["metadata"]["annotations"] == {"iam.example.com/role": "appyard"}
    bindings = {obj["metadata"]["name"]: obj["subjects"][0]["name"] for obj in named if obj["kind"].endswith("Binding")}
    assert bindings == {"appyard-operator-appyard": "robot", "appyard-api": "existing-api"}
    # Without rbac.create the platform team grants the permissions itself: only the ServiceAccounts remain.
    kinds = {obj["kind"] for obj in render(RELEASE_NS, {"rbac.create": "false"})}
    assert kinds == {"ServiceAccount"}


# -- against the control plane ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way to install: Roles in the watched namespaces, or a ClusterRole."""

    release: str  # the release namespace: Workspaces, Apps, the API
    builds: str  # where build Jobs run
    watch: bool  # operator.watchNamespaces=[release, builds]; else cluster-wide

    @property
    def values(self) -> dict[str, str]:
        return {"operator.watchNamespaces": "{" + f"{self.release},{self.builds}" + "}"} if self.watch else {}


VARIANTS = {
    "watch-namespaces": Variant(RELEASE_NS, BUILDS, watch=True),
    "cluster-wide": Variant(CLUSTER_WIDE_NS, f"{CLUSTER_WIDE_NS}-builds", watch=False),
}


@dataclass
class Installed:
    """The chart's RBAC applied, and kubeconfigs holding nothing but the ServiceAccounts' tokens."""

    variant: Variant
    plane: ControlPlane
    admin: Client
    operator_config: Path
    api_config: Path
    folder: Path


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(
        tmp_path_factory.mktemp("controlplane"),
        apiserver_arguments=["--enable-admission-plugins=OwnerReferencesPermissionEnforcement"],
    )
    plane.start()
    try:
        admin = Client(KubeConfig.from_file(plane.kubeconfig), field_manager="tests")
        install_crds(admin)
        namespace(admin, OUTSIDE)
        create_secret(admin, OUTSIDE, "database", {"password": "not-for-appyard"})
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module", params=list(VARIANTS))
def installed(
    request: pytest.FixtureRequest, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Installed:
    variant: Variant = VARIANTS[request.param]
    admin = Client(KubeConfig.from_file(control_plane.kubeconfig), field_manager="tests")
    namespace(admin, variant.release)
    create_namespace(admin, variant.builds, "baseline")  # builders (kaniko) run as root
    apply(admin, render(variant.release, variant.values))
    folder = tmp_path_factory.mktemp(f"accounts-{request.param}")
    configs = {
        account: kubeconfig(control_plane, token(admin, variant.release, account), folder / account, variant.release)
        for account in (OPERATOR_ACCOUNT, API_ACCOUNT)
    }
    return Installed(variant, control_plane, admin, configs[OPERATOR_ACCOUNT], configs[API_ACCOUNT], folder)


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(store=tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"))
    yield server
    server.stop()


@dataclass
class Story:
    """A Workspace in the release namespace following a real git repository, and the operator running as its
    ServiceAccount; the Apps exist."""

    kube: Client
    variant: Variant
    clone: Clone
    operator: Operator
    git_server: GitServer

    def push(self, message: str) -> str:
        sha = self.clone.commit(message)
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        response = httpx.post(
            f"{self.operator.webhook}/hooks/{self.variant.release}/apps",
            content=body,
            headers={"X-Hub-Signature-256": sign(HOOK_SECRET, body), "Content-Type": "application/json"},
        )
        assert response.status_code == 202, response.text
        return sha

    def get(self, kind: Any, name: str) -> dict[str, Any]:
        return as_dict(self.kube.get(kind, name, namespace=self.variant.release))

    def apps(self) -> list[str]:
        found = self.kube.list(App, namespace=self.variant.release)
        return sorted(str(item.metadata.name) for item in found if item.metadata is not None)

    def ready(self, app: str) -> bool:
        conditions = (self.get(App, app).get("status") or {}).get("conditions") or []
        return any(item["type"] == "Ready" and item["status"] == "True" for item in conditions)

    def image(self, app: str) -> str:
        return str(self.get(Deployment, f"appyard-runner-{app}")["spec"]["template"]["spec"]["containers"][0]["image"])

    def start_runners(self, app: str) -> None:
        """Every current runner Pod of the app runs (standing in for the kubelet)."""
        start_runners(
            self.kube, self.variant.release, app, self.get(Deployment, f"appyard-runner-{app}")["spec"]["template"]
        )


@pytest.fixture(scope="module")
def story(
    installed: Installed, nats: NatsServer, git_server: GitServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Story]:
    admin, variant = installed.admin, installed.variant
    repository = f"tools-{variant.release}"
    git_server.create(repository)
    clone = Clone(tmp_path_factory.mktemp("clone") / "clone", git_server.url(repository))
    clone.copy(REPO / "workspace")
    _use_a_database(clone.folder / "workspace")
    clone.commit("the sample apps")
    create_secret(admin, variant.release, "push-hook", {"secret": HOOK_SECRET.decode()})
    # The data-source Secret, read by name like the others (the Workspace names it at run time, so no
    # resourceNames could list it in the Role).
    create_secret(admin, variant.release, DATABASES, {"APPYARD_DB_WAREHOUSE": DATABASE_URL})
    watched = [variant.release, variant.builds] if variant.watch else []
    operator = Operator(
        installed.plane, watched, nats, installed.folder / "operator", kubeconfig=installed.operator_config
    )
    operator.start()
    build = {"registry": REGISTRY, "baseImage": BASE_IMAGE, "namespace": variant.builds}
    workspace = workspace_object(
        "apps",
        clone.url,
        nats.url,
        "push-hook",
        build=build,
        ingress={"host": "apps.example.com"},
        dataSources={"secretName": DATABASES},
    )
    create(admin, workspace, variant.release)
    result = Story(admin, variant, clone, operator, git_server)
    try:
        eventually(lambda: result.apps() == SAMPLE_APPS, 60, "the sample Apps")
        yield result
        # Deleting the Workspace takes its Apps (the garbage collector, then the operator's finalizer): nothing is
        # left for the next variant's operator to find.
        admin.delete(Workspace, "apps", namespace=variant.release)
        eventually(lambda: not result.apps(), 60, "the Workspace's Apps deleted")
    finally:
        operator.stop()


def _use_a_database(workspace: Path) -> None:
    """The workspace declares a database and orders uses it (after any source it uses already)."""
    path = workspace / "properties.json"
    properties = json.loads(path.read_text())
    properties.setdefault("data_sources", {})["warehouse"] = {"kind": "postgres"}
    path.write_text(json.dumps(properties, indent=2) + "\n")
    path = workspace / "orders" / "properties.json"
    properties = json.loads(path.read_text())
    properties["data_sources"] = [*properties.get("data_sources", []), "warehouse"]
    path.write_text(json.dumps(properties, indent=2) + "\n")


def _forbidden(log: str) -> list[str]:
    return [line for line in log.splitlines() if "forbidden" in line.lower() or " 403" in line]


@pytest.mark.integration
def test_the_api_serves_apps_as_its_service_account(story: Story, installed: Installed, nats: NatsServer) -> None:
    """The cluster-mode API lists and watches the Apps and reads their code with the API account's token."""
    release = installed.variant.release
    port = free_port()
    api = Api(
        "appyard_api",
        {
            "KUBECONFIG": str(installed.api_config),
            "APPYARD_API_MODE": "cluster",
            "APPYARD_API_NAMESPACE": release,
            "APPYARD_API_NATS_URL": nats.url,
            "APPYARD_API_NATS_CREDS": nats.creds(api_permissions(release), "api"),
            "APPYARD_API_PORT": str(port),
            "APPYARD_API_CACHE_DIR": str(installed.folder / "api-cache"),
            "APPYARD_API_AUTH": "proxy",
            "APPYARD_API_TRUSTED_PROXIES": '["127.0.0.0/8"]',
            "APPYARD_API_ADMIN_GROUPS": '["admins"]',
        },
        installed.folder / "api.log",
        port=port,
    )
    api.start()
    try:
        admin = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "admins"}
        with httpx.Client(base_url=api.url, timeout=30, headers=admin) as client:

            def listed() -> list[str]:
                return sorted(str(item["name"]) for item in client.get("/api/apps").json())

            assert eventually(lambda: listed() == SAMPLE_APPS and listed(), 30, "the API to list the Apps")
            page = client.get("/api/apps/ops/pages/hashing")
            assert page.status_code == 200, page.text + api.output()
            assert "compute_hash" in [function["name"] for function in page.json()["functions"]]
            # The watch (not a restart) brings a new app in.
            scaffold.new_app(story.clone.folder / "workspace", "notes", "Notes")
            story.push("a new app")
            eventually(lambda: "notes" in listed(), 60, "the API to list the new app")
    finally:
        api.stop()
    assert not _forbidden(api.output()), api.output()[-4000:]


@pytest.mark.integration
def test_the_operator_runs_the_git_push_flow_as_its_service_account(story: Story) -> None:
    """Builds, runner objects, status, a code change and a deleted app, all as the operator account."""
    kube, builds = story.kube, story.variant.builds
    ops = story.get(App, "ops")
    # ops has requirements: a build Job in the build namespace; the test finishes its Pod as kaniko would.
    job = eventually(lambda: list(kube.list(Job, namespace=builds)), 60, "the build Job")[0]
    assert job.metadata is not None
    digest = "sha256:" + hashlib.sha256(b"ops image").hexdigest()
    pod = eventually(lambda: pods(kube, builds, {"job-name": str(job.metadata.name)}), 60, "the build Pod")[0]
    finish_pod(kube, pod, digest)
    eventually(lambda: story.image("ops") == f"{REGISTRY}/runner@{digest}", 60, "ops on the built image")
    assert eventually(lambda: story.image("orders"), 60, "orders's Deployment") == BASE_IMAGE
    for app in ("ops", "orders"):
        story.start_runners(app)
        eventually(partial(story.ready, app), 60, f"{app} Ready")
    # The runner objects, each owned by its App (blockOwnerDeletion: allowed by the finalizers rule).
    secret = story.get(Secret, "appyard-runner-ops")
    assert "nats-creds" in secret["data"]
    assert secret["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] is True
    assert story.get(NetworkPolicy, "appyard-runner-ops")["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert story.get(Ingress, "appyard-ops")["spec"]["rules"][0]["host"] == "apps.example.com"
    # orders's database: its URL from the data-source Secret (read as the operator account), its host in the egress.
    env = story.get(Deployment, "appyard-runner-orders")["spec"]["template"]["spec"]["containers"][0]["env"]
    reference = next(item for item in env if item["name"] == "APPYARD_DB_WAREHOUSE")["valueFrom"]["secretKeyRef"]
    assert reference["name"] == DATABASES
    egress = story.get(NetworkPolicy, "appyard-runner-orders")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "192.0.2.15/32"}}], "ports": [{"protocol": "TCP", "port": 5433}]} in egress
    assert "apps.example.com" in story.get(App, "ops")["status"]["url"]

    # A code-only change: a new code ConfigMap, a rollout, the old code removed once the new one serves.
    script = story.clone.folder / "workspace" / "ops" / "hashing" / "scripts" / "hashing.py"
    script.write_text(script.read_text() + "\n# a comment\n")
    second = story.push("ops: a code-only change")
    eventually(lambda: story.get(App, "ops")["spec"]["revision"] == second, 60, "ops at the second commit")
    code = story.get(App, "ops")["spec"]["code"]
    assert code != ops["spec"]["code"]

    def volume() -> str:
        return str(
            story.get(Deployment, "appyard-runner-ops")["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
        )

    eventually(lambda: volume() == code, 60, "ops's Deployment on the new code")
    story.start_runners("ops")
    labels: Any = {"appyard.dev/app": "ops", "app.kubernetes.io/name": "appyard-code"}

    def code_maps() -> list[str]:
        found = kube.list(ConfigMap, namespace=story.variant.release, labels=labels)
        return [str(item.metadata.name) for item in found if item.metadata is not None]

    eventually(lambda: code_maps() == [code], 60, "the old code ConfigMap removed")

    # An app that leaves the workspace: its App goes (and kopf's finalizer runs the NATS clean-up).
    workspace = story.clone.folder / "workspace"
    shutil.rmtree(workspace / "orders")
    properties = json.loads((workspace / "properties.json").read_text())
    properties["apps"] = [app for app in properties["apps"] if app["name"] != "orders"]
    (workspace / "properties.json").write_text(json.dumps(properties, indent=2) + "\n")
    story.push("orders goes")
    eventually(lambda: "orders" not in story.apps(), 60, "orders deleted")
    log = story.operator.output()
    assert "Traceback" not in log, log[-6000:]
    assert not _forbidden(log), log[-6000:]


@pytest.mark.integration
def test_a_handler_failure_is_posted_as_an_event(story: Story) -> None:
    """kopf reports a failing handler on its object as an Event (the Events rule). To make one fail, an admin
    writes an App by hand whose code ConfigMap holds no bundle: reading its requirements for a build fails."""
    kube, release = story.kube, story.variant.release
    ops = story.get(App, "ops")
    broken = "appyard-code-ghost-broken"
    create(kube, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": broken}, "data": {"x": "y"}}, release)
    spec = {**ops["spec"], "app": "ghost", "code": broken, "requirementsHash": "0" * 64}
    create(kube, {"apiVersion": ops["apiVersion"], "kind": "App", "metadata": {"name": "ghost"}, "spec": spec}, release)
    try:

        def posted() -> list[str]:
            events = kube.list(Event, namespace=release, fields={"involvedObject.name": "ghost"})
            return [str(event.message) for event in events if "failed with an exception" in str(event.message)]

        assert "code.tar.gz" in eventually(posted, 60, "an Event saying the App's handler failed")[0]
    finally:
        kube.delete(App, "ghost", namespace=release)
        kube.delete(ConfigMap, broken, namespace=release)
    eventually(lambda: "ghost" not in story.apps(), 60, "the App gone (the operator's clean-up ran)")
    assert not _forbidden(story.operator.output()), story.operator.output()[-6000:]


# -- what the tokens must not do ---------------------------------------------------------------------------


@pytest.mark.integration
def test_the_operator_reaches_only_the_watched_namespaces(installed: Installed) -> None:
    """Secrets outside the watched namespaces stay out of reach (in the cluster-wide variant the operator may read
    one by name anywhere — a Workspace's git credentials can be in any namespace — but never list them)."""
    operator = client_for(installed.operator_config)
    variant = installed.variant
    if variant.watch:
        with pytest.raises(ApiError) as refused:
            operator.get(Secret, "database", namespace=OUTSIDE)
        assert refused.value.status.code == 403
        assert not allowed(operator, "list", "apps", OUTSIDE, "appyard.dev")
    else:
        assert allowed(operator, "get", "secrets", OUTSIDE)
        assert allowed(operator, "watch", "apps", "", "appyard.dev")  # every namespace in one watch
    assert allowed(operator, "get", "secrets", variant.release)
    for verb, resource, where, group in (
        ("list", "secrets", variant.release, ""),  # by name only, never listed
        ("watch", "secrets", variant.release, ""),
        ("list", "secrets", OUTSIDE, ""),
        ("create", "pods", variant.release, ""),
        ("get", "pods/log", variant.builds, ""),
        ("create", "pods/exec", variant.release, ""),
        ("delete", "deployments", variant.release, "apps"),
        ("delete", "jobs", variant.builds, "batch"),
        ("create", "rolebindings", variant.release, "rbac.authorization.k8s.io"),
        ("list", "namespaces", "", ""),
        ("list", "customresourcedefinitions", "", "apiextensions.k8s.io"),
    ):
        assert not allowed(operator, verb, resource, where, group), (verb, resource, where)


@pytest.mark.integration
def test_the_api_reads_no_secrets_and_writes_nothing(installed: Installed) -> None:
    api = client_for(installed.api_config)
    release = installed.variant.release
    with pytest.raises(ApiError) as refused:
        api.get(Secret, "push-hook", namespace=release)
    assert refused.value.status.code == 403
    for verb, resource, where, group in (
        ("get", "secrets", release, ""),
        ("list", "secrets", release, ""),
        ("list", "configmaps", release, ""),
        ("patch", "apps", release, "appyard.dev"),
        ("get", "workspaces", release, "appyard.dev"),
        ("list", "apps", OUTSIDE, "appyard.dev"),
        ("get", "configmaps", installed.variant.builds, ""),
    ):
        assert not allowed(api, verb, resource, where, group), (verb, resource, where)
    assert allowed(api, "watch", "apps", release, "appyard.dev")
