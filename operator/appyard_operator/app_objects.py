"""What an App should have in the cluster, from its spec and what was observed (pure: no I/O).

Per app: a Secret with the runners' NATS connection and credentials, a runner Deployment (Pod Security Standard
*restricted*), a NetworkPolicy (NATS and DNS only), an Ingress path, and — when the app has a
requirements.txt and no image was built for (base image, requirements) yet — a build Job. The runner objects
are owned by the App, so deleting it removes them. Builds are shared by every app with the same requirements:
a build Job is owned by the Workspace when it runs in the Workspace's namespace (else its TTL removes it),
and the record of built images (``appyard-images``) by nobody, since images outlive the apps that asked.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from appyard import bundles
from appyard.resources import API_VERSION, AppResource, AppStatus, WorkspaceResource, kubernetes_name

from . import credentials
from .conditions import fold

Obj = dict[str, Any]
MANAGED = {"app.kubernetes.io/managed-by": "appyard-operator", "app.kubernetes.io/part-of": "appyard"}
IMAGES = "appyard-images"
RUNNER_UID = 10001


@dataclass(frozen=True)
class Build:
    """The state of an image build: none started, running, done (with the pushed digest) or failed."""

    state: Literal["none", "running", "succeeded", "failed"]
    message: str = ""


@dataclass(frozen=True)
class Rollout:
    """The runner Deployment as observed."""

    exists: bool = False
    desired: int = 0
    ready: int = 0
    updated: int = 0
    code_hash: str | None = None
    image: str | None = None


def name_of(app: str) -> str:
    return f"appyard-runner-{kubernetes_name(app)}"


def image_key(base_image: str, requirements_hash: str) -> str:
    """Runner images are keyed by what goes into them: the base image and the requirements."""
    return hashlib.sha256(f"{base_image}\n{requirements_hash}".encode()).hexdigest()[:16]


def owner(resource: dict[str, Any], kind: str) -> Obj:
    meta = resource["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(name: str, namespace: str, app: str, owners: list[Obj], extra: dict[str, str] | None = None) -> Obj:
    labels = {
        **MANAGED,
        "app.kubernetes.io/name": "appyard-runner",
        "appyard.dev/app": kubernetes_name(app),
        **(extra or {}),
    }
    return {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": owners}


def secret(app: AppResource, raw: Obj, nats_url: str, creds: str | None = None) -> Obj:
    """The runners' connection: the NATS URL and, when the operator signs them, the app's credentials."""
    meta = app.metadata
    data = {"nats-url": nats_url} | ({credentials.KEY: creds} if creds else {})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name_of(meta.name), meta.namespace or "", meta.name, [owner(raw, "App")]),
        "type": "Opaque",
        "stringData": data,
    }


def deployment(app: AppResource, raw: Obj, workspace: WorkspaceResource, image: str, creds: str | None = None) -> Obj:
    meta = app.metadata
    spec = app.spec
    name = name_of(meta.name)
    selector = {"appyard.dev/app": kubernetes_name(meta.name), "app.kubernetes.io/component": "runner"}
    memory = (spec.runner.concurrency + 1) * spec.runner.memory_mb
    pull = workspace.spec.build.push_secret_ref
    container_security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    env = [
        {"name": "APPYARD_RUNNER_APP", "value": spec.app},
        {"name": "APPYARD_RUNNER_NAMESPACE", "value": meta.namespace},
        {"name": "APPYARD_RUNNER_NATS_URL", "valueFrom": {"secretKeyRef": {"name": name, "key": "nats-url"}}},
        # The text of the credentials, which the runner takes out of its environment before any run (a mounted
        # file would stay readable by runs).
        *(
            [
                {
                    "name": "APPYARD_RUNNER_NATS_CREDS",
                    "valueFrom": {"secretKeyRef": {"name": name, "key": credentials.KEY}},
                }
            ]
            if creds
            else []
        ),
        {"name": "APPYARD_RUNNER_BUNDLE", "value": f"/appyard/code/{bundles.KEY}"},
        {"name": "APPYARD_RUNNER_WORKSPACE", "value": "/tmp/appyard/workspace"},
        {"name": "APPYARD_RUNNER_TMP_DIR", "value": "/tmp/appyard/runs"},
        {"name": "APPYARD_DATA_DIR", "value": "/data"},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, meta.namespace or "", meta.name, [owner(raw, "App")]),
        "spec": {
            "replicas": spec.runner.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": {**MANAGED, "app.kubernetes.io/name": "appyard-runner", **selector},
                    # The code, not the commit: a commit that does not touch this app changes nothing here.
                    # New credentials (re-minted before they expire) roll the runners onto them.
                    "annotations": {"appyard.dev/code-hash": spec.code_hash}
                    | ({"appyard.dev/credentials-hash": credentials.fingerprint(creds)} if creds else {}),
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUNNER_UID,
                        "runAsGroup": RUNNER_UID,
                        "fsGroup": RUNNER_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "imagePullSecrets": [{"name": pull.name}] if pull else [],
                    "terminationGracePeriodSeconds": 45,
                    "containers": [
                        {
                            "name": "runner",
                            "image": image,
                            "env": env,
                            "resources": {
                                "requests": {"cpu": "100m", "memory": f"{spec.runner.memory_mb}Mi"},
                                "limits": {"cpu": workspace.spec.runners.cpu, "memory": f"{memory}Mi"},
                            },
                            "securityContext": container_security,
                            "volumeMounts": [
                                {"name": "code", "mountPath": "/appyard/code", "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "data", "mountPath": "/data"},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "code",
                            "configMap": {"name": spec.code, "items": [{"key": bundles.KEY, "path": bundles.KEY}]},
                        },
                        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "data", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def network_policy(app: AppResource, raw: Obj, workspace: WorkspaceResource) -> Obj:
    meta = app.metadata
    selector = {"appyard.dev/app": kubernetes_name(meta.name), "app.kubernetes.io/component": "runner"}
    dns = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name_of(meta.name), meta.namespace or "", meta.name, [owner(raw, "App")]),
        "spec": {
            "podSelector": {"matchLabels": selector},
            # Ingress listed with no rules: nothing may connect to a runner.
            "policyTypes": ["Ingress", "Egress"],
            "egress": [
                {
                    "to": [
                        {"namespaceSelector": {}, "podSelector": {"matchLabels": workspace.spec.runners.nats_labels}}
                    ],
                    "ports": [{"protocol": "TCP", "port": 4222}],
                },
                {"to": [dns], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            ],
        },
    }


def app_url(app: AppResource, workspace: WorkspaceResource) -> str:
    ingress = workspace.spec.ingress
    path = f"/apps/{app.metadata.name}"
    if not ingress.host:
        return path
    return f"{'https' if ingress.tls_secret_name else 'http'}://{ingress.host}{path}"


def ingress(app: AppResource, raw: Obj, workspace: WorkspaceResource) -> Obj:
    meta = app.metadata
    settings = workspace.spec.ingress
    backend = {"service": {"name": settings.service_name, "port": {"number": settings.service_port}}}
    rule: Obj = {"http": {"paths": [{"path": f"/apps/{meta.name}", "pathType": "Prefix", "backend": backend}]}}
    if settings.host:
        rule["host"] = settings.host
    spec: Obj = {"rules": [rule]}
    if settings.class_name:
        spec["ingressClassName"] = settings.class_name
    if settings.tls_secret_name and settings.host:
        spec["tls"] = [{"hosts": [settings.host], "secretName": settings.tls_secret_name}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(
            f"appyard-{kubernetes_name(meta.name)}", meta.namespace or "", meta.name, [owner(raw, "App")]
        ),
        "spec": spec,
    }


DOCKERFILE = """FROM {base}
USER root
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt && rm /tmp/requirements.txt
USER {uid}
"""


def images_map(namespace: str) -> Obj:
    """The ConfigMap recording built images: image key → repository@digest."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": IMAGES, "namespace": namespace, "labels": MANAGED},
        "data": {},
    }


def build_objects(
    app: AppResource, workspace: WorkspaceResource, workspace_raw: Obj, key: str, context: bytes
) -> list[Obj]:
    """The build context (a ConfigMap holding a tar.gz) and the Job that builds and pushes the image."""
    build = workspace.spec.build
    namespace = build.namespace or app.metadata.namespace or ""
    name = f"appyard-build-{key}"
    # Images are shared by every app with the same base image and requirements, so they are named by key.
    destination = f"{build.registry}/runner:{key}"
    labels = {**MANAGED, "app.kubernetes.io/name": "appyard-build", "appyard.dev/build-key": key}
    # Owner references cannot cross namespaces: a build in a namespace of its own is removed by its TTL.
    owners = [owner(workspace_raw, "Workspace")] if namespace == workspace_raw["metadata"]["namespace"] else []
    volumes: list[Obj] = [{"name": "context", "configMap": {"name": name}}]
    mounts: list[Obj] = [{"name": "context", "mountPath": "/context", "readOnly": True}]
    if build.push_secret_ref:
        volumes.append(
            {
                "name": "docker",
                "secret": {
                    "secretName": build.push_secret_ref.name,
                    "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                },
            }
        )
        mounts.append({"name": "docker", "mountPath": "/kaniko/.docker", "readOnly": True})
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": owners},
        "binaryData": {"context.tar.gz": base64.b64encode(context).decode()},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                "appyard.dev/destination": destination,
                "appyard.dev/requested-by": app.metadata.namespace or "",
            },
            "ownerReferences": owners,
        },
        "spec": {
            "backoffLimit": 2,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "build",
                            "image": build.builder_image,
                            # A failed build's last log lines become its termination message: the App's
                            # Stalled condition shows them (pip's error, say).
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            # kaniko builds without a daemon and without a privileged container; it writes the
                            # pushed image's digest to the termination log, where the operator reads it.
                            "args": [
                                "--context=tar:///context/context.tar.gz",
                                "--dockerfile=Dockerfile",
                                f"--destination={destination}",
                                "--digest-file=/dev/termination-log",
                                "--cache=true",
                                "--snapshot-mode=redo",
                            ],
                            "volumeMounts": mounts,
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }
    return [config_map, job]


def build_context(base_image: str, requirements: str) -> bytes:
    """A tar.gz with the Dockerfile and requirements.txt of a runner image."""
    dockerfile = DOCKERFILE.format(base=base_image, uid=RUNNER_UID)
    return bundles.archive([("Dockerfile", dockerfile.encode()), ("requirements.txt", requirements.encode())])


def status(
    app: AppResource,
    workspace: WorkspaceResource,
    *,
    image: str | None,
    build: Build,
    rollout: Rollout,
    invalid: str | None,
    build_job: str | None,
) -> AppStatus:
    """The App's status from what was observed."""
    spec = app.spec
    generation = app.metadata.generation
    previous = app.status.conditions
    serving = rollout.exists and rollout.code_hash == spec.code_hash and rollout.image == image
    available = serving and rollout.updated >= rollout.desired and rollout.ready >= rollout.desired
    stalled: tuple[bool, str, str] | None = None
    if build.state == "failed":
        stalled = (True, "BuildFailed", build.message or "the image build failed")
    elif invalid:
        stalled = (
            True,
            "Invalid",
            f"the workspace's latest revision has problems in this app; the last good revision keeps serving:"
            f"\n{invalid}",
        )
    if image is None:
        reconciling = (True, "Building", "building the runner image") if build.state in ("none", "running") else None
        ready = (False, "Building" if build.state != "failed" else "BuildFailed", "no runner image yet")
    elif not available:
        reconciling = (True, "RollingOut", f"{rollout.ready}/{rollout.desired} runners ready")
        ready = (False, "RollingOut", f"{rollout.ready}/{rollout.desired} runners ready")
    else:
        reconciling = None
        ready = (True, "Serving", f"revision {spec.revision[:12]} is serving")
    return AppStatus(
        observed_generation=generation,
        conditions=fold(previous, generation, ready=ready, reconciling=reconciling, stalled=stalled),
        image=image,
        serving_revision=spec.revision if available else app.status.serving_revision,
        serving_code=spec.code if available else app.status.serving_code,
        url=app_url(app, workspace),
        build_job=build_job,
    )
