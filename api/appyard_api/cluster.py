"""Cluster mode: apps and pages come from the namespace's ``App`` objects, kept current by one watch.

The operator writes an App for every valid app of a Workspace; its spec names the ConfigMap that holds the
app's files at that revision (the same bundle the app's runner pods unpack). The store watches the Apps and,
when an App's code changes, unpacks its bundle into a private folder (atomically: unpack beside, then
rename) and serves it through the same code as local mode. So the API validates a run's state against
exactly the generated models the runners run, and the page's functions, their docs and scripts come from
the code too. Nothing is written back: in a cluster, apps change by ``git push``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError, NotReadyError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import ConfigMap

from appyard.errors import NotFound
from appyard.resources import GROUP, VERSION, AppResource

from .store import FileStore

log = logging.getLogger("appyard.api.cluster")

App = create_namespaced_resource(GROUP, VERSION, "App", "apps")
BUNDLE_KEY = "code.tar.gz"
READ_ONLY = "in a cluster, apps change by git push: commit the change to the Workspace's repository"


def _app(item: Any) -> AppResource:
    return AppResource.model_validate(item.to_dict())


class ClusterStore(FileStore):
    """Apps from the App objects of one namespace (read-only)."""

    def __init__(self, namespace: str, cache_dir: Path, client: AsyncClient | None = None) -> None:
        root = cache_dir / "cluster" / namespace / "workspace"
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(root, read_only=READ_ONLY)
        self.namespace = namespace
        self._client = client
        self._apps: dict[str, AppResource] = {}  # by object name
        self._code: dict[str, str] = {}  # app name → code ConfigMap unpacked for it
        self._watch: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self._write_workspace()

    # -- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """List the Apps (so the first request sees them), then keep watching."""
        self._client = self._client or AsyncClient()
        version = await self._list()
        self._watch = asyncio.get_running_loop().create_task(self._follow(version))

    async def stop(self) -> None:
        for task in [*self._retries, *([self._watch] if self._watch else [])]:
            task.cancel()
        await asyncio.gather(*self._retries, *([self._watch] if self._watch else []), return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    async def _list(self) -> str | None:
        assert self._client is not None
        listing = self._client.list(App, namespace=self.namespace)
        seen: dict[str, AppResource] = {}
        async for item in listing:
            app = _app(item)
            seen[app.metadata.name] = app
        for name in self._apps.keys() - seen.keys():
            self._forget(name)
        for app in seen.values():
            await self._upsert(app)
        self._changed()
        try:
            version: str | None = listing.resourceVersion
        except NotReadyError:
            version = None
        return version

    async def _follow(self, version: str | None) -> None:
        """One watch for the process's lifetime; on any error, list again and resume from there."""
        assert self._client is not None
        while True:
            try:
                async for kind, item in self._client.watch(App, namespace=self.namespace, resource_version=version):
                    app = _app(item)
                    version = app.metadata.resource_version or version
                    if kind == "DELETED":
                        self._forget(app.metadata.name)
                    else:
                        await self._upsert(app)
                    self._changed()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # expired resource version, API server restarts, network errors
                log.warning("watching Apps in %s: %s; listing again", self.namespace, error)
                await asyncio.sleep(1)
                try:
                    version = await self._list()
                except Exception as listing:
                    log.warning("listing Apps in %s: %s", self.namespace, listing)
                    version = None

    # -- materializing ----------------------------------------------------------------------------------

    async def _upsert(self, app: AppResource, attempt: int = 0) -> None:
        self._apps[app.metadata.name] = app
        name = app.spec.app
        # What the runners run: while a new revision waits for its image, the API keeps serving the old code.
        code = app.status.serving_code or app.spec.code
        if self._code.get(name) == code:
            return
        assert self._client is not None
        try:
            config_map = await self._client.get(ConfigMap, code, namespace=self.namespace)
        except ApiError as error:
            # The operator writes an App just before its code: try again shortly, then less often.
            log.warning("app %s: cannot read its code %s yet: %s", name, code, error.status.message)
            self._retry(app, attempt + 1)
            return
        bundle = base64.b64decode((config_map.binaryData or {})[BUNDLE_KEY])
        await asyncio.to_thread(self._unpack, name, bundle)
        self._code[name] = code
        log.info("app %s: serving %s", name, code)

    def _retry(self, app: AppResource, attempt: int) -> None:
        async def again() -> None:
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
            if self._apps.get(app.metadata.name) is app:  # not replaced or deleted meanwhile
                await self._upsert(app, attempt)
                self._changed()

        task = asyncio.get_running_loop().create_task(again())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    def _unpack(self, name: str, bundle: bytes) -> None:
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
        with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as archive:
            archive.extractall(staging, filter="data")
        target = self.root / name
        retired = self.root / f".{name}-retired"
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)

    def _forget(self, object_name: str) -> None:
        app = self._apps.pop(object_name, None)
        if app is None:
            return
        self._code.pop(app.spec.app, None)
        shutil.rmtree(self.root / app.spec.app, ignore_errors=True)
        log.info("app %s removed", app.spec.app)

    def _changed(self) -> None:
        self._write_workspace()
        self._refresh(force=True)

    def _write_workspace(self) -> None:
        apps = sorted((app for app in self._apps.values() if app.spec.app in self._code), key=lambda app: app.spec.app)
        properties: dict[str, Any] = {
            "label": f"Appyard — {self.namespace}",
            "apps": [{"name": app.spec.app, **({"label": app.spec.label} if app.spec.label else {})} for app in apps],
        }
        path = self.root / "properties.json"
        staging = path.with_suffix(".tmp")
        staging.write_text(json.dumps(properties, indent=2), encoding="utf-8")
        staging.replace(path)

    def unavailable(self, app: str) -> str | None:
        for resource in self._apps.values():
            if resource.spec.app == app and resource.status.serving_revision is None:
                ready = next((item for item in resource.status.conditions if item.type == "Ready"), None)
                why = f": {ready.message}" if ready is not None and ready.message else ""
                return f"app {app!r} has no runners serving it yet{why}"
        return None

    def revision(self, app: str) -> str:
        """The commit an app's files come from."""
        for resource in self._apps.values():
            if resource.spec.app == app:
                return resource.spec.revision
        raise NotFound(f"no app {app!r}")
