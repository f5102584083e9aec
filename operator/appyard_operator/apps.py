"""Reconciling an App: its image (built once per base image and requirements), its runner objects, its status."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

from appyard import bundles
from appyard.resources import AppResource, AppStatus, WorkspaceResource

from . import app_objects, credentials
from .conditions import fold
from .kube import Kube
from .settings import OperatorSettings
from .sync import REQUIREMENTS
from .workspaces import INVALID

log = logging.getLogger("appyard.operator.apps")

Obj = dict[str, Any]


async def _image(
    kube: Kube, app: AppResource, workspace: WorkspaceResource, workspace_raw: Obj
) -> tuple[str | None, app_objects.Build, str | None]:
    """The runner image of the app: the base image, a recorded build, or a build started or in progress."""
    base = workspace.spec.build.base_image
    if app.spec.requirements_hash is None:
        return base, app_objects.Build("none"), None
    namespace = app.metadata.namespace or ""
    builds = workspace.spec.build.namespace or namespace
    key = app_objects.image_key(base, app.spec.requirements_hash)
    images = await kube.get("ConfigMap", app_objects.IMAGES, builds)
    recorded = ((images or {}).get("data") or {}).get(key)
    if recorded:
        return recorded, app_objects.Build("succeeded"), None
    job_name = f"appyard-build-{key}"
    job = await kube.get("Job", job_name, builds)
    if job is None:
        code = await kube.get("ConfigMap", app.spec.code, namespace)
        if code is None:
            return None, app_objects.Build("running", message="waiting for the app's code"), None
        bundle = base64.b64decode((code.get("binaryData") or {})[bundles.KEY])
        requirements = (bundles.read(bundle, REQUIREMENTS) or b"").decode()
        context_map, build_job = app_objects.build_objects(
            app, workspace, workspace_raw, key, app_objects.build_context(base, requirements)
        )
        await kube.apply(context_map)
        if await kube.create(build_job):
            log.info("app %s/%s: building runner image %s in %s", namespace, app.metadata.name, key, builds)
        return None, app_objects.Build("running"), job_name
    state = job.get("status") or {}
    if state.get("succeeded"):
        digest = await _digest(kube, builds, job_name)
        if digest is None:
            return (
                None,
                app_objects.Build("failed", message=f"build Job {job_name} succeeded without reporting a digest"),
                job_name,
            )
        image = f"{job['metadata']['annotations']['appyard.dev/destination'].rsplit(':', 1)[0]}@{digest}"
        await kube.merge("ConfigMap", app_objects.images_map(builds), {"data": {key: image}})
        log.info("app %s/%s: runner image %s built: %s", namespace, app.metadata.name, key, image)
        return image, app_objects.Build("succeeded"), None
    failed = next(
        (
            item
            for item in state.get("conditions") or []
            if item.get("type") == "Failed" and item.get("status") == "True"
        ),
        None,
    )
    if failed:
        why = failed.get("message") or failed.get("reason") or "failed"
        output = await _build_output(kube, builds, job_name)
        message = f"the runner image build (Job {builds}/{job_name}) failed: {why}"
        return None, app_objects.Build("failed", message=f"{message}\n{output}" if output else message), job_name
    return None, app_objects.Build("running"), job_name


async def _build_output(kube: Kube, namespace: str, job: str) -> str:
    """The end of the last failed build's output (the kubelet keeps it as the termination message)."""
    messages = []
    for pod in await kube.list("Pod", namespace, {"job-name": job}):
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated.get("exitCode") not in (None, 0) and terminated.get("message"):
                messages.append((terminated.get("finishedAt") or "", str(terminated["message"]).strip()))
    return sorted(messages)[-1][1][-2000:] if messages else ""


async def _digest(kube: Kube, namespace: str, job: str) -> str | None:
    """The image digest the builder wrote to its termination log."""
    for pod in await kube.list("Pod", namespace, {"job-name": job}):
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            message = ((container.get("state") or {}).get("terminated") or {}).get("message", "").strip()
            if message.startswith("sha256:"):
                return str(message)
    return None


def _rollout(deployment: Obj | None) -> app_objects.Rollout:
    if deployment is None:
        return app_objects.Rollout()
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    current = status.get("observedGeneration", 0) >= (deployment.get("metadata") or {}).get("generation", 0)
    template = spec.get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or [{}]
    return app_objects.Rollout(
        exists=True,
        desired=spec.get("replicas", 1),
        ready=status.get("readyReplicas", 0) if current else 0,
        updated=status.get("updatedReplicas", 0) if current else 0,
        code_hash=((template.get("metadata") or {}).get("annotations") or {}).get("appyard.dev/code-hash"),
        image=containers[0].get("image"),
    )


async def reconcile(kube: Kube, settings: OperatorSettings, raw: Obj, *, apply: bool = True) -> AppStatus:
    """Make the cluster match the App and write its status; returns that status.

    With ``apply=False`` only the status is brought up to date with what is observed (a Deployment's
    rollout progressed): the objects were applied when the App last changed, and applying them again would
    change nothing.
    """
    app = AppResource.model_validate(raw)
    meta = app.metadata
    namespace = meta.namespace or ""
    workspace_raw = await kube.get("Workspace", app.spec.workspace, namespace)
    if workspace_raw is None:
        status = app.status.model_copy(deep=True)
        message = f"Workspace {app.spec.workspace!r} does not exist"
        status.conditions = fold(
            status.conditions,
            meta.generation,
            ready=(False, "NoWorkspace", message),
            stalled=(True, "NoWorkspace", message),
        )
        await kube.patch_status("App", meta.name, namespace, status.model_dump(mode="json", by_alias=True))
        return status
    workspace = WorkspaceResource.model_validate(workspace_raw)
    image, build, job = await _image(kube, app, workspace, workspace_raw)
    creds = await runner_credentials(kube, settings, app) if apply else None
    objects = [
        app_objects.secret(app, raw, workspace.spec.runners.nats_url or settings.nats_url, creds),
        app_objects.network_policy(app, raw, workspace),
        app_objects.ingress(app, raw, workspace),
    ]
    if image is not None:
        objects.append(app_objects.deployment(app, raw, workspace, image, creds))
    for obj in objects if apply else []:
        await kube.apply(obj)
    deployment = await kube.get("Deployment", app_objects.name_of(meta.name), namespace) if image is not None else None
    status = app_objects.status(
        app,
        workspace,
        image=image,
        build=build,
        rollout=_rollout(deployment),
        invalid=meta.annotations.get(INVALID),
        build_job=job,
    )
    if status.model_dump() != app.status.model_dump():
        await kube.patch_status("App", meta.name, namespace, status.model_dump(mode="json", by_alias=True))
    if status.serving_revision == app.spec.revision and deployment is not None:
        await _prune_code(kube, namespace, meta.name, keep=app.spec.code)
    return status


async def _stored_credentials(kube: Kube, app: AppResource) -> str | None:
    stored = await kube.get("Secret", app_objects.name_of(app.metadata.name), app.metadata.namespace or "")
    encoded = ((stored or {}).get("data") or {}).get(credentials.KEY)
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


async def credentials_due(kube: Kube, settings: OperatorSettings, raw: Obj) -> bool:
    """Whether the App's runner credentials must be re-minted (they near their expiry, or the seed changed)."""
    if settings.nats_account_seed is None:
        return False
    app = AppResource.model_validate(raw)
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
    for item in await kube.list("ConfigMap", namespace, selector):
        name = item["metadata"]["name"]
        if name != keep:
            await kube.delete("ConfigMap", name, namespace)
            log.info("app %s/%s: removed old code %s", namespace, app, name)
