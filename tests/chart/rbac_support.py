"""The chart's RBAC as data, and clients that are the chart's ServiceAccounts (tokens from the TokenRequest API)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from lightkube import Client, KubeConfig, codecs
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview
from lightkube.resources.core_v1 import ServiceAccount

from ..integration.controlplane import TOOLS, ControlPlane
from .support import CHART, KUBE_VERSION, NATS_SECRET

RELEASE = "appyard"
# What every render needs whatever the test is about (the chart refuses to render without NATS keys or without the
# settings of its sign-in mode); the --show-only template is still rendered with every other template.
REQUIRED = {
    "nats.auth.existingSecret": NATS_SECRET,
    "api.auth.mode": "proxy",
    "api.auth.proxy.trustedProxies": "{10.0.0.0/8}",
}

Rule = tuple[str, str, str]  # (API group, resource, verb)


def render(namespace: str, values: dict[str, str] | None = None, template: str = "templates/rbac.yaml") -> list[Any]:
    """``helm template`` of one template of the chart, as objects (``values``: ``--set`` pairs)."""
    settings = [f"--set={key}={value}" for key, value in {**REQUIRED, **(values or {})}.items()]
    result = subprocess.run(
        [
            str(TOOLS / "helm"),
            "template",
            RELEASE,
            str(CHART),
            f"--namespace={namespace}",
            f"--kube-version={KUBE_VERSION}",  # helm's default (1.20) is older than the chart's kubeVersion
            f"--show-only={template}",
            *settings,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [item for item in yaml.safe_load_all(result.stdout) if item]


def rules(objects: list[Any]) -> dict[str, set[Rule]]:
    """Every (group, resource, verb) each Role or ClusterRole grants, by ``Kind namespace/name``."""
    found: dict[str, set[Rule]] = {}
    for obj in objects:
        if obj["kind"] not in ("Role", "ClusterRole"):
            continue
        meta = obj["metadata"]
        key = f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}"
        found[key] = {
            (group, resource, verb)
            for rule in obj.get("rules") or []
            for group in rule.get("apiGroups") or []
            for resource in rule.get("resources") or []
            for verb in rule.get("verbs") or []
        }
    return found


def apply(client: Client, objects: list[Any]) -> None:
    """Apply rendered objects as an admin would with ``helm install``."""
    for obj in objects:
        client.apply(codecs.from_dict(obj), field_manager="helm", force=True)


def token(client: Client, namespace: str, account: str) -> str:
    """A short-lived token of the ServiceAccount from the TokenRequest API (what a projected volume holds)."""
    request = ServiceAccount.Token(
        metadata=ObjectMeta(name=account, namespace=namespace),
        spec=TokenRequestSpec(audiences=[], expirationSeconds=3600),
    )
    issued = client.create(request, name=account, namespace=namespace)
    assert issued.status is not None
    return str(issued.status.token)


def kubeconfig(plane: ControlPlane, bearer: str, path: Path, namespace: str) -> Path:
    """A kubeconfig that authenticates with ``bearer`` only (no client certificate)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "test",
                        "cluster": {"server": plane.url, "certificate-authority": str(plane.folder / "ca.crt")},
                    }
                ],
                "users": [{"name": "account", "user": {"token": bearer}}],
                "contexts": [
                    {"name": "test", "context": {"cluster": "test", "user": "account", "namespace": namespace}}
                ],
                "current-context": "test",
            }
        )
    )
    path.chmod(0o600)
    return path


def client_for(path: Path) -> Client:
    return Client(KubeConfig.from_file(path), field_manager="tests")


def allowed(client: Client, verb: str, resource: str, namespace: str, group: str = "") -> bool:
    """Whether the client's identity may do ``verb`` on ``resource`` (a SelfSubjectAccessReview)."""
    attributes = ResourceAttributes(verb=verb, resource=resource, group=group, namespace=namespace)
    review = client.create(SelfSubjectAccessReview(spec=SelfSubjectAccessReviewSpec(resourceAttributes=attributes)))
    assert review.status is not None
    return bool(review.status.allowed)
