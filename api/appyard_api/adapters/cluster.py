"""Cluster mode: apps and pages come from the namespace's ``App`` objects, kept current by one watch.

The operator writes an App for every valid app of a Workspace; it names the ConfigMap holding the app's
files (a code bundle, :mod:`appyard.bundles`) and, in its status, the bundle the app's runners serve. The
store watches the Apps and, when the served code of one changes, unpacks that bundle into a private folder
(atomically) and serves it through the same code as local mode. So the API validates a run's state against
exactly the generated models the runners run, and the page's functions, their docs and scripts come from
the code too, as do each page's database facts (its database.json, which the App's ``spec.pages[].database``
shows). The workspace's data-source declarations, in no app's bundle, come from the Apps' ``spec.dataSources``.
Nothing is written back: in a cluster, apps change by ``git push``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError, NotReadyError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import ConfigMap

from appyard import atomic, bundles
from appyard.resources import GROUP, VERSION, AppResource

from .store import FileStore

log = logging.getLogger("appyard.api.cluster")

App = create_namespaced_resource(GROUP, VERSION, "App", "apps")
READ_ONLY = "in a cluster, apps change by git push: commit the change to the Workspace's repository"


def _app(item: Any) -> AppResource:
    return AppResource.model_validate(item.to_dict())


def _code(app: AppResource) -> str:
    """The code ConfigMap to serve: what the runners run (while a new revision waits for its image, the old)."""
    return app.status.serving_code or app.spec.code


class ClusterStore(FileStore):
    """Apps from the App objects of one namespace (read-only)."""

    def __init__(self, namespace: str, cache_dir: Path, client: AsyncClient | None = None) -> None:
        root = cache_dir / "cluster" / namespace / "workspace"
        root.mkdir(parents=True, exist_ok=True)
        # Files change only when this store unpacks a bundle, and then it rescans: no watcher.
        super().__init__(root, watch=False, read_only=READ_ONLY)
        self.namespace = namespace
        self._client = client
        self._apps: dict[str, AppResource] = {}  # by app name
        self._code: dict[str, str] = {}  # app name → the code ConfigMap unpacked for it
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
        tasks = [*self._retries, *([self._watch] if self._watch else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    async def _list(self) -> str | None:
        assert self._client is not None
        listing = self._client.list(App, namespace=self.namespace)
        seen = {app.spec.app: app for app in [_app(item) async for item in listing]}
        changed = [self._forget(name) for name in self._apps.keys() - seen.keys()]
        changed += [await self._upsert(app) for app in seen.values()]
        if any(changed):
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
                    # Most events are status updates that change nothing served: only a change rescans.
                    if self._forget(app.spec.app) if kind == "DELETED" else await self._upsert(app):
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

    async def _upsert(self, app: AppResource, attempt: int = 0) -> bool:
        """Remember the App; unpack its code when that changed. True when what is served changed."""
        name, code = app.spec.app, _code(app)
        self._apps[name] = app
        if self._code.get(name) == code:
            return False
        assert self._client is not None
        try:
            config_map = await self._client.get(ConfigMap, code, namespace=self.namespace)
        except ApiError as error:
            # The operator writes an App just before its code: try again shortly, then less often.
            log.warning("app %s: cannot read its code %s yet: %s", name, code, error.status.message)
            self._retry(app, attempt + 1)
            return False
        bundle = base64.b64decode((config_map.binaryData or {})[bundles.KEY])
        await asyncio.to_thread(bundles.unpack, bundle, self.root / name)
        self._code[name] = code
        log.info("app %s: serving %s", name, code)
        return True

    def _retry(self, app: AppResource, attempt: int) -> None:
        async def again() -> None:
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
            if self._apps.get(app.spec.app) is app and await self._upsert(app, attempt):  # not replaced meanwhile
                self._changed()

        task = asyncio.get_running_loop().create_task(again())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    def _forget(self, name: str) -> bool:
        if self._apps.pop(name, None) is None:
            return False
        self._code.pop(name, None)
        shutil.rmtree(self.root / name, ignore_errors=True)
        log.info("app %s removed", name)
        return True

    def _changed(self) -> None:
        self._write_workspace()
        self._refresh(force=True)

    def _write_workspace(self) -> None:
        apps = [{"name": name, "label": self._apps[name].spec.label} for name in sorted(self._code)]
        properties = {"label": f"Appyard — {self.namespace}", "apps": apps, "data_sources": self._data_sources()}
        atomic.write_all({self.root / "properties.json": json.dumps(properties, indent=2)})

    def _data_sources(self) -> dict[str, Any]:
        """The data sources the served apps declare (from their Apps: the workspace's properties.json is not in
        an app's bundle), so validation here sees the same declarations as in git. No URLs: the API never
        connects to a database in a cluster."""
        declared: dict[str, Any] = {}
        for name in sorted(self._code):
            for source, declaration in self._apps[name].spec.data_sources.items():
                declared.setdefault(source, declaration.model_dump(mode="json", exclude_none=True))
        return dict(sorted(declared.items()))

    def unavailable(self, app: str) -> str | None:
        resource = self._apps.get(app)
        if resource is None or resource.status.serving_revision is not None:
            return None
        ready = next((item for item in resource.status.conditions if item.type == "Ready"), None)
        why = f": {ready.message}" if ready is not None and ready.message else ""
        return f"app {app!r} has no runners serving it yet{why}"
