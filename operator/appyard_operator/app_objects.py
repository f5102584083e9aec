"""What an App should have in the cluster, from its spec and what was observed (pure: no I/O).

Per app: a Secret with the runners' NATS connection and credentials, a runner Deployment (Pod Security Standard
*restricted*; the URLs of the app's data sources from the Workspace's Secret), a NetworkPolicy (NATS, DNS and the
app's data sources only: :mod:`.data_sources`), an Ingress path, and — when the app has a
requirements.txt and no image was built for (base image, requirements) yet — a build Job. The runner objects
are owned by the App, so deleting it removes them. Builds are shared by every app with the same requirements:
a build Job is owned by the Workspace when it runs in the Workspace's namespace (else its TTL removes it),
and the record of built images (``appyard-images``) by nobody, since images outlive the apps that asked.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Literal

from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.batch_v1 import JobSpec
from lightkube.models.core_v1 import (
    Capabilities,
    ConfigMapVolumeSource,
    Container,
    EmptyDirVolumeSource,
    EnvVar,
    EnvVarSource,
    KeyToPath,
    LocalObjectReference,
    PodSecurityContext,
    PodSpec,
    PodTemplateSpec,
    ResourceRequirements,
    SeccompProfile,
    SecretKeySelector,
    SecretVolumeSource,
    SecurityContext,
    Volume,
    VolumeMount,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta, OwnerReference
from lightkube.models.networking_v1 import (
    HTTPIngressPath,
    HTTPIngressRuleValue,
    IngressBackend,
    IngressRule,
    IngressServiceBackend,
    IngressSpec,
    IngressTLS,
    NetworkPolicyEgressRule,
    NetworkPolicyPeer,
    NetworkPolicyPort,
    NetworkPolicySpec,
    ServiceBackendPort,
)
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Secret
from lightkube.resources.networking_v1 import Ingress, NetworkPolicy

from appyard import bundles
from appyard.resources import API_VERSION, AppResource, AppStatus, Metadata, WorkspaceResource, kubernetes_name

from . import credentials, data_sources
from .conditions import fold
from .data_sources import RunnerAccess

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


def owner(meta: Metadata, kind: Literal["App", "Workspace"]) -> OwnerReference:
    """A controller reference to an App or Workspace as read from the API server (which gave it its uid)."""
    if meta.uid is None:
        raise ValueError(f"{kind} {meta.namespace}/{meta.name} has no uid: owners must be read from the API server")
    return OwnerReference(
        apiVersion=API_VERSION, kind=kind, name=meta.name, uid=meta.uid, controller=True, blockOwnerDeletion=True
    )


def _meta(app: AppResource, name: str) -> ObjectMeta:
    """The metadata of a runner object: labelled with its app, owned by the App."""
    meta = app.metadata
    labels = {**MANAGED, "app.kubernetes.io/name": "appyard-runner", "appyard.dev/app": kubernetes_name(meta.name)}
    return ObjectMeta(name=name, namespace=meta.namespace or "", labels=labels, ownerReferences=[owner(meta, "App")])


def _runner_selector(app: AppResource) -> dict[str, str]:
    return {"appyard.dev/app": kubernetes_name(app.metadata.name), "app.kubernetes.io/component": "runner"}


def secret(app: AppResource, nats_url: str, creds: str | None = None) -> Secret:
    """The runners' connection: the NATS URL and, when the operator signs them, the app's credentials."""
    data = {"nats-url": nats_url} | ({credentials.KEY: creds} if creds else {})
    return Secret(metadata=_meta(app, name_of(app.metadata.name)), type="Opaque", stringData=data)


def _secret_env(name: str, secret_name: str, key: str) -> EnvVar:
    return EnvVar(name=name, valueFrom=EnvVarSource(secretKeyRef=SecretKeySelector(name=secret_name, key=key)))


def deployment(
    app: AppResource,
    workspace: WorkspaceResource,
    image: str,
    creds: str | None = None,
    access: RunnerAccess | None = None,
) -> Deployment:
    """The runner Deployment; ``access`` brings the URLs of the app's data sources (and nothing of others)."""
    access = access or RunnerAccess()
    meta = app.metadata
    spec = app.spec
    name = name_of(meta.name)
    selector = _runner_selector(app)
    memory = (spec.runner.concurrency + 1) * spec.runner.memory_mb
    pull = workspace.spec.build.push_secret_ref
    container_security = SecurityContext(
        allowPrivilegeEscalation=False,
        readOnlyRootFilesystem=True,
        runAsNonRoot=True,
        capabilities=Capabilities(drop=["ALL"]),
    )
    env = [
        EnvVar(name="APPYARD_RUNNER_APP", value=spec.app),
        EnvVar(name="APPYARD_RUNNER_NAMESPACE", value=meta.namespace),
        _secret_env("APPYARD_RUNNER_NATS_URL", name, "nats-url"),
        # The text of the credentials, which the runner takes out of its environment before any run (a mounted
        # file would stay readable by runs).
        *([_secret_env("APPYARD_RUNNER_NATS_CREDS", name, credentials.KEY)] if creds else []),
        EnvVar(name="APPYARD_RUNNER_BUNDLE", value=f"/appyard/code/{bundles.KEY}"),
        EnvVar(name="APPYARD_RUNNER_WORKSPACE", value="/tmp/appyard/workspace"),
        EnvVar(name="APPYARD_RUNNER_TMP_DIR", value="/tmp/appyard/runs"),
        EnvVar(name="APPYARD_DATA_DIR", value="/data"),
        EnvVar(name="APPYARD_LOG_FORMAT", value="json"),  # one JSON object a line, for `kubectl logs … | jq`
        *access.env,
    ]
    container = Container(
        name="runner",
        image=image,
        env=env,
        resources=ResourceRequirements(
            requests={"cpu": "100m", "memory": f"{spec.runner.memory_mb}Mi"},
            limits={"cpu": workspace.spec.runners.cpu, "memory": f"{memory}Mi"},
        ),
        securityContext=container_security,
        volumeMounts=[
            VolumeMount(name="code", mountPath="/appyard/code", readOnly=True),
            VolumeMount(name="tmp", mountPath="/tmp"),
            VolumeMount(name="data", mountPath="/data"),
        ],
    )
    pod = PodSpec(
        automountServiceAccountToken=False,
        enableServiceLinks=False,
        securityContext=PodSecurityContext(
            runAsNonRoot=True,
            runAsUser=RUNNER_UID,
            runAsGroup=RUNNER_UID,
            fsGroup=RUNNER_UID,
            seccompProfile=SeccompProfile(type="RuntimeDefault"),
        ),
        imagePullSecrets=[LocalObjectReference(name=pull.name)] if pull else [],
        terminationGracePeriodSeconds=45,
        containers=[container],
        volumes=[
            Volume(
                name="code",
                configMap=ConfigMapVolumeSource(name=spec.code, items=[KeyToPath(key=bundles.KEY, path=bundles.KEY)]),
            ),
            Volume(name="tmp", emptyDir=EmptyDirVolumeSource(sizeLimit="1Gi")),
            Volume(name="data", emptyDir=EmptyDirVolumeSource()),
        ],
    )
    template = ObjectMeta(
        labels={**MANAGED, "app.kubernetes.io/name": "appyard-runner", **selector},
        # The code, not the commit: a commit that does not touch this app changes nothing here.
        # New credentials (re-minted before they expire) roll the runners onto them.
        # A changed data-source URL (the Secret's value) rolls them too.
        annotations={"appyard.dev/code-hash": spec.code_hash}
        | ({"appyard.dev/credentials-hash": credentials.fingerprint(creds)} if creds else {})
        | ({data_sources.URLS_HASH: access.urls_hash} if access.urls_hash else {}),
    )
    metadata = _meta(app, name)
    # What the NetworkPolicy allows, on the Deployment itself (not its pods: new addresses roll nothing), so the
    # periodic check sees when a data source's host moved.
    metadata.annotations = {data_sources.EGRESS_HASH: access.egress_hash} if access.egress_hash else None
    return Deployment(
        metadata=metadata,
        spec=DeploymentSpec(
            replicas=spec.runner.replicas,
            selector=LabelSelector(matchLabels=selector),
            template=PodTemplateSpec(metadata=template, spec=pod),
        ),
    )


def network_policy(
    app: AppResource, workspace: WorkspaceResource, egress: list[NetworkPolicyEgressRule] | None = None
) -> NetworkPolicy:
    """Nothing may connect to the runners; they may reach NATS, DNS and ``egress`` (the app's data sources)."""
    dns = NetworkPolicyPeer(
        namespaceSelector=LabelSelector(), podSelector=LabelSelector(matchLabels={"k8s-app": "kube-dns"})
    )
    nats = NetworkPolicyPeer(
        namespaceSelector=LabelSelector(), podSelector=LabelSelector(matchLabels=workspace.spec.runners.nats_labels)
    )
    return NetworkPolicy(
        metadata=_meta(app, name_of(app.metadata.name)),
        spec=NetworkPolicySpec(
            podSelector=LabelSelector(matchLabels=_runner_selector(app)),
            # Ingress listed with no rules: nothing may connect to a runner.
            policyTypes=["Ingress", "Egress"],
            egress=[
                NetworkPolicyEgressRule(to=[nats], ports=[NetworkPolicyPort(protocol="TCP", port=4222)]),
                NetworkPolicyEgressRule(
                    to=[dns],
                    ports=[NetworkPolicyPort(protocol="UDP", port=53), NetworkPolicyPort(protocol="TCP", port=53)],
                ),
                *(egress or []),
            ],
        ),
    )


def app_url(app: AppResource, workspace: WorkspaceResource) -> str:
    ingress = workspace.spec.ingress
    path = f"/apps/{app.metadata.name}"
    if not ingress.host:
        return path
    return f"{'https' if ingress.tls_secret_name else 'http'}://{ingress.host}{path}"


def ingress(app: AppResource, workspace: WorkspaceResource) -> Ingress:
    meta = app.metadata
    settings = workspace.spec.ingress
    backend = IngressBackend(
        service=IngressServiceBackend(name=settings.service_name, port=ServiceBackendPort(number=settings.service_port))
    )
    path = HTTPIngressPath(path=f"/apps/{meta.name}", pathType="Prefix", backend=backend)
    rule = IngressRule(host=settings.host or None, http=HTTPIngressRuleValue(paths=[path]))
    tls = None
    if settings.tls_secret_name and settings.host:
        tls = [IngressTLS(hosts=[settings.host], secretName=settings.tls_secret_name)]
    return Ingress(
        metadata=_meta(app, f"appyard-{kubernetes_name(meta.name)}"),
        spec=IngressSpec(rules=[rule], ingressClassName=settings.class_name or None, tls=tls),
    )


DOCKERFILE = """FROM {base}
USER root
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt && rm /tmp/requirements.txt
USER {uid}
"""


def images_map(namespace: str) -> ConfigMap:
    """The ConfigMap recording built images: image key → repository@digest."""
    return ConfigMap(metadata=ObjectMeta(name=IMAGES, namespace=namespace, labels=MANAGED), data={})


def build_objects(app: AppResource, workspace: WorkspaceResource, key: str, context: bytes) -> tuple[ConfigMap, Job]:
    """The build context (a ConfigMap holding a tar.gz) and the Job that builds and pushes the image."""
    build = workspace.spec.build
    namespace = build.namespace or app.metadata.namespace or ""
    name = f"appyard-build-{key}"
    # Images are shared by every app with the same base image and requirements, so they are named by key.
    destination = f"{build.registry}/runner:{key}"
    labels = {**MANAGED, "app.kubernetes.io/name": "appyard-build", "appyard.dev/build-key": key}
    # Owner references cannot cross namespaces: a build in a namespace of its own is removed by its TTL.
    owners = [owner(workspace.metadata, "Workspace")] if namespace == workspace.metadata.namespace else []
    volumes = [Volume(name="context", configMap=ConfigMapVolumeSource(name=name))]
    mounts = [VolumeMount(name="context", mountPath="/context", readOnly=True)]
    if build.push_secret_ref:
        volumes.append(
            Volume(
                name="docker",
                secret=SecretVolumeSource(
                    secretName=build.push_secret_ref.name,
                    items=[KeyToPath(key=".dockerconfigjson", path="config.json")],
                ),
            )
        )
        mounts.append(VolumeMount(name="docker", mountPath="/kaniko/.docker", readOnly=True))
    config_map = ConfigMap(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels, ownerReferences=owners),
        binaryData={"context.tar.gz": base64.b64encode(context).decode()},
    )
    builder = Container(
        name="build",
        image=build.builder_image,
        # A failed build's last log lines become its termination message: the App's Stalled condition shows
        # them (pip's error, say).
        terminationMessagePolicy="FallbackToLogsOnError",
        # kaniko builds without a daemon and without a privileged container; it writes the pushed image's
        # digest to the termination log, where the operator reads it.
        args=[
            "--context=tar:///context/context.tar.gz",
            "--dockerfile=Dockerfile",
            f"--destination={destination}",
            "--digest-file=/dev/termination-log",
            "--cache=true",
            "--snapshot-mode=redo",
            *(["--insecure", "--insecure-pull"] if build.insecure_registry else []),
        ],
        volumeMounts=mounts,
        resources=ResourceRequirements(requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "4Gi"}),
    )
    job = Job(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            labels=labels,
            annotations={
                "appyard.dev/destination": destination,
                "appyard.dev/requested-by": app.metadata.namespace or "",
            },
            ownerReferences=owners,
        ),
        spec=JobSpec(
            backoffLimit=2,
            ttlSecondsAfterFinished=3600,
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(
                    restartPolicy="Never", automountServiceAccountToken=False, containers=[builder], volumes=volumes
                ),
            ),
        ),
    )
    return config_map, job


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
    data_source: str | None = None,
) -> AppStatus:
    """The App's status from what was observed; ``data_source`` is why its runners cannot get a data source
    (their objects were then left as they were: the last good revision keeps serving)."""
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
    elif data_source:
        stalled = (True, data_sources.REASON, data_source)
    if image is None:
        reconciling = (True, "Building", "building the runner image") if build.state in ("none", "running") else None
        ready = (False, "Building" if build.state != "failed" else "BuildFailed", "no runner image yet")
    elif not available and data_source:
        reconciling = None
        ready = (False, data_sources.REASON, data_source)
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
