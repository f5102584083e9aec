"""Pulling runs from the app's durable consumer with exactly as many requests out as there are free slots.

nats-py's ``fetch(batch=n)`` waits for a whole batch before returning, which adds latency when runs arrive
one by one; this loop instead keeps pull requests outstanding for the free capacity and hands each message to
the handler the moment it arrives — the same pattern as ``Consume`` in the Go client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger("appyard.runner.consume")

Handler = Callable[[Msg], Awaitable[None]]

_EXPIRES_SECONDS = 30.0


class PullLoop:
    """Keeps ``capacity`` runs in flight at most, pulling more as handlers finish."""

    def __init__(self, nc: Client, stream: str, consumer: str, capacity: int, handler: Handler) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._capacity = capacity
        self._handler = handler
        self._in_flight: set[asyncio.Task[None]] = set()
        self._requested = 0  # messages asked for and not yet delivered or expired
        self._inbox = nc.new_inbox()
        self._sub: Subscription | None = None
        self._stopping = False
        self._missing = False  # the last pull request had no responder
        self.idle = asyncio.Event()
        self.idle.set()

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_message)
        await self._request()

    def reset(self) -> None:
        """Forget outstanding pull requests (after a reconnect the server may have lost them)."""
        self._requested = 0
        asyncio.get_running_loop().create_task(self._request())

    async def _request(self) -> None:
        free = self._capacity - len(self._in_flight) - self._requested
        if self._stopping or free <= 0 or not self._nc.is_connected:
            return
        self._requested += free
        body = {"batch": free, "expires": int(_EXPIRES_SECONDS * 1e9), "idle_heartbeat": int(5e9)}
        try:
            await self._nc.publish(self._next, json.dumps(body).encode(), reply=self._inbox)
        except Exception as error:  # disconnected: the reconnect handler resets and asks again
            self._requested -= free
            log.warning("pull request failed: %s", error)

    async def _request_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._request()

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is not None and not msg.data:
            if status in ("404", "408", "409"):  # no messages / request expired / request ended by the server
                # The server says how many of that request's messages it will no longer send; an expired request
                # is renewed here, so a pull request is always out while there is free capacity.
                pending = msg.headers.get("Nats-Pending-Messages") if msg.headers else None
                self._requested = max(0, self._requested - int(pending)) if pending else 0
                await self._request()
            if status == "503":  # no responders: the consumer is gone (deleted, or the server lost it)
                # Ask again shortly rather than wait for an expiry that will never come; the API makes it again.
                self._requested = 0
                if not self._missing:
                    log.warning("the consumer is gone; asking again every second until it is back")
                self._missing = True
                asyncio.get_running_loop().create_task(self._request_later(1.0))
                return
            return  # "100" heartbeats and flow control need nothing
        self._missing = False
        self._requested = max(0, self._requested - 1)
        task = asyncio.get_running_loop().create_task(self._run(msg))
        self._in_flight.add(task)
        self.idle.clear()

    async def _run(self, msg: Msg) -> None:
        try:
            await self._handler(msg)
        except Exception:
            log.exception("handling a run failed; it will be redelivered")
        finally:
            self._in_flight.discard(asyncio.current_task())
            if not self._in_flight:
                self.idle.set()
            await self._request()

    async def stop(self, grace: float) -> None:
        """Stop pulling, let runs in flight finish for up to ``grace`` seconds, then unsubscribe."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), grace)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
