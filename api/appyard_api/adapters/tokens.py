"""The APPYARD_TOKENS key-value bucket: API token records (hashes, never secrets), keyed ``<namespace>.<id>``.

It shares the dispatcher's NATS connection; the bucket is created on first use. Keys carry the namespace so
that the APIs of several namespaces sharing one NATS never see each other's tokens (their broker identities
may write only their own namespace's keys).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from nats.js import api
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from ..errors import Unavailable
from .dispatch import Dispatcher

TOKENS_BUCKET = "APPYARD_TOKENS"


class TokenBucket:
    """Reads and writes token records (JSON bytes) by id."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._prefix = f"{dispatcher.settings.namespace}."
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            js = self._dispatcher.jetstream()
            try:
                self._kv = await js.key_value(TOKENS_BUCKET)
            except nats.js.errors.BucketNotFoundError:
                self._kv = await js.create_key_value(
                    bucket=TOKENS_BUCKET, history=1, storage=api.StorageType.FILE, max_value_size=65536
                )
        return self._kv

    @asynccontextmanager
    async def _reachable(self) -> AsyncIterator[KeyValue]:
        try:
            yield await self._bucket()
        except (KeyNotFoundError, nats.js.errors.NoKeysError, Unavailable):
            raise
        except (nats.errors.Error, TimeoutError) as error:
            self._kv = None  # a restarted server may have lost the bucket: look it up again next time
            raise Unavailable(f"the API token store is not reachable: {error!r}") from None

    async def get(self, token_id: str) -> bytes | None:
        try:
            async with self._reachable() as kv:
                entry = await kv.get(self._prefix + token_id)
        except KeyNotFoundError:
            return None
        return entry.value

    async def put(self, token_id: str, value: bytes) -> None:
        async with self._reachable() as kv:
            await kv.put(self._prefix + token_id, value)

    async def all(self) -> list[bytes]:
        try:
            async with self._reachable() as kv:
                keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        found = [await self.get(key.removeprefix(self._prefix)) for key in keys if key.startswith(self._prefix)]
        return [value for value in found if value]
