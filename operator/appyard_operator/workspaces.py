"""Syncing a Workspace: check the ref, fetch when it moved, validate, and create, update or delete its Apps.

An app that fails validation at the new revision keeps its App — and so its last good revision keeps
serving — and is marked with the problems (an annotation the App's reconcile turns into ``Stalled``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from appyard import bundles
from appyard.resources import API_VERSION, AppSummary, WorkspaceResource, WorkspaceStatus, kubernetes_name

from . import git
from .app_objects import MANAGED, owner
from .conditions import fold, now
from .kube import Kube
from .settings import OperatorSettings
from .sync import DesiredApp, OutsideCheckout, WorkspaceApps, workspace_apps, workspace_folder

log = logging.getLogger("appyard.operator.workspaces")

Obj = dict[str, Any]
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
    secret = await kube.get("Secret", reference.name, workspace.metadata.namespace or "")
    if secret is None:
        raise git.GitError(f"the git credentials Secret {reference.name!r} does not exist", temporary=True)
    return git.Credentials.from_secret(secret.get("data") or {})


async def _write_status(kube: Kube, workspace: WorkspaceResource, status: WorkspaceStatus) -> None:
    meta = workspace.metadata
    await kube.patch_status("Workspace", meta.name, meta.namespace or "", status.model_dump(mode="json", by_alias=True))


def _app_object(workspace_raw: Obj, spec: Any, namespace: str) -> Obj:
    name = kubernetes_name(spec.app)
    return {
        "apiVersion": API_VERSION,
        "kind": "App",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**MANAGED, WORKSPACE_LABEL: workspace_raw["metadata"]["name"]},
            "ownerReferences": [owner(workspace_raw, "Workspace")],
        },
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def _code_map(app_raw: Obj, name: str, code: bytes) -> Obj:
    meta = app_raw["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {**MANAGED, "appyard.dev/app": meta["name"], "app.kubernetes.io/name": "appyard-code"},
            "ownerReferences": [owner(app_raw, "App")],
        },
        "immutable": True,
        "binaryData": {bundles.KEY: base64.b64encode(code).decode()},
    }


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


async def _write_apps(kube: Kube, raw: Obj, result: WorkspaceApps) -> None:
    """Create or update the Apps of a sync, mark the invalid ones, delete the ones no longer there."""
    namespace, workspace, head = raw["metadata"]["namespace"], raw["metadata"]["name"], result.revision
    everyone = await kube.list("App", namespace)
    owners = {
        item["metadata"]["name"]: (item["metadata"].get("labels") or {}).get(WORKSPACE_LABEL) for item in everyone
    }
    existing = {item["metadata"]["name"]: item for item in everyone if owners[item["metadata"]["name"]] == workspace}
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
        before = existing.get(name, {})
        async with limit:
            applied = await kube.apply(_app_object(raw, app.spec, namespace))
            # A code ConfigMap is named by its content's hash and never changes: written once, not per sync.
            if (before.get("spec") or {}).get("code") != app.spec.code:
                code_map = _code_map(applied, app.spec.code, app.bundle)
                if not await kube.create(code_map):  # there from an earlier revision, or an App of the same name
                    await kube.merge("ConfigMap", code_map, {"metadata": {"ownerReferences": [owner(applied, "App")]}})
            if INVALID in ((before.get("metadata") or {}).get("annotations") or {}):
                await kube.annotate("App", name, namespace, {INVALID: None, INVALID_REVISION: None})

    await asyncio.gather(*(update(app) for app in result.apps))
    for app_name, message in result.invalid.items():
        name = kubernetes_name(app_name)
        wanted.add(name)
        if name in existing:
            await kube.annotate("App", name, namespace, {INVALID: message[:20000], INVALID_REVISION: head})
    for name in existing.keys() - wanted:
        log.info("workspace %s/%s no longer has app %s: deleting it", namespace, workspace, name)
        await kube.delete("App", name, namespace)


async def sync(kube: Kube, settings: OperatorSettings, raw: Obj, *, force: bool = False) -> None:
    """Bring the Workspace's Apps up to date with its git ref (a no-op when the ref has not moved)."""
    workspace = WorkspaceResource.model_validate(raw)
    meta = workspace.metadata
    namespace = meta.namespace or ""
    key = (namespace, meta.name)
    async with _locks.setdefault(key, asyncio.Lock()):
        raw = await kube.get("Workspace", meta.name, namespace) or raw  # the latest status
        workspace = WorkspaceResource.model_validate(raw)
        await _sync(kube, settings, raw, workspace, force)


async def _sync(kube: Kube, settings: OperatorSettings, raw: Obj, workspace: WorkspaceResource, force: bool) -> None:
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
    await _write_apps(kube, raw, result)

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
