"""Appyard installed into the test cluster the way docs/install.md tells a platform team, and a git repository
the operator follows.

Nothing here stands in for a part of Kubernetes: the images are the ones `tests/cluster/images.py` built from
our Dockerfile, imported into the node's containerd (or pushed to the registry on the node's address), the chart
is installed by helm, and everything after that is done by the cluster — the operator clones the repository,
builds images with kaniko in a Job, and the kubelet runs the runner pods.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml
from lightkube import Client, KubeConfig
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import Pod, Service

from appyard.tooling import brokerkeys
from tests.chart.support import CHART, Tools
from tests.integration.cluster import sign
from tests.integration.gitserver import Clone, GitServer
from tests.waiting import eventually

from .configs import NODE_IP, POD_GATEWAY, REGISTRY
from .images import Image
from .node import Cluster
from .registry import Registry

REPO = Path(__file__).resolve().parent.parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "pods"
NAMESPACE = "tools"  # the release's namespace, where Workspaces go and runners run (Pod Security restricted)
BUILDS = "appyard-builds"  # where build Jobs run (baseline: kaniko is root in its container)
NATS_SECRET = "appyard-nats"
HOOK_SECRET = "push-hook"
HOOK_KEY = b"a push webhook key of the cluster tier"
WORKSPACE = "apps"
APP = "podinfo"  # the fixture's app
RUNS = f"/api/apps/{APP}/pages/home/runs"
INGRESS_CLASS = "appyard-test"
HOST = "appyard.test"
# The registry's name for the runner base image that build Jobs start FROM and apps without requirements run.
BASE = "appyard/runner:test"
# Whom the browser is: the API runs in proxy mode and believes X-Forwarded-* only from the node's bridge address,
# where traffic from this machine (a browser here, the ingress controller on the node) comes from.
USER = {"X-Forwarded-User": "dev@example.com", "X-Forwarded-Email": "dev@example.com", "X-Forwarded-Groups": "staff"}


def values(images: dict[str, Image], *, ingress: bool) -> dict[str, Any]:
    """The chart values of this install: our images (already on the node), proxy sign-in, bundled NATS."""

    def image(name: str) -> dict[str, str]:
        repository, _, tag = images[name].name.rpartition(":")
        return {"repository": repository, "tag": tag, "pullPolicy": "Never"}

    small = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}
    api: dict[str, Any] = {
        "image": image("api"),
        "replicaCount": 1,
        "pdb": {"enabled": False},
        "auth": {
            "mode": "proxy",
            "adminGroups": ["admins"],
            "proxy": {"trustedProxies": [f"{POD_GATEWAY}/32"]},
        },
        "resources": small,
    }
    if ingress:
        api["ingress"] = {
            "enabled": True,
            "className": INGRESS_CLASS,
            "hosts": [{"host": HOST, "paths": [{"path": "/", "pathType": "Prefix"}]}],
        }
        api["auth"]["publicUrl"] = f"http://{HOST}"
    return {
        "fullnameOverride": "appyard",
        "operator": {
            "image": image("operator"),
            "watchNamespaces": [NAMESPACE, BUILDS],
            "resources": small,
            # A Workspace is looked at every few seconds (the default is fine for people, slow for a test).
            "extraEnv": [{"name": "APPYARD_OPERATOR_TICK_SECONDS", "value": "1"}],
        },
        "api": api,
        "nats": {
            "mode": "bundled",
            "auth": {"existingSecret": NATS_SECRET},
            "bundled": {
                "image": image("nats"),
                "storage": {"size": "1Gi"},
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            },
        },
    }


@dataclass
class Appyard:
    """The release, its git repository and a developer's clone of it."""

    cluster: Cluster
    folder: Path
    tools: Tools
    kube: Client
    git: GitServer
    clone: Clone
    base_image: str
    ingress_url: str | None  # the ingress controller's URL, or None (then the API's Service is used)
    builder_image: str

    # ---- what a developer does

    def push(self, message: str) -> str:
        """Commit the clone and push it; the git host tells the operator (the push webhook). Returns the commit."""
        commit = self.clone.commit(message)
        self.hook()
        return commit

    def hook(self) -> None:
        body = json.dumps({"ref": "refs/heads/main", "after": self.clone.git("rev-parse", "HEAD")}).encode()
        url = f"{self.service_url('appyard-operator-webhook')}/hooks/{NAMESPACE}/{WORKSPACE}"
        response = httpx.post(
            url,
            content=body,
            headers={"X-Hub-Signature-256": sign(HOOK_KEY, body), "Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code < 300, f"the push webhook answered {response.status_code}: {response.text}"

    def write(self, path: str, text: str) -> None:
        target = self.clone.folder / "workspace" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    # ---- what the test looks at

    def kubectl(self, *args: str) -> str:
        return self.tools.kubectl(*args)

    def service_url(self, name: str, namespace: str = NAMESPACE) -> str:
        """http://<ClusterIP>:<port> of a Service: kube-proxy routes it from this machine as from a pod."""
        service = self.kube.get(Service, name, namespace=namespace)
        assert service.spec is not None and service.spec.ports
        return f"http://{service.spec.clusterIP}:{service.spec.ports[0].port}"

    @property
    def url(self) -> str:
        """Where a person opens Appyard: through the ingress controller, or the API's Service when there is none."""
        return f"http://{HOST}" if self.ingress_url else self.service_url("appyard-api")

    def api(self) -> httpx.Client:
        """An HTTP client of the API as the signed-in developer (through the same path as the browser)."""
        if self.ingress_url:
            return httpx.Client(base_url=self.ingress_url, headers={**USER, "Host": HOST}, timeout=60)
        return httpx.Client(base_url=self.url, headers=USER, timeout=60)

    def app(self, name: str) -> dict[str, Any]:
        return json.loads(self.kubectl("-n", NAMESPACE, "get", "apps.appyard.dev", name, "-o", "json"))  # type: ignore[no-any-return]

    def runner_pods(self, app: str, *, running: bool = True) -> list[Pod]:
        pods = self.kube.list(Pod, namespace=NAMESPACE, labels={"appyard.dev/app": app})
        return [
            pod
            for pod in pods
            if not running
            or (
                pod.status is not None
                and pod.status.phase == "Running"
                and pod.metadata is not None
                and pod.metadata.deletionTimestamp is None
                and all(status.ready for status in pod.status.containerStatuses or [])
            )
        ]

    def kube_pod(self, name: str) -> dict[str, Any]:
        """A pod as JSON (what `kubectl get -o json` shows)."""
        return json.loads(self.kubectl("-n", NAMESPACE, "get", "pod", name, "-o", "json"))  # type: ignore[no-any-return]

    def exec(self, pod: str, *command: str) -> str:
        """`kubectl exec` in a pod's first container (through the kubelet, as a person would)."""
        return self.kubectl("-n", NAMESPACE, "exec", pod, "--", *command)

    def jobs(self) -> list[dict[str, Any]]:
        listed = json.loads(self.kubectl("-n", BUILDS, "get", "jobs", "-o", "json"))
        return list(listed["items"])

    def explain(self) -> str:
        """What a failing test prints: the cluster's objects, events and the Appyard pods' logs."""
        parts = []
        for args in (
            ("get", "pods,jobs,deployments,apps.appyard.dev,workspaces.appyard.dev", "-A", "-o", "wide"),
            ("get", "events", "-A", "--sort-by=.lastTimestamp"),
        ):
            try:
                parts.append(self.kubectl(*args)[-6000:])
            except Exception as error:
                parts.append(f"kubectl {' '.join(args)}: {error}")
        for selector in ("app.kubernetes.io/component=operator", "app.kubernetes.io/component=api"):
            try:
                parts.append(self.kubectl("-n", NAMESPACE, "logs", "-l", selector, "--tail=60")[-6000:])
            except Exception as error:
                parts.append(f"logs of {selector}: {error}")
        parts.append(self.cluster.logs()[-6000:])
        return "\n\n".join(parts)


def _persistent_volume(folder: Path) -> dict[str, Any]:
    """A volume for the bundled NATS: the test cluster has no provisioner, so the admin makes one (hostPath)."""
    data = folder / "nats-volume"
    data.mkdir(parents=True, exist_ok=True)
    os.chown(data, 1000, 1000)  # nats.bundled.runAsUser; hostPath volumes do not honour fsGroup
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "appyard-test-nats"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "hostPath": {"path": str(data), "type": "Directory"},
        },
    }


def _wait_ready(kube: Client, explain: Callable[[], str]) -> None:
    def ready() -> bool:
        api = kube.get(Deployment, "appyard-api", namespace=NAMESPACE)
        operator = kube.get(Deployment, "appyard-operator", namespace=NAMESPACE)
        nats = kube.get(StatefulSet, "appyard-nats", namespace=NAMESPACE)
        return all(
            status is not None and (status.readyReplicas or 0) >= 1
            for status in (api.status, operator.status, nats.status)
        )

    eventually(ready, "the release's API, operator and NATS ready", 240, explain=explain)


@contextmanager
def install(
    cluster: Cluster,
    images: dict[str, Image],
    registry: Registry,
    folder: Path,
    *,
    ingress_url: str | None,
) -> Iterator[Appyard]:
    """docs/install.md, step by step, against the test cluster; yields the release with the pods fixture pushed."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("api", "operator", "nats", "kaniko"):
        cluster.import_image(images[name].archive, images[name].name)
    registry.push(images["runner"], BASE)
    base = f"{REGISTRY}/{BASE}"
    (folder / "helm").mkdir()
    tools = Tools(cluster.kubeconfig, folder / "helm")
    kube = Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="tests")
    for namespace, level in ((NAMESPACE, "restricted"), (BUILDS, "baseline")):
        tools.kubectl("create", "namespace", namespace)
        tools.kubectl("label", "namespace", namespace, f"pod-security.kubernetes.io/enforce={level}")
    keys = folder / "keys"
    brokerkeys.write(keys, [NAMESPACE], 1)
    tools.kubectl("-n", NAMESPACE, "create", "secret", "generic", NATS_SECRET, f"--from-file={keys}")
    tools.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(_persistent_volume(folder)))
    tools.helm(
        "install", "appyard", str(CHART), "-n", NAMESPACE, values=values(images, ingress=ingress_url is not None)
    )
    git = GitServer(folder / "git", host=NODE_IP)
    try:
        git.create("tools")
        clone = Clone(folder / "clone", git.url("tools"))
        clone.copy(FIXTURE)
        clone.commit("Pod info")
        release = Appyard(
            cluster=cluster,
            folder=folder,
            tools=tools,
            kube=kube,
            git=git,
            clone=clone,
            base_image=base,
            ingress_url=ingress_url,
            builder_image=images["kaniko"].name,
        )
        _wait_ready(kube, release.explain)
        tools.kubectl(
            "-n", NAMESPACE, "create", "secret", "generic", HOOK_SECRET, f"--from-literal=secret={HOOK_KEY.decode()}"
        )
        tools.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(workspace(release)))
        yield release
    finally:
        git.stop()


def workspace(release: Appyard) -> dict[str, Any]:
    """The Workspace of docs/install.md step 4, for the test's repository, registry and ingress class."""
    return {
        "apiVersion": "appyard.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": WORKSPACE, "namespace": NAMESPACE},
        "spec": {
            "git": {"url": release.git.url("tools"), "ref": "main", "path": "workspace", "interval": "1h"},
            "webhookSecretRef": {"name": HOOK_SECRET},
            # The cluster's DNS (CoreDNS) runs on the node, not as a kube-dns pod: the runners' NetworkPolicy, which
            # allows DNS to kube-dns pods only, would stop their lookups. So they get NATS's Service address (the
            # Workspace field docs/install.md gives for a NATS of your own).
            "runners": {"natsUrl": f"nats://{release.service_url('appyard-nats').removeprefix('http://')}"},
            "build": {
                "registry": f"{REGISTRY}/appyard",
                "baseImage": release.base_image,
                "builderImage": release.builder_image,
                "namespace": BUILDS,
                "insecureRegistry": True,
            },
            "ingress": {"className": INGRESS_CLASS, "host": HOST} if release.ingress_url else {},
        },
    }


class Wheelhouse:
    """A package index for the requirements test: one wheel made here, served on the node's address.

    Build pods have no way out of this machine, so an app's requirements.txt points pip at this folder (pip's
    `--find-links` reads the directory listing); it is the cluster tier's stand-in for PyPI or a company mirror.
    """

    NAME = "pods-greeting"
    GREETING = "hello from a wheel"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._wheel(folder / "pods_greeting-1.0-py3-none-any.whl")
        handler = partial(_QuietFiles, directory=str(folder))
        self.server = ThreadingHTTPServer((NODE_IP, 0), handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _wheel(self, path: Path) -> None:
        files = {
            "pods_greeting/__init__.py": f'GREETING = "{self.GREETING}"\n'.encode(),
            "pods_greeting-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: pods-greeting\nVersion: 1.0\n",
            "pods_greeting-1.0.dist-info/WHEEL": (
                b"Wheel-Version: 1.0\nGenerator: appyard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            ),
        }
        record = [
            f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
            for name, data in files.items()
        ]
        files["pods_greeting-1.0.dist-info/RECORD"] = (
            "\n".join([*record, "pods_greeting-1.0.dist-info/RECORD,,"]) + "\n"
        ).encode()
        with zipfile.ZipFile(path, "w") as wheel:
            for name, data in files.items():
                wheel.writestr(name, data)

    def requirements(self) -> str:
        """A requirements.txt that installs the wheel from here only."""
        return f"--no-index\n--find-links http://{NODE_IP}:{self.port}/\n--trusted-host {NODE_IP}\n{self.NAME}==1.0\n"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        return


def serving(release: Appyard, app: str = APP) -> list[str]:
    """The names of the app's runner pods once the App says Ready and its rollout is over — every pod ready, none
    terminating — else an empty list (a pod picked mid-rollout may be gone a moment later)."""
    conditions = {c["type"]: c for c in release.app(app).get("status", {}).get("conditions", [])}
    if conditions.get("Ready", {}).get("status") != "True":
        return []
    every = release.runner_pods(app, running=False)
    ready = release.runner_pods(app)
    if len(ready) != len(every):
        return []
    return [pod.metadata.name for pod in ready if pod.metadata and pod.metadata.name]


def run(release: Appyard, function: str, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run through the API, as the developer; returns the API's answer."""
    with release.api() as api:
        response = api.post(RUNS, json={"function": function, "state": state or {}})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def answer_text(result: dict[str, Any]) -> str:
    assert result["status"] == "succeeded", result
    return str(result["context"]["pod"]["components"]["answer"]["text"])
