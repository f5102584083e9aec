"""POST /hooks/<namespace>/<workspace>: a git host's push webhook triggers an immediate sync.

The body must be signed with the Workspace's webhook secret (key ``secret`` of ``spec.webhookSecretRef``):
HMAC-SHA256 of the body, hex, in ``X-Hub-Signature-256: sha256=…`` (GitHub, Gitea, Forgejo) or
``X-Gitea-Signature``. Anything else is refused without a sync.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web
from lightkube.resources.core_v1 import Secret

from appyard.resources import WorkspaceResource

from .kube import Kube

log = logging.getLogger("appyard.operator.webhook")

Sync = Callable[[WorkspaceResource], Coroutine[Any, Any, None]]


def signature_valid(secret: bytes, body: bytes, header: str) -> bool:
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    given = header.removeprefix("sha256=").strip()
    return hmac.compare_digest(expected, given)


def application(kube: Kube, sync: Sync) -> web.Application:
    """The webhook endpoint; ``sync`` runs a Workspace's sync (in the background)."""
    tasks: set[asyncio.Task[None]] = set()

    async def hook(request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        body = await request.read()
        workspace = await kube.workspace(name, namespace)
        if workspace is None:
            return web.json_response({"message": f"no Workspace {namespace}/{name}"}, status=404)
        reference = workspace.spec.webhook_secret_ref
        if reference is None:
            return web.json_response({"message": "this Workspace has no webhookSecretRef"}, status=403)
        secret = await kube.get(Secret, reference.name, namespace)
        key = base64.b64decode(((secret.data if secret else None) or {}).get("secret", ""))
        header = request.headers.get("X-Hub-Signature-256") or request.headers.get("X-Gitea-Signature") or ""
        if not key or not signature_valid(key, body, header):
            log.warning("refused a webhook for %s/%s: bad or missing signature", namespace, name)
            return web.json_response({"message": "bad signature"}, status=401)
        task = asyncio.get_running_loop().create_task(sync(workspace))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.json_response({"message": "sync started"}, status=202)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=5 * 1024 * 1024)
    app.router.add_post("/hooks/{namespace}/{name}", hook)
    app.router.add_get("/healthz", health)
    return app
