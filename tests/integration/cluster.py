"""Helpers for tests against the real control plane: a client, namespaces, and a stand-in for the kubelet."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from lightkube import Client, codecs
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from appyard.brokerauth import operator_permissions
from appyard.resources import API_VERSION, GROUP, VERSION

from .controlplane import ControlPlane
from .servers import NatsServer, Process, free_port, wait_for

REPO = Path(__file__).resolve().parent.parent.parent
App = create_namespaced_resource(GROUP, VERSION, "App", "apps")
Workspace = create_namespaced_resource(GROUP, VERSION, "Workspace", "workspaces")


def eventually(check: Callable[[], Any], timeout: float = 60, what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something truthy (tests only; never asserts a duration)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (ApiError, KeyError, IndexError, AssertionError) as error:
            last, value = error, None
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {timeout} s (last error: {last})")


def install_crds(client: Client) -> None:
    for path in sorted((REPO / "crds").glob("*.yaml")):
        for obj in codecs.load_all_yaml(path.read_text()):
            client.apply(obj, field_manager="tests", force=True)
    eventually(lambda: list(client.list(App, namespace="default")) is not None, 30, "the App CRD to be served")


def namespace(client: Client, name: str) -> str:
    """A namespace where the API server enforces the Pod Security Standard *restricted*."""
    return create_namespace(client, name, "restricted")


def create_namespace(client: Client, name: str, level: str) -> str:
    """A namespace where the API server enforces the Pod Security Standard ``level``."""
    labels = {"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": "latest"}
    client.create(
        codecs.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
    )
    return name


def pods(client: Client, namespace: str, labels: dict[str, str]) -> list[Pod]:
    return list(client.list(Pod, namespace=namespace, labels=labels))  # type: ignore[arg-type]


def start_runners(client: Client, namespace: str, app: str, template: dict[str, Any]) -> None:
    """Every runner Pod of ``app`` made from its Deployment's current pod ``template`` (the real controllers
    made them; same code hash and image) runs, standing in for the kubelet."""
    code = template["metadata"]["annotations"]["appyard.dev/code-hash"]
    image = template["spec"]["containers"][0]["image"]

    def current() -> list[Pod]:
        return [
            pod
            for pod in pods(client, namespace, {"appyard.dev/app": app})
            if pod.metadata is not None
            and pod.spec is not None
            and (pod.metadata.annotations or {}).get("appyard.dev/code-hash") == code
            and pod.spec.containers[0].image == image
            and pod.metadata.deletionTimestamp is None
        ]

    for pod in eventually(current, 60, f"runner Pods of {app}"):
        if pod.status is None or pod.status.phase != "Running":
            run_pod(client, pod)


def finish_pod(client: Client, pod: Pod, message: str) -> None:
    """Stand in for the kubelet: the Pod's only container ran and exited 0, writing ``message`` to its
    termination log (how kaniko reports the pushed image's digest)."""
    _terminate(client, pod, 0, message)


def fail_pod(client: Client, pod: Pod, output: str) -> None:
    """Stand in for the kubelet: the Pod's only container exited 1; with ``FallbackToLogsOnError`` the end of
    its log (``output``) becomes the termination message."""
    _terminate(client, pod, 1, output)


def _terminate(client: Client, pod: Pod, code: int, message: str) -> None:
    terminated = {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "message": message,
        "startedAt": _now(),
        "finishedAt": _now(),
    }
    ready = [{"type": "Ready", "status": "False", "lastTransitionTime": _now()}]
    _set_status(client, pod, "Succeeded" if code == 0 else "Failed", ready, {"terminated": terminated})


def run_pod(client: Client, pod: Pod) -> None:
    """Stand in for the kubelet: the Pod is running and ready."""
    conditions = [
        {"type": condition, "status": "True", "lastTransitionTime": _now()}
        for condition in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]
    _set_status(client, pod, "Running", conditions, {"running": {"startedAt": _now()}})


def _set_status(client: Client, pod: Pod, phase: str, conditions: list[dict[str, str]], state: dict[str, Any]) -> None:
    """Write the status a kubelet would for a Pod with one container in ``state``."""
    assert pod.metadata is not None
    assert pod.spec is not None
    container = pod.spec.containers[0]
    running = "running" in state
    status = {
        "phase": phase,
        "podIP": "10.1.0.10",
        "startTime": _now(),
        "conditions": conditions,
        "containerStatuses": [
            {
                "name": container.name,
                "image": container.image,
                "imageID": "",
                "ready": running,
                "restartCount": 0,
                "started": running,
                "state": state,
            }
        ],
    }
    client.patch(
        Pod.Status,
        str(pod.metadata.name),
        {"status": status},
        namespace=pod.metadata.namespace,
        patch_type=PatchType.MERGE,
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def create(kube: Client, obj: dict[str, Any], namespace: str | None = None, *, dry_run: bool = False) -> None:
    resource: Any = codecs.from_dict(obj)
    kube.create(resource, namespace=namespace, dry_run=dry_run)


def create_secret(kube: Client, namespace: str, name: str, data: dict[str, str]) -> None:
    create(
        kube,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "stringData": data},
    )


def workspace_object(name: str, url: str, nats_url: str, hook_secret: str, **spec: Any) -> dict[str, Any]:
    """A Workspace following ``main`` of ``url`` (its workspace in the folder ``workspace``), runners on
    ``nats_url``, push webhooks signed with the Secret ``hook_secret``; ``spec`` adds or overrides spec fields."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Workspace",
        "metadata": {"name": name},
        "spec": {
            "git": {"url": url, "ref": "main", "path": "workspace", "interval": "1h"},
            "runners": {"natsUrl": nats_url},
            "webhookSecretRef": {"name": hook_secret},
            **spec,
        },
    }


def sign(key: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header a git host sends with a push webhook."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def as_dict(resource: Any) -> dict[str, Any]:
    converted: dict[str, Any] = resource.to_dict()
    return converted


@dataclass
class Operator:
    """``python -m appyard_operator`` watching the test's namespaces."""

    control_plane: ControlPlane
    namespaces: list[str]
    nats: NatsServer
    folder: Path
    webhook_port: int = 0
    process: Process | None = None
    # Whom the operator is (default: the control plane's admin), e.g. a ServiceAccount's token (tests/chart).
    kubeconfig: Path | None = None

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}"

    def start(self) -> None:
        self.webhook_port = free_port()
        env = {
            "KUBECONFIG": str(self.kubeconfig or self.control_plane.kubeconfig),
            "APPYARD_OPERATOR_NAMESPACES": json.dumps(self.namespaces),
            "APPYARD_OPERATOR_NATS_URL": self.nats.url,
            "APPYARD_OPERATOR_NATS_ACCOUNT_SEED": self.nats.trust.account.seed,
            "APPYARD_OPERATOR_NATS_CREDS": self.nats.creds(operator_permissions(), "operator"),
            "APPYARD_OPERATOR_CACHE_DIR": str(self.folder / "cache"),
            "APPYARD_OPERATOR_WEBHOOK_HOST": "127.0.0.1",
            "APPYARD_OPERATOR_WEBHOOK_PORT": str(self.webhook_port),
            "APPYARD_OPERATOR_HEALTH_PORT": str(free_port()),
            "APPYARD_OPERATOR_TICK_SECONDS": "0.5",
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        count = len(list(self.folder.glob("operator-*.log")))
        self.process = Process("appyard_operator", env, self.folder / f"operator-{count}.log")
        self.process.start()

        def listening() -> bool:
            try:
                return httpx.get(f"{self.webhook}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(listening, 30, f"the operator (log: {self.process.log})", self.process.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def output(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-6000:] for path in sorted(self.folder.glob("operator-*.log"))
        )
