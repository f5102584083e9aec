"""The Kubernetes adapter: the few calls the reconcilers need, over lightkube's async client.

Objects go in and out as plain dicts (what the plans produce). Writes are server-side applies with one
field manager, so applying the same plan twice — or after an operator restart — changes nothing and
creates no duplicates.
"""

from __future__ import annotations

from typing import Any

from httpx2 import HTTPStatusError  # lightkube's HTTP client
from lightkube import ALL_NS, AsyncClient, codecs
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Pod, Secret
from lightkube.types import PatchType

from appyard.resources import GROUP, VERSION

Obj = dict[str, Any]
FIELD_MANAGER = "appyard-operator"

App = create_namespaced_resource(GROUP, VERSION, "App", "apps")
Workspace = create_namespaced_resource(GROUP, VERSION, "Workspace", "workspaces")
KINDS: dict[str, Any] = {
    "App": App,
    "Workspace": Workspace,
    "ConfigMap": ConfigMap,
    "Secret": Secret,
    "Job": Job,
    "Pod": Pod,
    "Deployment": Deployment,
}


def _dict(resource: Any) -> Obj:
    if isinstance(resource, dict):
        return resource
    converted: Obj = resource.to_dict()
    return converted


class Kube:
    """Reads and writes for the operator."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def apply(self, obj: Obj) -> Obj:
        """Server-side apply (create or update) of a whole object."""
        applied = await self.client.apply(codecs.from_dict(obj), field_manager=FIELD_MANAGER, force=True)
        return _dict(applied)

    async def create(self, obj: Obj) -> bool:
        """Create unless it exists; True when created (Jobs are created once, never re-applied)."""
        try:
            await self.client.create(codecs.from_dict(obj))
        except ApiError as error:
            if error.status.code == 409:
                return False
            raise
        return True

    async def merge(self, kind: str, obj: Obj, patch: Obj) -> None:
        """Merge-patch ``patch`` into an object, creating it (as ``obj``) first when it does not exist.

        Unlike an apply, this keeps fields other writes put there (the images ConfigMap gains one key per
        build)."""
        meta = obj["metadata"]
        for _ in range(3):
            try:
                await self.client.patch(
                    KINDS[kind], meta["name"], patch, namespace=meta["namespace"], patch_type=PatchType.MERGE
                )
                return
            except ApiError as error:
                if error.status.code != 404:
                    raise
            await self.create(obj)
        raise RuntimeError(f"cannot record {kind} {meta['namespace']}/{meta['name']}")

    async def get(self, kind: str, name: str, namespace: str) -> Obj | None:
        try:
            return _dict(await self.client.get(KINDS[kind], name, namespace=namespace))
        except ApiError as error:
            if error.status.code == 404:
                return None
            raise

    async def list(self, kind: str, namespace: str, labels: dict[str, str] | None = None) -> list[Obj]:
        selector: dict[str, Any] = dict(labels or {})
        return [_dict(item) async for item in self.client.list(KINDS[kind], namespace=namespace, labels=selector)]

    async def served(self, kind: str, namespace: str | None) -> bool:
        """Whether the API server serves ``kind`` (its CRD is installed), from a list of at most one item in
        ``namespace`` (None: every namespace) — what the operator may do with the least RBAC."""
        try:
            async for _ in self.client.list(KINDS[kind], namespace=namespace or ALL_NS, chunk_size=1):
                break
        except HTTPStatusError as error:  # an API group the server does not know is a plain 404, not an ApiError
            if error.response.status_code == 404:
                return False
            raise
        return True

    async def patch_status(self, kind: str, name: str, namespace: str, status: Obj) -> None:
        """Merge-patch the status subresource."""
        await self.client.patch(
            KINDS[kind].Status, name, {"status": status}, namespace=namespace, patch_type=PatchType.MERGE
        )

    async def annotate(self, kind: str, name: str, namespace: str, annotations: dict[str, str | None]) -> None:
        """Set (or, with None, remove) annotations."""
        await self.client.patch(
            KINDS[kind],
            name,
            {"metadata": {"annotations": annotations}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )

    async def delete(self, kind: str, name: str, namespace: str) -> None:
        try:
            await self.client.delete(KINDS[kind], name, namespace=namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
