"""Syncing a Workspace: check the ref, fetch when it moved, validate, and create, update or delete its Apps.

An app that fails validation at the new revision keeps its App — and so its last good revision keeps
serving — and is marked with the problems (an annotation the App's reconcile turns into ``Stalled``).
"""

from __future__ import annotations

import asyncio
import base64
import logging

from lightkube.generic_resource import GenericNamespacedResource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Secret

from appyard import bundles
from appyard.resources import AppResource, AppSpec, AppSummary, WorkspaceResource, WorkspaceStatus, kubernetes_name

from . import git
from .app_objects import MANAGED, owner
from .conditions import fold, now
from .kube import App, Kube, app_object
from .settings import OperatorSettings
from .sync import DesiredApp, OutsideCheckout, WorkspaceApps, workspace_apps, workspace_folder

log = logging.getLogger("appyard.operator.workspaces")

INVALID = "appyard.dev/invalid"
INVALID_REVISION = "appyard.dev/invalid-revision"

APPLY_CONCURRENCY = 8  # Apps written at once by a sync (a workspace may hold hundreds)

_locks: dict[tuple[str, str], asyncio.Lock] = {}


WORKSPACE_LABEL = "appyard.dev/workspace"


def interval_seconds(text: str) -> float:
    """``1m30s`` → 90.0."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total, number = 0.0, ""
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit():
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        total += float(number or 0) * units[unit]
        number = ""
        index += len(unit)
    return total


async def _credentials(kube: Kube, workspace: WorkspaceResource) -> git.Credentials | None:
    reference = workspace.spec.git.secret_ref
    if reference is None:
        return None
    secret = await kube.get(Secret, reference.name, workspace.metadata.namespace or "")
    if secret is None:
        raise git.GitError(f"the git credentials Secret {reference.name!r} does not exist", temporary=True)
    return git.Credentials.from_secret(secret.data or {})


async def _write_status(kube: Kube, workspace: WorkspaceResource, status: WorkspaceStatus) -> None:
    meta = workspace.metadata
    await kube.patch_status(meta.name, meta.namespace or "", status)


def _app_object(workspace: WorkspaceResource, spec: AppSpec, namespace: str) -> GenericNamespacedResource:
    metadata = ObjectMeta(
        name=kubernetes_name(spec.app),
        namespace=namespace,
        labels={**MANAGED, WORKSPACE_LABEL: workspace.metadata.name},
        ownerReferences=[owner(workspace.metadata, "Workspace")],
    )
    return app_object(metadata, spec)


def _code_map(app: AppResource, name: str, code: bytes) -> ConfigMap:
    meta = app.metadata
    return ConfigMap(
        metadata=ObjectMeta(
            name=name,
            namespace=meta.namespace,
            labels={**MANAGED, "appyard.dev/app": meta.name, "app.kubernetes.io/name": "appyard-code"},
            ownerReferences=[owner(meta, "App")],
        ),
        immutable=True,
        binaryData={bundles.KEY: base64.b64encode(code).decode()},
    )


def _syncing(status: WorkspaceStatus, generation: int | None, sha: str) -> WorkspaceStatus:
    """The status while a new revision is fetched and validated: Ready as it was, and Reconciling."""
    ready = next((item for item in status.conditions if item.type == "Ready"), None)
    syncing = status.model_copy(deep=True)
    syncing.conditions = fold(
        status.conditions,
        generation,
        ready=(
            ready is not None and ready.status == "True",
            ready.reason if ready else "Syncing",
            ready.message if ready else "",
        ),
        reconciling=(True, "Syncing", f"fetching and validating revision {sha[:12]}"),
    )
    return syncing


async def _write_apps(kube: Kube, source: WorkspaceResource, result: WorkspaceApps) -> None:
    """Create or update the Apps of a sync, mark the invalid ones, delete the ones no longer there."""
    namespace, workspace, head = source.metadata.namespace or "", source.metadata.name, result.revision
    everyone = await kube.apps(namespace)
    owners = {item.metadata.name: item.metadata.labels.get(WORKSPACE_LABEL) for item in everyone}
    existing = {item.metadata.name: item for item in everyone if owners[item.metadata.name] == workspace}
    # App names are unique in a namespace: an app another Workspace already serves is not taken over.
    for app in list(result.apps):
        other = owners.get(kubernetes_name(app.name), workspace)
        if other != workspace:
            result.apps.remove(app)
            result.invalid[app.name] = (
                f"the namespace already has an app {app.name!r}, from Workspace {other!r}: "
                "rename the app, or use another namespace"
            )
    wanted = {kubernetes_name(app.name) for app in result.apps}
    limit = asyncio.Semaphore(APPLY_CONCURRENCY)

    async def update(app: DesiredApp) -> None:
        name = kubernetes_name(app.name)
        before = existing.get(name)
        async with limit:
            applied = await kube.apply_app(_app_object(source, app.spec, namespace))
            # A code ConfigMap is named by its content's hash and never changes: written once, not per sync.
            if before is None or before.spec.code != app.spec.code:
                code_map = _code_map(applied, app.spec.code, app.bundle)
                if not await kube.create(code_map):  # there from an earlier revision, or an App of the same name
                    owned = ConfigMap(metadata=ObjectMeta(ownerReferences=[owner(applied.metadata, "App")]))
                    await kube.merge(code_map, owned)
            if before is not None and INVALID in before.metadata.annotations:
                await kube.annotate(App, name, namespace, {INVALID: None, INVALID_REVISION: None})

    await asyncio.gather(*(update(app) for app in result.apps))
    for app_name, message in result.invalid.items():
        name = kubernetes_name(app_name)
        wanted.add(name)
        if name in existing:
            await kube.annotate(App, name, namespace, {INVALID: message[:20000], INVALID_REVISION: head})
    for name in existing.keys() - wanted:
        log.info("workspace %s/%s no longer has app %s: deleting it", namespace, workspace, name)
        await kube.delete(App, name, namespace)


async def sync(kube: Kube, settings: OperatorSettings, workspace: WorkspaceResource, *, force: bool = False) -> None:
    """Bring the Workspace's Apps up to date with its git ref (a no-op when the ref has not moved)."""
    meta = workspace.metadata
    namespace = meta.namespace or ""
    key = (namespace, meta.name)
    async with _locks.setdefault(key, asyncio.Lock()):
        workspace = await kube.workspace(meta.name, namespace) or workspace  # the latest status
        await _sync(kube, settings, workspace, force)


async def _sync(kube: Kube, settings: OperatorSettings, workspace: WorkspaceResource, force: bool) -> None:
    meta = workspace.metadata
    namespace = meta.namespace or ""
    source = workspace.spec.git
    status = workspace.status.model_copy(deep=True)
    status.last_check_time = now()
    generation = meta.generation
    if workspace.spec.suspend:
        status.conditions = fold(status.conditions, generation, ready=(False, "Suspended", "syncing is suspended"))
        await _write_status(kube, workspace, status)
        return
    try:
        credentials = await _credentials(kube, workspace)
        sha = await git.resolve(source.url, source.ref, credentials, settings.git_timeout_seconds)
        current = status.revision == sha and status.observed_generation == generation
        if current and not force:
            await _write_status(kube, workspace, status)
            return
        if status.revision != sha:  # fetching and validating a big repository takes a while: say so
            await _write_status(kube, workspace, _syncing(status, generation, sha))
        checkout = settings.cache_dir / namespace / meta.name
        head = await asyncio.wait_for(
            git.checkout(source.url, source.ref, sha, checkout, credentials, settings.git_timeout_seconds),
            settings.git_timeout_seconds * 2,
        )
    except (git.GitError, TimeoutError) as error:
        temporary = not isinstance(error, git.GitError) or error.temporary
        message = str(error) or "git timed out"
        log.warning("workspace %s/%s: %s", namespace, meta.name, message)
        status.conditions = fold(
            status.conditions,
            generation,
            ready=(status.revision is not None, "GitError", message),
            reconciling=(temporary, "Retrying", message) if temporary else None,
            stalled=(not temporary, "GitError", message) if not temporary else None,
        )
        await _write_status(kube, workspace, status)
        return

    try:
        folder = await asyncio.to_thread(workspace_folder, checkout, source.path)
    except OutsideCheckout as error:
        # Nothing of the checkout is read, and the Apps of the last good revision keep serving.
        log.warning("workspace %s/%s: %s", namespace, meta.name, error)
        reason = "PathOutsideRepository"
        status.conditions = fold(
            status.conditions, generation, ready=(False, reason, str(error)), stalled=(True, reason, str(error))
        )
        await _write_status(kube, workspace, status)
        return
    result = await asyncio.to_thread(workspace_apps, folder, meta.name, head, source.path)
    await _write_apps(kube, workspace, result)

    status.revision = head
    status.last_sync_time = now()
    status.observed_generation = generation
    status.apps = [AppSummary(name=app.name, valid=True) for app in result.apps] + [
        AppSummary(name=name, valid=False, message=message[:2000]) for name, message in result.invalid.items()
    ]
    problems = "\n".join(result.problems)
    invalid = ", ".join(sorted(result.invalid))
    status.conditions = fold(
        status.conditions,
        generation,
        ready=(
            not result.problems,
            "Synced" if not result.problems else "Invalid",
            problems or f"revision {head[:12]}",
        ),
        stalled=(bool(result.problems or invalid), "Invalid", problems or f"apps with problems: {invalid}"),
    )
    await _write_status(kube, workspace, status)
    log.info(
        "workspace %s/%s synced at %s: %d apps, %d invalid",
        namespace,
        meta.name,
        head[:12],
        len(result.apps),
        len(result.invalid),
    )
