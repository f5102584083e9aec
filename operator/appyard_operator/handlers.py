"""kopf handlers: thin wrappers that call the reconcilers (workspaces.sync, apps.reconcile)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
from typing import Any

import kopf
from aiohttp import web
from lightkube import AsyncClient

from appyard.resources import GROUP, VERSION, AppResource, WorkspaceResource

from . import app_objects, apps, cleanup, webhook, workspaces
from .kube import App, Kube, Workspace
from .settings import get_settings

log = logging.getLogger("appyard.operator")

_app_locks: dict[tuple[str, str], asyncio.Lock] = {}


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = get_settings()
    settings.peering.standalone = True
    # The namespaces and resources are known (APPYARD_OPERATOR_NAMESPACES, our two CRDs): kopf need not list and
    # watch every Namespace and CustomResourceDefinition of the cluster, so the operator's RBAC grants neither.
    # Kopf then serves only the resources found at startup, so a missing CRD is an error now, not a silent idle.
    settings.scanning.disabled = True
    settings.persistence.finalizer = "appyard.dev/cleanup"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="operator.appyard.dev")
    # An App's pages (their properties.json) can be large, and kopf keeps the last handled spec in an annotation
    # (all annotations together: at most 256 KiB). A change to pages always changes spec.code too, so leaving
    # them out of that copy misses no change.
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="operator.appyard.dev", ignored_fields=["spec.pages"]
    )
    # Handler failures (warnings and errors) become Events on their object, so `kubectl describe` shows them
    # (kopf posts log messages as Events only when asked to).
    settings.posting.loggers = True
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    memo.config = config
    memo.kube = Kube(AsyncClient())
    await _require_crds(memo.kube, config.namespaces[0] if config.namespaces else None)
    if config.webhook_port:
        runner = web.AppRunner(
            webhook.application(memo.kube, lambda workspace: workspaces.sync(memo.kube, config, workspace))
        )
        await runner.setup()
        await web.TCPSite(runner, config.webhook_host, config.webhook_port).start()
        memo.webhook = runner
        log.info("push webhooks on %s:%d/hooks/<namespace>/<workspace>", config.webhook_host, config.webhook_port)


async def _require_crds(kube: Kube, namespace: str | None) -> None:
    """Stop the operator (its pod restarts) when the App and Workspace CRDs are not served yet."""
    for kind in (Workspace, App):
        if not await kube.served(kind, namespace):
            raise kopf.PermanentError(
                f"the {kind.__name__} CRD is not installed: install the chart's CRDs (crds.install=true) or "
                "`kubectl apply -f crds/`, then restart the operator"
            )


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    if getattr(memo, "webhook", None) is not None:
        await memo.webhook.cleanup()
    await memo.kube.client.close()


# -- Workspaces -------------------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, "workspaces")
@kopf.on.create(GROUP, VERSION, "workspaces")
@kopf.on.update(GROUP, VERSION, "workspaces", field="spec")
async def workspace_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await workspaces.sync(memo.kube, memo.config, WorkspaceResource.model_validate(dict(body)), force=True)


@kopf.on.delete(GROUP, VERSION, "workspaces", optional=True)
async def workspace_deleted(memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> None:
    """Forget the checkout (its Apps go by garbage collection; optional: no finalizer holds the deletion)."""
    await asyncio.to_thread(shutil.rmtree, memo.config.cache_dir / (namespace or "") / name, True)


@kopf.timer(GROUP, VERSION, "workspaces", interval=get_settings().tick_seconds, initial_delay=1)
async def workspace_due(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Sync when the Workspace's interval has passed since its last check."""
    workspace = WorkspaceResource.model_validate(dict(body))
    last = workspace.status.last_check_time
    due = workspaces.interval_seconds(workspace.spec.git.interval)
    if last is not None:
        elapsed = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(last)).total_seconds()
        if elapsed < due:
            return
    await workspaces.sync(memo.kube, memo.config, workspace)


# -- Apps ---------------------------------------------------------------------------------------------------


async def _reconcile(memo: kopf.Memo, namespace: str, name: str, *, apply: bool = True) -> None:
    async with _app_locks.setdefault((namespace, name), asyncio.Lock()):
        app = await memo.kube.app(name, namespace)
        if app is None or app.metadata.deletion_timestamp:
            return
        await apps.reconcile(memo.kube, memo.config, app, apply=apply)


@kopf.on.resume(GROUP, VERSION, "apps")
@kopf.on.create(GROUP, VERSION, "apps")
@kopf.on.update(GROUP, VERSION, "apps")
async def app_changed(memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> None:
    await _reconcile(memo, namespace or "", name)


@kopf.on.update(GROUP, VERSION, "workspaces", field="spec")
async def workspace_settings_changed(memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> None:
    """The Workspace's settings for its apps' runners (data sources, runner defaults, ingress) reach their objects
    at once: the Apps themselves need not change for that."""
    for app in await memo.kube.apps(namespace or ""):
        if app.spec.workspace == name:
            await _reconcile(memo, namespace or "", app.metadata.name)


@kopf.timer(
    GROUP,
    VERSION,
    "apps",
    interval=get_settings().app_check_seconds,
    initial_delay=min(30.0, get_settings().app_check_seconds),
)
async def app_check(body: kopf.Body, memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> None:
    """A safety net: Apps not serving their spec yet are looked at again now and then (build and rollout
    events normally move them on at once); runner credentials are re-minted before they expire; and a changed
    data-source URL or address (Secrets are not watched) reaches the runners within a minute or so."""
    app = AppResource.model_validate(dict(body))
    ready = any(item.type == "Ready" and item.status == "True" for item in app.status.conditions)
    current = app.status.observed_generation == app.metadata.generation
    if (
        not (ready and current)
        or await apps.credentials_due(memo.kube, memo.config, app)
        or await apps.data_sources_due(memo.kube, app)
    ):
        await _reconcile(memo, namespace or "", name)


@kopf.on.event("batch", "v1", "jobs", labels={"app.kubernetes.io/name": "appyard-build"})
async def build_changed(body: kopf.Body, memo: kopf.Memo, namespace: str | None, **_: Any) -> None:
    """A build finished: the apps waiting for that image go on at once."""
    status = body.get("status") or {}
    if not (status.get("succeeded") or status.get("failed")):
        return
    key = body["metadata"]["labels"].get("appyard.dev/build-key")
    # Builds may run in a namespace of their own; the apps that asked for this one are where it says.
    namespace = (body["metadata"].get("annotations") or {}).get("appyard.dev/requested-by") or namespace or ""
    bases = {
        workspace.metadata.name: workspace.spec.build.base_image for workspace in await memo.kube.workspaces(namespace)
    }
    for app in await memo.kube.apps(namespace):
        base = bases.get(app.spec.workspace)
        needs = app.spec.requirements_hash
        if base and needs and app_objects.image_key(base, needs) == key:
            await _reconcile(memo, namespace, app.metadata.name)


@kopf.on.event("apps", "v1", "deployments", labels={"app.kubernetes.io/name": "appyard-runner"})
async def rollout_changed(body: kopf.Body, memo: kopf.Memo, namespace: str | None, **_: Any) -> None:
    """A runner Deployment's status changed: its App's Ready condition follows."""
    for reference in body["metadata"].get("ownerReferences") or []:
        if reference.get("kind") == "App":
            await _reconcile(memo, namespace or "", reference["name"], apply=False)


@kopf.on.delete(GROUP, VERSION, "apps")
async def app_deleted(body: kopf.Body, memo: kopf.Memo, namespace: str | None, **_: Any) -> None:
    """Remove the app's NATS consumer and results (its Kubernetes objects go by garbage collection).

    The body is read as it is, not as an :class:`AppResource`: an App must stay deletable whatever it holds."""
    namespace = namespace or ""
    workspace = await memo.kube.workspace((body.get("spec") or {}).get("workspace", ""), namespace)
    nats_url = (workspace.spec.runners.nats_url if workspace else None) or memo.config.nats_url
    try:
        creds = memo.config.nats_creds.get_secret_value() if memo.config.nats_creds else None
        app = (body.get("spec") or {}).get("app", body["metadata"]["name"])
        await cleanup.forget_app(nats_url, creds, namespace, app)
    except Exception as error:  # NATS unreachable: the App must still be deletable
        raise kopf.TemporaryError(f"cannot reach NATS to clean up: {error}", delay=10) from error
