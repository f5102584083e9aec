"""Editor sessions over the API's websocket: over the cap they are closed with the reason; idle ones end."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .conftest import Stack, make_stack
from .servers import NatsServer, wait_for

pytestmark = pytest.mark.integration

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"rootUri": "file:///page/", "capabilities": {}},
}


@pytest.fixture
def stack(lab: Path, nats: NatsServer, logs: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The API with the settings the test gives (no runner: editors do not need one)."""
    stack = make_stack(lab, nats, logs, **request.param)
    yield stack
    stack.stop()


def _open(stack: Stack) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{stack.api.port}/api/lsp/lab/main", open_timeout=30)


def _initialized(editor: ClientConnection) -> None:
    """The session works: pylsp answers initialize."""
    editor.send(json.dumps(INITIALIZE))
    while json.loads(editor.recv(timeout=60)).get("id") != 1:
        pass


def _closed(editor: ClientConnection) -> tuple[int, str]:
    try:
        while True:
            editor.recv(timeout=60)
    except ConnectionClosed as closed:
        received = closed.rcvd
    assert received is not None
    return received.code, received.reason


@pytest.mark.parametrize("stack", [{"lsp_max_per_user": "2"}], indirect=True)
def test_sessions_over_the_per_person_cap_are_refused_with_the_reason(stack: Stack) -> None:
    with contextlib.ExitStack() as sessions:
        first, second = sessions.enter_context(_open(stack)), sessions.enter_context(_open(stack))
        _initialized(first)
        _initialized(second)
        with _open(stack) as third:
            assert _closed(third) == (1013, "editor busy: you have 2 sessions open (the limit); close one")
        second.close()
        # A closed session gives its slot back (once the API has seen the close and stopped its pylsp).
        opened: list[ClientConnection] = []

        def reopened() -> bool:
            opened.append(sessions.enter_context(_open(stack)))
            try:
                _initialized(opened[-1])
            except ConnectionClosed:
                return False
            return True

        wait_for(reopened, 30, "a free slot")


@pytest.mark.parametrize("stack", [{"lsp_idle_seconds": "2"}], indirect=True)
def test_an_idle_session_is_closed(stack: Stack) -> None:
    with _open(stack) as editor:
        code, reason = _closed(editor)  # nothing sent either way for lsp_idle_seconds
    assert code == 1000 and "without activity" in reason
