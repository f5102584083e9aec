"""Reconciling an App: its image (built once per base image and requirements), its runner objects, its status."""

from __future__ import annotations

import base64
import logging
import time

from lightkube.models.core_v1 import ContainerStateTerminated
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Pod, Secret

from appyard import bundles
from appyard.resources import AppResource, AppStatus, WorkspaceResource

from . import app_objects, credentials, data_sources
from .conditions import fold
from .kube import Kube
from .settings import OperatorSettings
from .sync import REQUIREMENTS
from .workspaces import INVALID

log = logging.getLogger("appyard.operator.apps")


async def _image(
    kube: Kube, app: AppResource, workspace: WorkspaceResource
) -> tuple[str | None, app_objects.Build, str | None]:
    """The runner image of the app: the base image, a recorded build, or a build started or in progress."""
    base = workspace.spec.build.base_image
    if app.spec.requirements_hash is None:
        return base, app_objects.Build("none"), None
    namespace = app.metadata.namespace or ""
    builds = workspace.spec.build.namespace or namespace
    key = app_objects.image_key(base, app.spec.requirements_hash)
    images = await kube.get(ConfigMap, app_objects.IMAGES, builds)
    recorded = ((images.data if images else None) or {}).get(key)
    if recorded:
        return recorded, app_objects.Build("succeeded"), None
    job_name = f"appyard-build-{key}"
    job = await kube.get(Job, job_name, builds)
    if job is None:
        code = await kube.get(ConfigMap, app.spec.code, namespace)
        if code is None:
            return None, app_objects.Build("running", message="waiting for the app's code"), None
        bundle = base64.b64decode((code.binaryData or {})[bundles.KEY])
        requirements = (bundles.read(bundle, REQUIREMENTS) or b"").decode()
        context_map, build_job = app_objects.build_objects(
            app, workspace, key, app_objects.build_context(base, requirements)
        )
        await kube.apply(context_map)
        if await kube.create(build_job):
            log.info("app %s/%s: building runner image %s in %s", namespace, app.metadata.name, key, builds)
        return None, app_objects.Build("running"), job_name
    state = job.status
    if state is not None and state.succeeded:
        digest = await _digest(kube, builds, job_name)
        if digest is None:
            return (
                None,
                app_objects.Build("failed", message=f"build Job {job_name} succeeded without reporting a digest"),
                job_name,
            )
        destination = ((job.metadata.annotations if job.metadata else None) or {})["appyard.dev/destination"]
        image = f"{destination.rsplit(':', 1)[0]}@{digest}"
        await kube.merge(app_objects.images_map(builds), ConfigMap(data={key: image}))
        log.info("app %s/%s: runner image %s built: %s", namespace, app.metadata.name, key, image)
        return image, app_objects.Build("succeeded"), None
    failed = next(
        (
            item
            for item in (state.conditions if state else None) or []
            if item.type == "Failed" and item.status == "True"
        ),
        None,
    )
    if failed:
        why = failed.message or failed.reason or "failed"
        output = await _build_output(kube, builds, job_name)
        message = f"the runner image build (Job {builds}/{job_name}) failed: {why}"
        return None, app_objects.Build("failed", message=f"{message}\n{output}" if output else message), job_name
    return None, app_objects.Build("running"), job_name


async def _terminated(kube: Kube, namespace: str, job: str) -> list[ContainerStateTerminated]:
    """How the containers of the build Job's Pods ended (those that did)."""
    return [
        container.state.terminated
        for pod in await kube.list(Pod, namespace, {"job-name": job})
        for container in (pod.status.containerStatuses if pod.status else None) or []
        if container.state is not None and container.state.terminated is not None
    ]


async def _build_output(kube: Kube, namespace: str, job: str) -> str:
    """The end of the last failed build's output (the kubelet keeps it as the termination message)."""
    messages = [
        (terminated.finishedAt.isoformat() if terminated.finishedAt else "", terminated.message.strip())
        for terminated in await _terminated(kube, namespace, job)
        if terminated.exitCode != 0 and terminated.message
    ]
    return sorted(messages)[-1][1][-2000:] if messages else ""


async def _digest(kube: Kube, namespace: str, job: str) -> str | None:
    """The image digest the builder wrote to its termination log."""
    for terminated in await _terminated(kube, namespace, job):
        message = (terminated.message or "").strip()
        if message.startswith("sha256:"):
            return message
    return None


def _rollout(deployment: Deployment | None) -> app_objects.Rollout:
    if deployment is None:
        return app_objects.Rollout()
    spec = deployment.spec
    status = deployment.status
    generation = (deployment.metadata.generation if deployment.metadata else None) or 0
    current = status is not None and (status.observedGeneration or 0) >= generation
    template = spec.template
    containers = (template.spec.containers if template.spec else None) or []
    annotations = (template.metadata.annotations if template.metadata else None) or {}
    return app_objects.Rollout(
        exists=True,
        desired=1 if spec.replicas is None else spec.replicas,
        ready=(status.readyReplicas or 0) if current and status else 0,
        updated=(status.updatedReplicas or 0) if current and status else 0,
        code_hash=annotations.get("appyard.dev/code-hash"),
        image=containers[0].image if containers else None,
    )


async def reconcile(kube: Kube, settings: OperatorSettings, app: AppResource, *, apply: bool = True) -> AppStatus:
    """Make the cluster match the App and write its status; returns that status.

    With ``apply=False`` only the status is brought up to date with what is observed (a Deployment's
    rollout progressed): the objects were applied when the App last changed, and applying them again would
    change nothing.
    """
    meta = app.metadata
    namespace = meta.namespace or ""
    workspace = await kube.workspace(app.spec.workspace, namespace)
    if workspace is None:
        status = app.status.model_copy(deep=True)
        message = f"Workspace {app.spec.workspace!r} does not exist"
        status.conditions = fold(
            status.conditions,
            meta.generation,
            ready=(False, "NoWorkspace", message),
            stalled=(True, "NoWorkspace", message),
        )
        await kube.patch_status(meta.name, namespace, status)
        return status
    image, build, job = await _image(kube, app, workspace)
    if apply:
        access = await data_sources.plan(kube, app, workspace)
        problem = access.problem
        creds = await runner_credentials(kube, settings, app)
        await kube.apply(app_objects.secret(app, workspace.spec.runners.nats_url or settings.nats_url, creds))
        await kube.apply(app_objects.ingress(app, workspace))
        # Runners that cannot get their data sources would not start (or not work): the objects stay as they
        # were, and the last good revision keeps serving.
        if problem is None:
            await kube.apply(app_objects.network_policy(app, workspace, access.egress))
            if image is not None:
                await kube.apply(app_objects.deployment(app, workspace, image, creds, access))
        else:
            log.warning("app %s/%s: %s", namespace, meta.name, problem)
    else:  # a rollout moved on: a data-source problem found when the objects were applied still holds
        stalled = next((item for item in app.status.conditions if item.type == "Stalled"), None)
        problem = stalled.message if stalled is not None and stalled.reason == data_sources.REASON else None
    deployment = await kube.get(Deployment, app_objects.name_of(meta.name), namespace) if image is not None else None
    status = app_objects.status(
        app,
        workspace,
        image=image,
        build=build,
        rollout=_rollout(deployment),
        invalid=meta.annotations.get(INVALID),
        build_job=job,
        data_source=problem,
    )
    if status.model_dump() != app.status.model_dump():
        await kube.patch_status(meta.name, namespace, status)
    if status.serving_revision == app.spec.revision and deployment is not None:
        await _prune_code(kube, namespace, meta.name, keep=app.spec.code)
    return status


async def data_sources_due(kube: Kube, app: AppResource) -> bool:
    """Whether the App's data sources changed under it (a URL in the Workspace's Secret, a host's addresses),
    or a problem with them appeared or went away: Secrets are read by name, never watched, so the periodic
    check asks."""
    if not app.spec.data_sources:
        return False
    namespace = app.metadata.namespace or ""
    workspace = await kube.workspace(app.spec.workspace, namespace)
    if workspace is None:
        return False
    access = await data_sources.plan(kube, app, workspace)
    deployment = await kube.get(Deployment, app_objects.name_of(app.metadata.name), namespace)
    if deployment is None:  # not serving yet: the periodic check reconciles it anyway
        return False
    template = deployment.spec.template.metadata if deployment.spec else None
    return data_sources.due(
        app,
        access,
        (deployment.metadata.annotations if deployment.metadata else None) or {},
        (template.annotations if template else None) or {},
    )


async def _stored_credentials(kube: Kube, app: AppResource) -> str | None:
    stored = await kube.get(Secret, app_objects.name_of(app.metadata.name), app.metadata.namespace or "")
    encoded = ((stored.data if stored else None) or {}).get(credentials.KEY)
    return base64.b64decode(encoded).decode() if encoded else None


async def runner_credentials(kube: Kube, settings: OperatorSettings, app: AppResource) -> str | None:
    """The app's runner credentials: those in its Secret while good, else newly minted (None: no account seed)."""
    if settings.nats_account_seed is None:
        return None
    return credentials.runner_credentials(
        await _stored_credentials(kube, app),
        settings.nats_account_seed.get_secret_value(),
        app.metadata.namespace or "",
        app.spec.app,
        settings.runner_credentials_days * 86400,
        time.time(),
    )


async def credentials_due(kube: Kube, settings: OperatorSettings, app: AppResource) -> bool:
    """Whether the App's runner credentials must be re-minted (they near their expiry, or the seed changed)."""
    if settings.nats_account_seed is None:
        return False
    return credentials.due(
        await _stored_credentials(kube, app),
        settings.nats_account_seed.get_secret_value(),
        app.metadata.namespace or "",
        app.spec.app,
        settings.runner_credentials_days * 86400,
        time.time(),
    )


async def _prune_code(kube: Kube, namespace: str, app: str, keep: str) -> None:
    """Once the runners serve the current code, older code ConfigMaps of the app are no longer needed."""
    selector = {"appyard.dev/app": app, "app.kubernetes.io/name": "appyard-code"}
    for item in await kube.list(ConfigMap, namespace, selector):
        name = item.metadata.name if item.metadata else None
        if name and name != keep:
            await kube.delete(ConfigMap, name, namespace)
            log.info("app %s/%s: removed old code %s", namespace, app, name)
