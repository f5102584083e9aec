"""The Kubernetes adapter: the few calls the reconcilers need, over lightkube's async client.

Objects go in and out as lightkube's typed models (``lightkube.resources``); Apps and Workspaces come out as
the SDK's pydantic models (:class:`~appyard.resources.AppResource`, :class:`~appyard.resources.WorkspaceResource`).
Writes are server-side applies with one field manager, so applying the same objects twice — or after an
operator restart — changes nothing and creates no duplicates.
"""

from __future__ import annotations

from typing import Any, TypeVar

from httpx2 import HTTPStatusError  # lightkube's HTTP client
from lightkube import ALL_NS, AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.core.resource import NamespacedResource
from lightkube.generic_resource import GenericNamespacedResource, create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

from appyard.resources import (
    API_VERSION,
    GROUP,
    VERSION,
    AppResource,
    AppSpec,
    AppStatus,
    WorkspaceResource,
    WorkspaceStatus,
)

FIELD_MANAGER = "appyard-operator"

App = create_namespaced_resource(GROUP, VERSION, "App", "apps")
Workspace = create_namespaced_resource(GROUP, VERSION, "Workspace", "workspaces")

R = TypeVar("R", bound=NamespacedResource)  # a lightkube resource class (ConfigMap, Job, …) and its objects


def app_object(metadata: ObjectMeta, spec: AppSpec) -> GenericNamespacedResource:
    """An App to apply (its status is the operator's to write, through the status subresource)."""
    return App(
        apiVersion=API_VERSION,
        kind="App",
        metadata=metadata,
        spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


class Kube:
    """Reads and writes for the operator."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def apply(self, obj: R) -> R:
        """Server-side apply (create or update) of a whole object."""
        return await self.client.apply(obj, field_manager=FIELD_MANAGER, force=True)

    async def apply_app(self, obj: GenericNamespacedResource) -> AppResource:
        """Server-side apply of an App (:func:`app_object`); the App as stored."""
        return AppResource.model_validate(dict(await self.apply(obj)))

    async def create(self, obj: NamespacedResource) -> bool:
        """Create unless it exists; True when created (Jobs are created once, never re-applied)."""
        try:
            await self.client.create(obj)
        except ApiError as error:
            if error.status.code == 409:
                return False
            raise
        return True

    async def merge(self, obj: ConfigMap, patch: ConfigMap) -> None:
        """Merge-patch the fields set in ``patch`` into a ConfigMap, creating it (as ``obj``) first when it does
        not exist.

        Unlike an apply, this keeps fields other writes put there (the images ConfigMap gains one key per
        build)."""
        meta = obj.metadata
        if meta is None or not meta.name or not meta.namespace:
            raise ValueError("a ConfigMap to merge into needs a name and a namespace")
        document: dict[str, Any] = patch.to_dict()
        # The document holds only what changes (kind and apiVersion come with every typed object).
        document.pop("apiVersion", None)
        document.pop("kind", None)
        for _ in range(3):
            try:
                await self.client.patch(
                    ConfigMap, meta.name, document, namespace=meta.namespace, patch_type=PatchType.MERGE
                )
                return
            except ApiError as error:
                if error.status.code != 404:
                    raise
            await self.create(obj)
        raise RuntimeError(f"cannot record ConfigMap {meta.namespace}/{meta.name}")

    async def get(self, kind: type[R], name: str, namespace: str) -> R | None:
        """The object, or None when there is none."""
        try:
            return await self.client.get(kind, name, namespace=namespace)
        except ApiError as error:
            if error.status.code == 404:
                return None
            raise

    async def app(self, name: str, namespace: str) -> AppResource | None:
        """The App, or None when there is none."""
        found = await self.get(App, name, namespace)
        return None if found is None else AppResource.model_validate(dict(found))

    async def apps(self, namespace: str) -> list[AppResource]:
        """Every App of the namespace."""
        return [AppResource.model_validate(dict(item)) for item in await self.list(App, namespace)]

    async def workspace(self, name: str, namespace: str) -> WorkspaceResource | None:
        """The Workspace, or None when there is none."""
        found = await self.get(Workspace, name, namespace)
        return None if found is None else WorkspaceResource.model_validate(dict(found))

    async def workspaces(self, namespace: str) -> list[WorkspaceResource]:
        """Every Workspace of the namespace."""
        return [WorkspaceResource.model_validate(dict(item)) for item in await self.list(Workspace, namespace)]

    # Defined after the methods that annotate with the builtin ``list``, which it shadows in the class.
    async def list(self, kind: type[R], namespace: str, labels: dict[str, str] | None = None) -> list[R]:
        """The objects of ``kind`` in the namespace, with all of ``labels`` when given."""
        selector: dict[str, Any] = dict(labels or {})
        return [item async for item in self.client.list(kind, namespace=namespace, labels=selector)]

    async def served(self, kind: type[NamespacedResource], namespace: str | None) -> bool:
        """Whether the API server serves ``kind`` (its CRD is installed), from a list of at most one item in
        ``namespace`` (None: every namespace) — what the operator may do with the least RBAC."""
        try:
            async for _ in self.client.list(kind, namespace=namespace or ALL_NS, chunk_size=1):
                break
        except HTTPStatusError as error:  # an API group the server does not know is a plain 404, not an ApiError
            if error.response.status_code == 404:
                return False
            raise
        return True

    async def patch_status(self, name: str, namespace: str, status: AppStatus | WorkspaceStatus) -> None:
        """Merge-patch the status subresource of an App (``AppStatus``) or a Workspace (``WorkspaceStatus``)."""
        kind = App if isinstance(status, AppStatus) else Workspace
        document = {"status": status.model_dump(mode="json", by_alias=True)}
        await self.client.patch(kind.Status, name, document, namespace=namespace, patch_type=PatchType.MERGE)

    async def annotate(
        self, kind: type[NamespacedResource], name: str, namespace: str, annotations: dict[str, str | None]
    ) -> None:
        """Set (or, with None, remove) annotations."""
        await self.client.patch(
            kind,
            name,
            {"metadata": {"annotations": annotations}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )

    async def delete(self, kind: type[NamespacedResource], name: str, namespace: str) -> None:
        """Delete the object; one already gone is not an error."""
        try:
            await self.client.delete(kind, name, namespace=namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
