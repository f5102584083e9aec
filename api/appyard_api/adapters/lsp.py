"""python-lsp-server for one page, bridged to a websocket (the Studio's script editor talks to it).

``pylsp --ws`` would listen on every interface, so the API runs pylsp over stdio instead, one process per
editor connection, and relays JSON-RPC messages. The editor names files under a virtual root
(``file:///page/scripts/orders.py``); the bridge maps that root to the page's real folder in both
directions, so server paths never reach the browser. Completions of the page's own fields are ranked above
the attributes every pydantic model has (``model_dump``, ``copy``, …), so ``state.`` lists the page's
blocks first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import LanguageServersBusy

VIRTUAL_ROOT = "file:///page/"
_MODEL_ATTRIBUTES = frozenset(name for name in dir(BaseModel) if not name.startswith("_"))


class LanguageServerPool:
    """Caps the pylsp processes of an API process, in all and per person (each costs ~50-100 MB and a core
    while it indexes); a session over a cap is refused with the reason, never queued."""

    def __init__(self, max_processes: int, max_per_user: int) -> None:
        self.max_processes = max_processes
        self.max_per_user = max_per_user
        self._by_user: Counter[str] = Counter()

    @property
    def running(self) -> int:
        return sum(self._by_user.values())

    @contextlib.contextmanager
    def lease(self, user: str) -> Iterator[None]:
        """Hold one process slot for ``user`` (one event loop: no lock needed); raises LanguageServersBusy."""
        if self.running >= self.max_processes:
            raise LanguageServersBusy(
                f"editor busy: {self.running} sessions open on this server (its limit); try again later"
            )
        if self._by_user[user] >= self.max_per_user:
            raise LanguageServersBusy(
                f"editor busy: you have {self._by_user[user]} sessions open (the limit); close one"
            )
        self._by_user[user] += 1
        try:
            yield
        finally:
            self._by_user[user] -= 1
            if not self._by_user[user]:
                del self._by_user[user]


class LanguageServer:
    """One pylsp process rooted at a page folder."""

    def __init__(self, page_dir: Path, workspace_root: Path, cache_dir: Path) -> None:
        self.page_dir = page_dir.resolve()
        self.workspace_root = workspace_root.resolve()
        self.cache_dir = cache_dir
        self.real_root = self.page_dir.as_uri() + "/"
        self._process: asyncio.subprocess.Process | None = None
        self._completions: set[Any] = set()

    async def start(self) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pylsp",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=self.page_dir,
            env={**os.environ, "XDG_CACHE_HOME": str(self.cache_dir)},
        )

    async def close(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()

    def _pipes(self) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
        if self._process is None or self._process.stdin is None or self._process.stdout is None:
            raise RuntimeError("the language server is not started")
        return self._process.stdin, self._process.stdout

    async def _write(self, body: str) -> None:
        stdin, _ = self._pipes()
        data = body.encode()
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        await stdin.drain()

    async def send(self, text: str) -> None:
        """A message from the editor to the server."""
        message = json.loads(text.replace(VIRTUAL_ROOT, self.real_root))
        if message.get("method") == "textDocument/completion":
            self._completions.add(message.get("id"))
        await self._write(json.dumps(message))
        if message.get("method") == "initialized":
            # Scripts may import their app's modules absolutely (`from orders import db`): the workspace folder
            # is on jedi's path, as it is on the runner's.
            settings = {"pylsp": {"plugins": {"jedi": {"extra_paths": [str(self.workspace_root)]}}}}
            await self._write(
                json.dumps(
                    {"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {"settings": settings}}
                )
            )

    async def receive(self) -> str | None:
        """The next message from the server to the editor; None when the server has exited."""
        _, stdout = self._pipes()
        length = 0
        while True:
            line = await stdout.readline()
            if not line:
                return None
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("ascii").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await stdout.readexactly(length)
        message = json.loads(body)
        if message.get("id") in self._completions and "method" not in message:
            self._completions.discard(message["id"])
            _rank_page_fields_first(message.get("result"))
        return json.dumps(message).replace(self.real_root, VIRTUAL_ROOT)


def _rank_page_fields_first(result: Any) -> None:
    items = result.get("items", []) if isinstance(result, dict) else result or []
    for item in items:
        label = str(item.get("label", "")).split("(")[0]
        if label in _MODEL_ATTRIBUTES:
            item["sortText"] = "~" + str(item.get("sortText", label))


async def warm_cache(cache_dir: Path) -> None:
    """Fill jedi's cache for pydantic and appyard in the background (the first completion costs ~8 s cold)."""
    with contextlib.suppress(Exception):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import jedi; jedi.Script('import pydantic, appyard\\npydantic.BaseModel().model_').complete(2, 26)",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "XDG_CACHE_HOME": str(cache_dir)},
        )
        await process.wait()
