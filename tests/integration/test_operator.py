"""The operator against a real control plane: etcd, kube-apiserver and kube-controller-manager built from the
Kubernetes sources (``make tools``), a real git repository served over HTTP on loopback, a real nats-server.

No kubelet runs here, so no container ever starts: where a Pod would run, the test stands in for the kubelet
by writing the Pod's status (``cluster.finish_pod`` for a build, reporting the image digest the way kaniko
does; ``cluster.run_pod`` for a runner). Everything else — admission under Pod Security *restricted*, the Job,
ReplicaSet and Deployment controllers, garbage collection — is the real thing.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import nats as nats_client
import pytest
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Secret
from lightkube.resources.networking_v1 import Ingress, NetworkPolicy
from lightkube.types import PatchType
from nats.aio.client import RawCredentials
from nats.js.errors import NotFoundError

from appyard import scaffold
from appyard.brokerauth import api_permissions
from appyard.runs import RESULTS_BUCKET, RUNS_STREAM, consumer_name
from appyard_operator.app_objects import image_key

from .cluster import (
    REPO,
    App,
    Operator,
    Workspace,
    as_dict,
    create,
    create_namespace,
    create_secret,
    eventually,
    fail_pod,
    finish_pod,
    install_crds,
    namespace,
    pods,
    sign,
    start_runners,
    workspace_object,
)
from .controlplane import TOOLS, ControlPlane
from .gitserver import Clone, GitServer
from .servers import Api, NatsServer, Process, free_port

BASE_IMAGE = "registry.test/appyard/runner:test"
REGISTRY = "registry.test/appyard"
HOOK_SECRET = b"push-hook-secret"
# The sample workspace's apps (the tests push it; ops and orders are the ones they look into).
SAMPLE_APPS = sorted(app["name"] for app in json.loads((REPO / "workspace" / "properties.json").read_text())["apps"])


# -- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"))
    plane.start()
    try:
        install_crds(Client(KubeConfig.from_file(plane.kubeconfig), field_manager="tests"))
        yield plane
    finally:
        plane.stop()


@pytest.fixture
def kube(control_plane: ControlPlane) -> Client:
    return Client(KubeConfig.from_file(control_plane.kubeconfig), field_manager="tests")


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"))
    yield server
    server.stop()


@dataclass
class Setup:
    """One namespace for apps (Pod Security *restricted*), one for builds (*baseline*: builders run as root),
    a git repository with the sample workspace, and the operator."""

    kube: Client
    namespace: str
    builds: str
    clone: Clone
    operator: Operator
    nats: NatsServer
    folder: Path

    # -- git -------------------------------------------------------------------------------------------

    @property
    def workspace(self) -> Path:
        return self.clone.folder / "workspace"

    def create_workspace(self, name: str = "apps") -> None:
        """A Workspace following this setup's repository, building in its build namespace."""
        create(self.kube, _workspace_object(name, self.clone.url, self.builds, self.nats.url), self.namespace)

    def push(self, message: str, *, notify: bool = True) -> str:
        """Commit and push like a developer; the git host then calls the webhook (signed)."""
        sha = self.clone.commit(message)
        if notify:
            response = self.hook(json.dumps({"ref": "refs/heads/main", "after": sha}).encode())
            assert response.status_code == 202, response.text
        return sha

    def hook(self, body: bytes, signature: str | None = None, workspace: str = "apps") -> httpx.Response:
        return httpx.post(
            f"{self.operator.webhook}/hooks/{self.namespace}/{workspace}",
            content=body,
            headers={"X-Hub-Signature-256": signature or sign(HOOK_SECRET, body), "Content-Type": "application/json"},
        )

    # -- reading the cluster ---------------------------------------------------------------------------

    def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        return as_dict(self.kube.get(kind, name, namespace=namespace or self.namespace))

    def objects(
        self, kind: Any, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        selector: Any = labels or {}
        return [as_dict(item) for item in self.kube.list(kind, namespace=namespace or self.namespace, labels=selector)]

    def app(self, name: str) -> dict[str, Any]:
        return self.get(App, name)

    def condition(self, app: str, kind: str) -> dict[str, Any] | None:
        conditions = (self.app(app).get("status") or {}).get("conditions") or []
        return next((item for item in conditions if item["type"] == kind), None)

    def reason(self, app: str, kind: str) -> str | None:
        condition = self.condition(app, kind)
        return None if condition is None else str(condition["reason"])

    def ready(self, app: str) -> bool:
        condition = self.condition(app, "Ready")
        return condition is not None and condition["status"] == "True"

    def jobs(self) -> list[dict[str, Any]]:
        return self.objects(Job, self.builds)

    def deployment(self, app: str) -> dict[str, Any]:
        return self.get(Deployment, f"appyard-runner-{app}")

    def image(self, app: str) -> str:
        return str(self.deployment(app)["spec"]["template"]["spec"]["containers"][0]["image"])

    # -- standing in for the kubelet -------------------------------------------------------------------

    def finish_build(self, job: dict[str, Any], digest: str) -> None:
        """The build Job's Pod (created by the real Job controller) ran kaniko, which pushed ``digest``."""
        name = job["metadata"]["name"]
        pod = eventually(lambda: pods(self.kube, self.builds, {"job-name": name}), 60, "the build Pod")[0]
        finish_pod(self.kube, pod, digest)

    def start_runners(self, app: str) -> None:
        """Every runner Pod of the app's current ReplicaSet (the real controllers made them) is running."""
        start_runners(self.kube, self.namespace, app, self.deployment(app)["spec"]["template"])

    def diagnostics(self) -> str:
        return self.operator.output()


def _workspace_object(name: str, url: str, builds: str, nats_url: str) -> dict[str, Any]:
    build = {"registry": REGISTRY, "baseImage": BASE_IMAGE, "namespace": builds}
    return workspace_object(name, url, nats_url, "push-hook", build=build, ingress={"host": "apps.example.com"})


@contextlib.contextmanager
def _set_up(
    kube: Client, control_plane: ControlPlane, git_server: GitServer, nats: NatsServer, folder: Path, suffix: str
) -> Iterator[Setup]:
    apps = namespace(kube, f"apps-{suffix}")
    builds = f"builds-{suffix}"
    create_namespace(kube, builds, "baseline")
    git_server.create(suffix)
    clone = Clone(folder / "clone", git_server.url(suffix))
    clone.copy(REPO / "workspace")
    clone.commit("the sample apps")
    create_secret(kube, apps, "push-hook", {"secret": HOOK_SECRET.decode()})
    operator = Operator(control_plane, [apps, builds], nats, folder)
    operator.start()
    try:
        yield Setup(kube, apps, builds, clone, operator, nats, folder)
    finally:
        operator.stop()


@pytest.fixture
def setup(
    kube: Client,
    control_plane: ControlPlane,
    git_server: GitServer,
    nats: NatsServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Setup]:
    suffix = request.node.name.removeprefix("test_").replace("_", "-")[:40].strip("-")
    with _set_up(kube, control_plane, git_server, nats, tmp_path, suffix) as result:
        yield result
        if getattr(getattr(request.node, "rep_call", None), "failed", False):
            print(result.diagnostics())


@dataclass
class Serving:
    """The sample Workspace serving its first commit: ops on the image built for its requirements (one build
    Job, finished by the test), orders on the base image, and every runner Pod of both running."""

    setup: Setup
    first: str
    digest: str
    building: str  # ops's Ready reason while its image was being built

    @property
    def image(self) -> str:
        return f"{REGISTRY}/runner@{self.digest}"


def _serve(setup: Setup) -> Serving:
    first = setup.clone.git("rev-parse", "HEAD")
    setup.create_workspace("apps")
    eventually(lambda: setup.app("orders") and setup.app("ops"), 60, "both Apps")
    job = eventually(setup.jobs, 60, "the build Job")[0]
    building = eventually(lambda: setup.reason("ops", "Ready"), 30, "ops's Ready condition")
    digest = "sha256:" + hashlib.sha256(b"ops image 1").hexdigest()
    setup.finish_build(job, digest)
    eventually(lambda: setup.image("ops") == f"{REGISTRY}/runner@{digest}", 60, "ops's Deployment on the new image")
    eventually(lambda: setup.image("orders"), 60, "orders's Deployment")
    # The ReplicaSet controller's Pods are admitted in a namespace that enforces *restricted*.
    for app in ("ops", "orders"):
        setup.start_runners(app)
        eventually(partial(setup.ready, app), 60, f"{app} Ready")
    return Serving(setup, first, digest, building)


@pytest.fixture(scope="class")
def served(
    control_plane: ControlPlane,
    git_server: GitServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Serving]:
    """One Workspace brought to serving once for a class of tests that only read what the operator made of it
    (tests that push or restart get their own :func:`serving`)."""
    folder = tmp_path_factory.mktemp("served")
    server = NatsServer(store=folder / "nats")
    server.start()
    kube = Client(KubeConfig.from_file(control_plane.kubeconfig), field_manager="tests")
    failed = request.session.testsfailed
    try:
        with _set_up(kube, control_plane, git_server, server, folder, "served") as setup:
            yield _serve(setup)
            if request.session.testsfailed > failed:
                print(setup.diagnostics())
    finally:
        server.stop()


@pytest.fixture
def serving(setup: Setup) -> Serving:
    """A Workspace of the test's own brought to serving: for tests that push commits or restart the operator."""
    return _serve(setup)


# -- tests ----------------------------------------------------------------------------------------------


def test_tools_are_built() -> None:
    """`make test` builds them first (`make tools`); without them the operator cannot be tested at all."""
    for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
        assert (TOOLS / name).is_file(), f"{TOOLS / name} is missing: run `make tools`"


def test_the_api_server_refuses_bad_workspaces(kube: Client, control_plane: ControlPlane) -> None:
    """Validation lives in the CRD's schema: a bad git URL, interval, path or ref never reaches the operator."""
    good = _workspace_object("checked", "https://git.example.com/team/tools.git", "builds", "nats://nats:4222")
    create(kube, good, namespace="default", dry_run=True)
    for field, value, expected in (
        ("url", "ftp://git.example.com/tools.git", "spec.git.url"),
        ("url", "not a url", "spec.git.url"),
        ("interval", "5 minutes", "spec.git.interval"),
        ("interval", "", "spec.git.interval"),
        ("path", "../other-team", "spec.git.path"),
        ("path", "/etc", "spec.git.path"),
        ("ref", "--upload-pack=touch /tmp/owned", "spec.git.ref"),
    ):
        bad = json.loads(json.dumps(good))
        bad["spec"]["git"][field] = value
        with pytest.raises(ApiError) as refused:
            create(kube, bad, namespace="default", dry_run=True)
        assert refused.value.status.code == 422, (field, value)
        assert expected in str(refused.value.status.message), refused.value.status.message
    # A typo is an error too (kubectl validates fields strictly against the schema), not silently dropped.
    typo = json.loads(json.dumps(good))
    typo["spec"]["git"]["branch"] = "main"
    result = subprocess.run(
        [str(TOOLS / "kubectl"), "apply", "--dry-run=server", "-n", "default", "-f", "-"],
        input=json.dumps(typo),
        env=control_plane.kubectl_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and 'unknown field "spec.git.branch"' in result.stderr, result.stderr


def test_webhook_refuses_unsigned_pushes(setup: Setup) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    assert setup.hook(body, signature="sha256=" + "0" * 64).status_code == 404  # no such Workspace yet
    setup.create_workspace("apps")
    assert setup.hook(body, signature="sha256=" + "0" * 64).status_code == 401
    assert setup.hook(body, signature="sha1=nonsense").status_code == 401
    tampered = setup.hook(body + b" ", signature=sign(HOOK_SECRET, body))
    assert tampered.status_code == 401
    assert setup.hook(body).status_code == 202


def test_an_app_belongs_to_one_workspace(setup: Setup) -> None:
    """Two Workspaces in a namespace with an app of the same name: the second does not take it over."""
    setup.create_workspace("apps")
    eventually(lambda: len(setup.objects(App)) == len(SAMPLE_APPS), 30, "the first Workspace's Apps")
    setup.create_workspace("copy")

    def refused() -> dict[str, Any]:
        status: dict[str, Any] = setup.get(Workspace, "copy").get("status") or {}
        return status if status.get("apps") else {}

    status = eventually(refused, 30, "the second Workspace to sync")
    assert {app["name"]: app["valid"] for app in status["apps"]} == dict.fromkeys(SAMPLE_APPS, False)
    assert "from Workspace 'apps'" in status["apps"][0]["message"]
    stalled = next(item for item in status["conditions"] if item["type"] == "Stalled")
    assert "orders" in stalled["message"] and "ops" in stalled["message"]
    for app in setup.objects(App):
        assert app["metadata"]["ownerReferences"][0]["name"] == "apps"
        assert app["metadata"]["labels"]["appyard.dev/workspace"] == "apps"


def test_a_failed_build_stalls_the_app_with_the_builders_output(setup: Setup) -> None:
    """pip fails in the build: the App says so, with the end of the build's log (no kubelet: the test fails
    each build Pod the Job controller creates, as a kubelet would report a container that exited 1)."""
    requirements = setup.workspace / "ops" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "no-such-package-anywhere==1.0\n")
    setup.push("ops: a requirement that does not exist", notify=False)
    setup.create_workspace("apps")
    job = eventually(setup.jobs, 60, "the build Job")[0]
    assert job["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"] == "FallbackToLogsOnError"
    output = "ERROR: No matching distribution found for no-such-package-anywhere==1.0"
    failed: set[str] = set()

    def stalled() -> dict[str, Any] | None:
        # The Job controller retries (backoffLimit 2, with its own back-off delay); each new Pod fails too.
        for pod in pods(setup.kube, setup.builds, {"job-name": job["metadata"]["name"]}):
            name = str(pod.metadata.name) if pod.metadata else ""
            if name not in failed:
                fail_pod(setup.kube, pod, output)
                failed.add(name)
        condition = setup.condition("ops", "Stalled")
        return condition if condition and condition["reason"] == "BuildFailed" else None

    condition = eventually(stalled, 120, "ops Stalled by the failed build")
    assert output in condition["message"] and job["metadata"]["name"] in condition["message"], condition
    assert setup.reason("ops", "Ready") == "BuildFailed"
    assert len(failed) == 3  # the first try and two retries
    # The other app needs no build and is not held up.
    assert eventually(lambda: setup.image("orders"), 30, "orders's Deployment") == BASE_IMAGE


def test_a_symlink_out_of_the_repository_stalls_the_workspace(setup: Setup) -> None:
    """A committed symlink that leads out of the checkout (here: to the operator's service-account token) is
    never followed or packed: the Workspace stalls with the reason and the Apps keep their revision."""
    setup.create_workspace("apps")
    eventually(lambda: len(setup.objects(App)) == len(SAMPLE_APPS), 60, "the Apps")
    # The Apps are written before the Workspace's status says which revision they came from.
    first = eventually(lambda: (setup.get(Workspace, "apps").get("status") or {}).get("revision"), 30, "a revision")
    (setup.workspace / "orders" / "token").symlink_to("/var/run/secrets/kubernetes.io/serviceaccount/token")
    setup.push("a link to the operator's token")

    def stalled() -> dict[str, Any] | None:
        conditions = (setup.get(Workspace, "apps").get("status") or {}).get("conditions") or []
        found = [item for item in conditions if item["type"] == "Stalled" and item["status"] == "True"]
        return found[0] if found and found[0]["reason"] == "PathOutsideRepository" else None

    condition = eventually(stalled, 60, "the Workspace to stall")
    assert "orders/token is a symlink that leads out of the repository" in condition["message"], condition
    assert setup.get(Workspace, "apps")["status"]["revision"] == first
    assert {app["spec"]["revision"] for app in setup.objects(App)} == {first}


def test_private_repositories_need_the_credentials_secret(setup: Setup, git_server: GitServer) -> None:
    """A token from the Workspace's Secret reaches git as an HTTP header (never on a command line)."""
    name = setup.clone.url.rsplit("/", 1)[-1].removesuffix(".git")
    git_server.protect(name, "deploy", "s3cret-token")
    setup.create_workspace("apps")

    def refused() -> dict[str, Any] | None:
        status = setup.get(Workspace, "apps").get("status") or {}
        ready = next((item for item in status.get("conditions") or [] if item["type"] == "Ready"), None)
        return ready if ready and ready["reason"] == "GitError" else None

    condition = eventually(refused, 30, "the Workspace to report the git error")
    assert condition["status"] == "False"
    assert "Authentication failed" in condition["message"], condition
    assert not setup.objects(App)

    create_secret(setup.kube, setup.namespace, "git", {"username": "deploy", "password": "s3cret-token"})
    patch = {"spec": {"git": {"secretRef": {"name": "git"}}}}
    setup.kube.patch(Workspace, "apps", patch, namespace=setup.namespace, patch_type=PatchType.MERGE)
    eventually(lambda: len(setup.objects(App)) == len(SAMPLE_APPS), 30, "the Apps, read with the token")
    head = setup.clone.git("rev-parse", "HEAD")
    eventually(
        lambda: (setup.get(Workspace, "apps").get("status") or {}).get("revision") == head,
        30,
        "the Workspace to report the revision it read with the token",
    )


# -- a Workspace serving its apps (read only) ---------------------------------------------------------------


class TestAServingWorkspace:
    """What the operator made of a Workspace whose apps serve (one Workspace, shared: these tests only read)."""

    def test_every_valid_app_becomes_an_app_owned_by_the_workspace(self, served: Serving) -> None:
        """Every valid app of the commit becomes an App, owned by the Workspace, with the pages it declares."""
        setup = served.setup
        orders, ops = setup.app("orders"), setup.app("ops")
        assert orders["spec"]["revision"] == ops["spec"]["revision"] == served.first
        assert [page["name"] for page in orders["spec"]["pages"]] == ["orders", "customers"]
        assert [page["name"] for page in ops["spec"]["pages"]] == ["hashing", "clock"]
        assert "compute_hash" in ops["spec"]["pages"][0]["functions"]
        assert orders["metadata"]["ownerReferences"][0]["kind"] == "Workspace"
        assert "requirementsHash" not in orders["spec"]  # no requirements.txt: the base image serves it
        requirements = (setup.workspace / "ops" / "requirements.txt").read_bytes()
        assert ops["spec"]["requirementsHash"] == hashlib.sha256(requirements).hexdigest()

    def test_kopf_keeps_the_handled_spec_without_the_pages(self, served: Serving) -> None:
        """kopf's copy of the last handled spec leaves the (possibly large) pages out: annotations are capped."""
        setup = served.setup
        handled = eventually(
            lambda: setup.app("ops")["metadata"]["annotations"].get("operator.appyard.dev/last-handled-configuration"),
            30,
            "the App handled",
        )
        assert "revision" in json.loads(handled)["spec"] and "pages" not in json.loads(handled)["spec"]

    def test_requirements_are_built_once_in_the_build_namespace(self, served: Serving) -> None:
        """ops has requirements: one build Job, in the build namespace, keyed by (base image, requirements); the
        App says Building until the image is there."""
        setup = served.setup
        jobs = setup.jobs()
        assert len(jobs) == 1
        key = image_key(BASE_IMAGE, setup.app("ops")["spec"]["requirementsHash"])
        assert jobs[0]["metadata"]["labels"]["appyard.dev/build-key"] == key
        assert served.building == "Building"

    def test_the_runners_run_the_built_image_under_a_restricted_security_context(self, served: Serving) -> None:
        """The runner Deployment runs the built image by digest, under a restricted security context (the
        ReplicaSet controller's Pods were admitted in a namespace that enforces *restricted*)."""
        setup = served.setup
        assert setup.image("ops") == served.image
        template = setup.deployment("ops")["spec"]["template"]["spec"]
        container = template["containers"][0]
        assert template["automountServiceAccountToken"] is False
        assert template["securityContext"]["runAsNonRoot"] is True
        assert template["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]
        assert setup.image("orders") == BASE_IMAGE

    def test_a_serving_app_has_its_url_credentials_network_policy_and_ingress(self, served: Serving) -> None:
        setup = served.setup
        ops = setup.app("ops")
        assert ops["status"]["url"] == "http://apps.example.com/apps/ops"
        assert ops["status"]["servingRevision"] == served.first
        assert ops["status"]["image"] == served.image
        assert setup.kube.get(Secret, "appyard-runner-ops", namespace=setup.namespace).data
        policy = setup.get(NetworkPolicy, "appyard-runner-ops")
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        ingress = setup.get(Ingress, "appyard-ops")
        assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/apps/ops"

    def test_the_workspace_status_and_kubectl_show_what_serves(self, served: Serving) -> None:
        setup = served.setup
        workspace = setup.get(Workspace, "apps")["status"]
        assert workspace["revision"] == served.first
        assert {app["name"]: app["valid"] for app in workspace["apps"]} == dict.fromkeys(SAMPLE_APPS, True)
        _kubectl_columns(setup)

    def test_the_api_in_cluster_mode_runs_functions_on_the_runners(self, served: Serving, tmp_path: Path) -> None:
        """The API in cluster mode and a runner started like the kubelet would start the Deployment's Pod."""
        _run_on_a_runner(served.setup, tmp_path)
        assert _leftovers(served.setup.nats, served.setup.namespace, "ops") == (True, 1)


# -- commits pushed to serving apps ---------------------------------------------------------------------------


def test_a_code_only_commit_rolls_out_without_a_build(serving: Serving, tmp_path: Path) -> None:
    """A code-only commit: a new code ConfigMap and a rollout, no image build; the API (watching the Apps)
    serves the new code without a restart, and the app the commit did not touch is left alone."""
    setup = serving.setup
    kube, ns = setup.kube, setup.namespace
    with _api(setup, tmp_path) as (api, _):
        orders_generation = setup.deployment("orders")["metadata"]["generation"]
        script = setup.workspace / "ops" / "hashing" / "scripts" / "hashing.py"
        old_doc = "Hash the text with the chosen algorithm, salted when asked."
        new_doc = "Hash the text with the algorithm chosen (salted if asked)."
        script.write_text(script.read_text().replace(old_doc, new_doc))
        second = setup.push("ops: a code-only change")
        eventually(lambda: setup.app("ops")["spec"]["revision"] == second, 30, "ops at the second commit")
        code = setup.app("ops")["spec"]["code"]
        assert kube.get(ConfigMap, code, namespace=ns).binaryData
        eventually(
            lambda: setup.deployment("ops")["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == code,
            30,
            "ops's Deployment on the new code",
        )
        setup.start_runners("ops")
        eventually(lambda: setup.app("ops")["status"].get("servingRevision") == second, 60, "the second commit serving")
        assert setup.ready("ops")
        assert len(setup.jobs()) == 1, "a code-only commit must not build an image"
        code_maps = {"appyard.dev/app": "ops", "app.kubernetes.io/name": "appyard-code"}
        eventually(
            lambda: [item["metadata"]["name"] for item in setup.objects(ConfigMap, labels=code_maps)] == [code],
            30,
            "the previous code ConfigMap to be removed once the new code serves",
        )

        def documented() -> str:
            functions = api.get("/api/apps/ops/pages/hashing").json()["functions"]
            return next(str(item["doc"]) for item in functions if item["name"] == "compute_hash")

        eventually(lambda: documented() == new_doc, 30, "the API to serve the second commit")
    assert setup.image("ops") == serving.image
    # orders did not change at all in that commit: its runners were left alone.
    assert setup.deployment("orders")["metadata"]["generation"] == orders_generation


def test_the_api_lists_a_new_app_at_once_and_forgets_it_when_it_goes(setup: Setup, tmp_path: Path) -> None:
    """A new app reaches the API through the watch; until runners serve it, runs are refused with the reason.
    The API forgets it when it leaves the workspace (its App is deleted)."""
    setup.create_workspace("apps")
    eventually(lambda: len(setup.objects(App)) == len(SAMPLE_APPS), 60, "the Apps")
    with _api(setup, tmp_path) as (api, _):
        workspace_file = setup.workspace / "properties.json"
        before_notes = workspace_file.read_text()
        scaffold.new_app(setup.workspace, "notes", "Notes")
        setup.push("a new app")

        def listed() -> list[str]:
            return [str(item["name"]) for item in api.get("/api/apps").json()]

        eventually(lambda: "notes" in listed(), 30, "the API to list the new app")
        refused = api.post("/api/apps/notes/pages/home/runs", json={"function": "greet", "state": {}})
        assert refused.status_code == 503, refused.text
        assert "no runners serving it yet" in refused.json()["message"], refused.json()
        shutil.rmtree(setup.workspace / "notes")
        workspace_file.write_text(before_notes)
        setup.push("the new app goes again")
        eventually(lambda: "notes" not in listed(), 30, "the API to drop the app")
        eventually(lambda: "notes" not in [app["metadata"]["name"] for app in setup.objects(App)], 30, "notes gone")


def test_a_requirements_change_builds_once_and_the_old_image_serves_meanwhile(serving: Serving) -> None:
    setup = serving.setup
    key = image_key(BASE_IMAGE, setup.app("ops")["spec"]["requirementsHash"])
    requirements = setup.workspace / "ops" / "requirements.txt"
    requirements.write_bytes(requirements.read_bytes() + b"six>=1.16\n")
    third = setup.push("ops: one more requirement")
    jobs = eventually(lambda: len(setup.jobs()) == 2 and setup.jobs(), 60, "the second build Job")
    assert setup.image("ops") == serving.image
    eventually(lambda: setup.reason("ops", "Ready") == "Building", 30, "ops Building")
    newest = next(job for job in jobs if job["metadata"]["labels"]["appyard.dev/build-key"] != key)
    digest2 = "sha256:" + hashlib.sha256(b"ops image 2").hexdigest()
    setup.finish_build(newest, digest2)
    eventually(lambda: setup.image("ops") == f"{REGISTRY}/runner@{digest2}", 60, "ops on the second image")
    setup.start_runners("ops")
    eventually(lambda: setup.app("ops")["status"].get("servingRevision") == third, 60, "the third commit serving")
    images = setup.kube.get(ConfigMap, "appyard-images", namespace=setup.builds).data or {}
    assert len(images) == 2, images  # both builds are remembered: going back needs no build
    time.sleep(2)  # time for a wrong second build to show up
    assert len(setup.jobs()) == 2


def test_a_broken_commit_stalls_the_app_while_its_last_good_revision_serves(serving: Serving) -> None:
    """orders is Stalled with the validation errors; its last good revision keeps serving. Polling (no
    webhook) then finds the fix, and the App is no longer Stalled."""
    setup = serving.setup
    serving_revision = setup.app("orders")["spec"]["revision"]
    orders_code = setup.app("orders")["spec"]["code"]
    page = setup.workspace / "orders" / "orders" / "properties.json"
    good_page = page.read_text()
    broken = json.loads(good_page)
    broken["blocks"][0]["components"].append({"component_type": "button", "name": "ship", "on_click": "no_such_fn"})
    page.write_text(json.dumps(broken, indent=2))
    setup.push("orders: a button bound to a function that does not exist")
    stalled = eventually(
        lambda: (c := setup.condition("orders", "Stalled")) and c["status"] == "True" and c, 30, "orders Stalled"
    )
    assert stalled["reason"] == "Invalid"
    assert "orders/orders/properties.json" in stalled["message"] and "no_such_fn" in stalled["message"]
    assert setup.app("orders")["spec"]["revision"] == serving_revision
    assert setup.app("orders")["spec"]["code"] == orders_code
    assert setup.ready("orders"), "the last good revision keeps serving"
    workspace = setup.get(Workspace, "apps")["status"]
    assert {app["name"]: app["valid"] for app in workspace["apps"]} == {
        **dict.fromkeys(SAMPLE_APPS, True),
        "orders": False,
    }

    interval = {"spec": {"git": {"interval": "1s"}}}
    setup.kube.patch(Workspace, "apps", interval, namespace=setup.namespace, patch_type=PatchType.MERGE)
    page.write_text(good_page)
    fixed = setup.push("orders: fixed", notify=False)
    eventually(lambda: setup.app("orders")["spec"]["revision"] == fixed, 30, "orders at the fixed commit")
    eventually(lambda: setup.condition("orders", "Stalled") is None, 30, "orders no longer Stalled")


def test_restarting_the_operator_changes_nothing(serving: Serving) -> None:
    """No new Jobs, no new rollouts, no duplicate objects after a restart."""
    setup = serving.setup
    before = _inventory(setup)
    setup.operator.stop()
    checked = setup.get(Workspace, "apps")["status"]["lastCheckTime"]
    time.sleep(1)  # lastCheckTime has a resolution of one second
    setup.operator.start()
    eventually(
        lambda: setup.get(Workspace, "apps")["status"]["lastCheckTime"] != checked,
        30,
        "the restarted operator to sync",
    )
    time.sleep(3)  # its App handlers run too
    assert _inventory(setup) == before


def test_deleting_the_workspace_removes_everything_it_owned(serving: Serving, tmp_path: Path) -> None:
    """The real garbage collector removes what the Workspace owned; and with the Apps go their NATS consumers
    and stored results (a run leaves both)."""
    setup = serving.setup
    _run_on_a_runner(setup, tmp_path)
    assert _leftovers(setup.nats, setup.namespace, "ops") == (True, 1)
    setup.kube.delete(Workspace, "apps", namespace=setup.namespace)

    def gone() -> bool:
        return not any(_inventory(setup, include_builds=False).values())

    eventually(gone, 90, "everything the Workspace owned to be deleted")
    assert _leftovers(setup.nats, setup.namespace, "ops") == (False, 0)


# -- data sources --------------------------------------------------------------------------------------------

DB_SECRET = "db-urls"
DB_PASSWORD = "wh-s3cret"


@pytest.fixture
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator looks at each App every second (not every minute), so a Secret's new value (Secrets are read
    by name, never watched) reaches the runners within the test's patience. Listed before ``setup``."""
    monkeypatch.setenv("APPYARD_OPERATOR_APP_CHECK_SECONDS", "1")


def _declare_data_sources(workspace: Path) -> None:
    """The workspace declares two databases; orders uses one of them (after any it uses already), ops none."""
    path = workspace / "properties.json"
    properties = json.loads(path.read_text())
    properties.setdefault("data_sources", {}).update(
        {"warehouse": {"kind": "postgres"}, "crm": {"kind": "mysql", "secret": "crm-url"}}
    )
    path.write_text(json.dumps(properties, indent=2) + "\n")
    path = workspace / "orders" / "properties.json"
    properties = json.loads(path.read_text())
    properties["data_sources"] = [*properties.get("data_sources", []), "warehouse"]
    path.write_text(json.dumps(properties, indent=2) + "\n")


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def _stalled(setup: Setup, app: str) -> dict[str, Any] | None:
    condition = setup.condition(app, "Stalled")
    return condition if condition and condition["reason"] == "DataSource" else None


def _ops_gets_no_data_source(setup: Setup) -> None:
    """ops declares no data source: nothing of them reaches its runners, once its image is built."""
    job = eventually(setup.jobs, 60, "ops's build Job")[0]
    setup.finish_build(job, "sha256:" + hashlib.sha256(b"ops image").hexdigest())
    ops_env = _env(eventually(lambda: setup.deployment("ops"), 60, "ops's Deployment"))
    assert not [name for name in ops_env if name.startswith("APPYARD_DB_") or name == "APPYARD_RUNNER_DATA_SOURCES"]
    assert len(setup.get(NetworkPolicy, "appyard-runner-ops")["spec"]["egress"]) == 2  # NATS and DNS


def test_an_app_gets_exactly_its_declared_data_sources(quick_checks: None, setup: Setup, tmp_path: Path) -> None:
    """orders declares the warehouse database: its runners get that URL from the Workspace's Secret and may reach
    its host; the crm URL in the same Secret reaches no runner; ops, declaring none, gets neither. A missing key
    stalls the App (naming the key, never a URL); a new password rolls the runners; a key removed later stalls the
    App while the runners already serving go on."""
    _declare_data_sources(setup.workspace)
    setup.push("orders uses the warehouse database", notify=False)
    create_secret(setup.kube, setup.namespace, DB_SECRET, {"crm-url": f"mysql://crm:{DB_PASSWORD}@10.1.2.3/crm"})
    setup.create_workspace("apps")  # naming no data-source Secret yet
    stalled = eventually(lambda: _stalled(setup, "orders"), 60, "orders Stalled without a data-source Secret")
    assert (
        "set spec.dataSources.secretName on Workspace 'apps' to a Secret with the key(s) APPYARD_DB_WAREHOUSE"
        in (stalled["message"])
    ), stalled
    settings = {"spec": {"dataSources": {"secretName": DB_SECRET}}}
    setup.kube.patch(Workspace, "apps", settings, namespace=setup.namespace, patch_type=PatchType.MERGE)

    def missing_key() -> dict[str, Any] | None:
        found = _stalled(setup, "orders")
        return found if found and "has no key" in found["message"] else None

    stalled = eventually(missing_key, 60, "orders Stalled for its data source's key")
    assert "the Secret 'db-urls' has no key 'APPYARD_DB_WAREHOUSE'" in stalled["message"], stalled
    assert DB_PASSWORD not in json.dumps(setup.app("orders")["status"])
    with pytest.raises(ApiError):
        setup.deployment("orders")  # runners that could not start are not made

    url = f"postgresql+psycopg://wh:{DB_PASSWORD}@localhost:6543/warehouse"
    setup.kube.patch(
        Secret,
        DB_SECRET,
        {"stringData": {"APPYARD_DB_WAREHOUSE": url}},
        namespace=setup.namespace,
        patch_type=PatchType.MERGE,
    )
    env = _env(eventually(lambda: setup.deployment("orders"), 60, "orders's Deployment once the key is there"))
    reference = env["APPYARD_DB_WAREHOUSE"]["valueFrom"]["secretKeyRef"]
    assert (reference["name"], reference["key"]) == (DB_SECRET, "APPYARD_DB_WAREHOUSE")
    assert "APPYARD_DB_CRM" not in env
    declared = json.loads(env["APPYARD_RUNNER_DATA_SOURCES"]["value"])
    assert "warehouse" in declared and "crm" not in declared and DB_PASSWORD not in json.dumps(declared)
    egress = setup.get(NetworkPolicy, "appyard-runner-orders")["spec"]["egress"]
    database = [rule for rule in egress if rule["ports"] == [{"protocol": "TCP", "port": 6543}]]
    assert len(database) == 1 and {"ipBlock": {"cidr": "127.0.0.1/32"}} in database[0]["to"], egress
    assert "10.1.2.3" not in json.dumps(egress)  # the crm host: no app here declares it
    setup.start_runners("orders")
    eventually(partial(setup.ready, "orders"), 60, "orders Ready")
    eventually(lambda: _stalled(setup, "orders") is None, 30, "orders no longer Stalled")

    _ops_gets_no_data_source(setup)  # it declares none

    # The API in cluster mode sees the same declarations as git (orders validates there too).
    with _api(setup, tmp_path) as (api, server):
        page = api.get("/api/apps/orders/pages/orders")
        assert page.status_code == 200, page.text + server.output()[-3000:]
        health = api.get("/api/health").json()
        assert health["apps"] == len(SAMPLE_APPS) and health["problems"] == 0, health  # no "data source not declared"

    # A new password: the runners roll onto it (the periodic check reads the Secret); the egress stays.
    template = setup.deployment("orders")["spec"]["template"]["metadata"]["annotations"]
    rotated = url.replace(DB_PASSWORD, "rotated-pw")
    setup.kube.patch(
        Secret,
        DB_SECRET,
        {"stringData": {"APPYARD_DB_WAREHOUSE": rotated}},
        namespace=setup.namespace,
        patch_type=PatchType.MERGE,
    )
    eventually(
        lambda: setup.deployment("orders")["spec"]["template"]["metadata"]["annotations"] != template,
        60,
        "orders's runners rolled onto the new URL",
    )
    assert setup.get(NetworkPolicy, "appyard-runner-orders")["spec"]["egress"] == egress
    setup.start_runners("orders")
    eventually(partial(setup.ready, "orders"), 60, "orders Ready on the new URL")

    # The key removed: Stalled, while the runners already serving go on.
    setup.kube.patch(
        Secret,
        DB_SECRET,
        {"data": {"APPYARD_DB_WAREHOUSE": None}},
        namespace=setup.namespace,
        patch_type=PatchType.MERGE,
    )
    stalled = eventually(lambda: _stalled(setup, "orders"), 60, "orders Stalled once the key is gone")
    assert "no key 'APPYARD_DB_WAREHOUSE'" in stalled["message"]
    assert setup.ready("orders")


def _leftovers(server: NatsServer, namespace: str, app: str) -> tuple[bool, int]:
    """:func:`_nats_leftovers` from a thread of its own: an earlier test (Playwright's sync API) may have left
    an event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _nats_leftovers(server, namespace, app)).result()


async def _nats_leftovers(server: NatsServer, namespace: str, app: str) -> tuple[bool, int]:
    """Whether the app's durable consumer exists, and how many results it has in the results bucket."""
    connection = await nats_client.connect(server.url, user_credentials=RawCredentials(server.creds()))
    try:
        js = connection.jetstream()
        try:
            await js.consumer_info(RUNS_STREAM, consumer_name(namespace, app))
            consumer = True
        except NotFoundError:
            consumer = False
        info = await js.stream_info(f"KV_{RESULTS_BUCKET}", subjects_filter=f"$KV.{RESULTS_BUCKET}.{namespace}.{app}.>")
        return consumer, len(info.state.subjects or {})
    finally:
        await connection.close()


def _inventory(setup: Setup, *, include_builds: bool = True) -> dict[str, list[tuple[str, int]]]:
    """Operator-made objects by kind: (name, generation) — generation counts spec changes."""
    labels = {"app.kubernetes.io/managed-by": "appyard-operator"}
    found: dict[str, list[tuple[str, int]]] = {}
    kinds: list[Any] = [App, Deployment, Secret, ConfigMap, NetworkPolicy, Ingress]
    for kind in kinds:
        items = setup.objects(kind, labels=labels)
        found[kind.__name__] = sorted(
            (item["metadata"]["name"], item["metadata"].get("generation", 0)) for item in items
        )
    if include_builds:
        found["Job"] = sorted((job["metadata"]["name"], 0) for job in setup.jobs())
    return found


def _kubectl_columns(setup: Setup) -> None:
    """`kubectl get workspaces,apps` shows what a platform engineer needs at a glance."""
    kubectl = TOOLS / "kubectl"
    result = subprocess.run(
        [str(kubectl), "get", "workspaces,apps", "-n", setup.namespace],
        env=setup.operator.control_plane.kubectl_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    print(result.stdout)
    headers = [line.split() for line in lines if line.startswith("NAME")]
    assert headers == [
        ["NAME", "READY", "REVISION", "LAST", "SYNC", "AGE"],
        ["NAME", "READY", "REVISION", "URL", "AGE"],
    ]
    revision = setup.clone.git("rev-parse", "HEAD")
    assert next(line.split() for line in lines if line.startswith("workspace.appyard.dev/apps"))[1:3] == [
        "True",
        revision,
    ]
    ops = next(line.split() for line in lines if line.startswith("app.appyard.dev/ops"))
    assert ops[1:4] == ["True", revision, "http://apps.example.com/apps/ops"], ops


@contextlib.contextmanager
def _runner(setup: Setup, tmp_path: Path) -> Iterator[Process]:
    """A runner started with the env and volumes of ops's Deployment pod template (the test standing in for the
    kubelet)."""
    kube, ns = setup.kube, setup.namespace
    template = setup.deployment("ops")["spec"]["template"]["spec"]
    container = template["containers"][0]
    root = tmp_path / "pod"
    mounts = {mount["mountPath"]: root / mount["name"] for mount in container["volumeMounts"]}
    for volume in template["volumes"]:
        folder = root / volume["name"]
        folder.mkdir(parents=True)
        if "configMap" in volume:
            config_map = kube.get(ConfigMap, volume["configMap"]["name"], namespace=ns)
            for item in volume["configMap"]["items"]:
                (folder / item["path"]).write_bytes(base64.b64decode((config_map.binaryData or {})[item["key"]]))

    def host(path: str) -> str:
        for mount, folder in sorted(mounts.items(), key=lambda item: -len(item[0])):
            if path == mount or path.startswith(mount + "/"):
                return str(folder / path.removeprefix(mount).lstrip("/"))
        return path

    env: dict[str, str] = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = host(item["value"])
        else:
            reference = item["valueFrom"]["secretKeyRef"]
            secret = kube.get(Secret, reference["name"], namespace=ns)
            env[item["name"]] = base64.b64decode((secret.data or {})[reference["key"]]).decode()
    assert env["APPYARD_RUNNER_NATS_URL"] == setup.nats.url
    # The operator minted ops's runner credentials into its Secret; the runner connects with nothing else.
    assert "BEGIN NATS USER JWT" in env["APPYARD_RUNNER_NATS_CREDS"]
    runner = Process("appyard_runner", env, tmp_path / "runner.log")
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _api(setup: Setup, tmp_path: Path) -> Iterator[tuple[httpx.Client, Api]]:
    """The API in cluster mode serving the Apps of the setup's namespace, with an admin signed in."""
    ns = setup.namespace
    port = free_port()
    api = Api(
        "appyard_api",
        {
            "KUBECONFIG": str(setup.operator.control_plane.kubeconfig),
            "APPYARD_API_MODE": "cluster",
            "APPYARD_API_NAMESPACE": ns,
            "APPYARD_API_NATS_URL": setup.nats.url,
            "APPYARD_API_NATS_CREDS": setup.nats.creds(api_permissions(ns), "api"),
            "APPYARD_API_PORT": str(port),
            "APPYARD_API_CACHE_DIR": str(tmp_path / "api-cache"),
            # cluster mode refuses local sign-in: an admin signs in through a trusted proxy's headers
            "APPYARD_API_AUTH": "proxy",
            "APPYARD_API_TRUSTED_PROXIES": '["127.0.0.0/8"]',
            "APPYARD_API_ADMIN_GROUPS": '["admins"]',
        },
        tmp_path / "api.log",
        port=port,
    )
    try:
        api.start()
        admin = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "admins"}
        with httpx.Client(base_url=api.url, timeout=60, headers=admin) as client:
            yield client, api
    finally:
        api.stop()


def _run_on_a_runner(setup: Setup, tmp_path: Path) -> None:
    """POST a run to the API in cluster mode; a runner started from ops's Deployment answers over the same NATS
    path as in local mode."""
    with _runner(setup, tmp_path) as runner, _api(setup, tmp_path) as (client, api):
        apps = client.get("/api/apps").json()
        assert sorted(app["name"] for app in apps) == SAMPLE_APPS, apps
        page = client.get("/api/apps/ops/pages/hashing").json()
        assert "compute_hash" in [function["name"] for function in page["functions"]]
        response = client.post(
            "/api/apps/ops/pages/hashing/runs",
            json={"function": "compute_hash", "state": {"hash": {"text": "abc", "algorithm": "sha256"}}},
        )
        assert response.status_code == 200, response.text + api.output() + runner.output()
        body = response.json()
        assert body["status"] == "succeeded", body
        assert hashlib.sha256(b"abc").hexdigest() in body["context"]["hash"]["components"]["result"]["text"]
        # The Deployment sets APPYARD_LOG_FORMAT=json: every line `kubectl logs` would show is a JSON object.
        eventually(
            lambda: body["run_id"] in [json.loads(line).get("run_id") for line in runner.output().splitlines()],
            10,
            "the runner's JSON line about the run",
        )
        refused = client.put("/api/apps/ops/pages/hashing/properties", json=page["properties"])
        assert refused.status_code == 403 and "git push" in refused.json()["message"]


def test_the_operator_stops_when_its_crds_are_missing(tmp_path: Path, nats: NatsServer) -> None:
    """Kopf only serves the resources found at startup (it does not watch for new CRDs, which would need RBAC on
    every CRD of the cluster): without the CRDs the operator exits saying so, and its pod restarts until they are
    installed, rather than running and serving nothing."""
    plane = ControlPlane(tmp_path / "bare-controlplane")
    plane.start()
    try:
        operator = Operator(plane, [], nats, tmp_path / "operator")
        with pytest.raises(RuntimeError, match="exited"):
            operator.start()
        assert "the Workspace CRD is not installed" in operator.output(), operator.output()[-3000:]
    finally:
        plane.stop()
