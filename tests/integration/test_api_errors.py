"""Every error is {"code", "message", "details"} with a 4xx status, never plain text or a bare 500, and bodies
over their route's limit are refused with 413 before they are read whole (a real API process, local mode)."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import FIXTURES, Stack, make_stack
from .servers import NatsServer, wait_for

pytestmark = pytest.mark.integration

PAGE = "/api/apps/lab/pages/main"


LIMITS = {"max_script_bytes": "65536", "max_body_bytes": "4096"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API alone (no runner: none of these requests reaches one), with small limits to test against; shared
    by the tests that change nothing but a script of their own."""
    root = tmp_path_factory.mktemp("errors")
    lab = root / "lab-workspace"
    shutil.copytree(FIXTURES / "lab", lab, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "logs").mkdir()
    nats = NatsServer(store=root / "nats")
    nats.start()
    stack = make_stack(lab, nats, root / "logs", **LIMITS)
    yield stack
    stack.stop()
    nats.stop()


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json", response.text
    found: dict[str, Any] = response.json()
    assert set(found) == {"code", "message", "details"} and found["code"] == code, found
    return found


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "code"),
    [
        ("POST", "/api/apps", {"name": "Bad-Name"}, 422, "invalid_request"),
        ("POST", "/api/apps", {"name": "import"}, 422, "invalid_name"),  # a keyword: the SDK refuses it
        ("POST", "/api/apps", {"name": "lab"}, 409, "already_exists"),
        ("POST", "/api/apps/lab/pages", {"name": "main"}, 409, "already_exists"),
        ("GET", "/api/runs/*", None, 422, "invalid_request"),
        ("GET", "/api/runs/%3E", None, 422, "invalid_request"),
        ("DELETE", "/api/runs/runs.local.lab.>", None, 422, "invalid_request"),
        ("GET", "/api/runs/01J0000000000000000000000Z/events", None, 404, "not_found"),
        ("GET", "/api/apps/Lab", None, 422, "invalid_request"),
        ("GET", "/api/apps/nope", None, 404, "not_found"),
        ("GET", f"{PAGE}/scripts/no-such.thing", None, 422, "invalid_request"),
        ("GET", f"{PAGE}/scripts/nothing", None, 404, "not_found"),
        ("GET", "/api/nowhere", None, 404, "not_found"),
        ("PATCH", "/api/apps", None, 405, "method_not_allowed"),
        ("PUT", f"{PAGE}/properties", {"blocks": [{"block_type": "slider"}]}, 422, "invalid_properties"),
    ],
)
def test_errors_are_json_with_a_code(
    stack: Stack, method: str, path: str, payload: Any, status: int, code: str
) -> None:
    with stack.client() as client:
        _error(client.request(method, path, json=payload), status, code)


def test_a_body_that_is_not_utf_8_is_invalid_not_a_400(stack: Stack) -> None:
    # Found by the fuzzer: FastAPI answered 400, which no route documents.
    with stack.client() as client:
        response = client.post("/api/apps", content=b"\xff\xfe", headers={"Content-Type": "application/json"})
    _error(response, 422, "invalid_request")


def test_an_unexpected_error_is_a_json_500_with_an_id_in_the_log(lab: Path, nats: NatsServer, logs: Path) -> None:
    stack = make_stack(lab, nats, logs)
    # A folder where the workspace's properties.json should be: reading it fails in a way nothing expects.
    (stack.workspace / "properties.json").unlink()
    (stack.workspace / "properties.json").mkdir()
    answers: list[httpx.Response] = []

    def failed() -> bool:
        answers.append(client.get("/api/apps"))
        return answers[-1].status_code == 500

    with stack.client() as client:
        wait_for(failed, 10, "a rescan")
    stack.stop()
    found = _error(answers[-1], 500, "internal")
    incident = found["details"]["id"]
    assert incident in found["message"]
    wait_for(lambda: f"internal error {incident}" in stack.api.output(), 10, "the log line")
    assert "IsADirectoryError" in stack.api.output()


def _raw(stack: Stack, head: str, body: bytes = b"", chunks: Iterator[bytes] | None = None) -> tuple[int, bytes]:
    """Send a request by hand (to control Content-Length and chunking); the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", stack.api.port), timeout=30) as connection:
        connection.sendall(head.encode() + b"\r\n" + body)
        for chunk in chunks or ():
            try:
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server answered and closed: the rest was never read
                break
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            data = connection.recv(65536)
            if not data:
                break
            answer += data
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_20_mb_properties_body_is_refused_before_it_is_read(stack: Stack) -> None:
    # Content-Length says 20 MB but only a few bytes are sent: the answer comes without waiting for the rest.
    head = (
        f"PUT {PAGE}/properties HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {20 * 1024 * 1024}\r\n"
    )
    status, body = _raw(stack, head, b'{"blocks": [')
    assert status == 413
    assert json.loads(body)["code"] == "too_large"


def test_a_chunked_run_body_over_the_limit_is_refused(stack: Stack) -> None:
    head = (
        f"POST {PAGE}/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n"
    )
    chunk = b"x" * 65536

    def chunks() -> Iterator[bytes]:
        yield b'{"function": "echo", "state": {"form": {"text": "'
        for _ in range(40):  # 2.5 MB, over the 1 MiB default
            yield chunk
        yield b'"}}}'
        yield b""

    status, body = _raw(stack, head, chunks=chunks())
    assert status == 413
    assert json.loads(body)["code"] == "too_large"


def test_a_script_over_its_limit_is_refused_and_not_saved(stack: Stack) -> None:
    script = stack.workspace / "lab" / "main" / "scripts" / "big.py"
    with stack.client() as client:
        response = client.put(f"{PAGE}/scripts/big", json={"source": "x = 1\n" * 20_000})
        found = _error(response, 413, "too_large")
        assert found["details"][0]["limit_bytes"] == 65536
        assert client.put(f"{PAGE}/scripts/big", json={"source": "x = 1\n"}).status_code == 200
    assert script.read_text(encoding="utf-8") == "x = 1\n"


def test_every_other_body_has_a_limit(stack: Stack) -> None:
    with stack.client() as client:
        _error(client.post("/api/apps", json={"name": "big", "label": "x" * 5000}), 413, "too_large")
    assert not (stack.workspace / "big").exists()


def test_the_openapi_schema_documents_every_error(stack: Stack) -> None:
    with stack.client() as client:
        schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert {"422", "500"} <= documented or "{" not in path, (method, path, documented)
            for status, described in operation["responses"].items():
                if status.startswith(("4", "5")):
                    reference = described["content"]["application/json"]["schema"]["$ref"]
                    # /api/health answers 503 with its own body: what is down.
                    expected = "/HealthPublic" if (path, status) == ("/api/health", "503") else "/ErrorPublic"
                    assert reference.endswith(expected), (method, path, status)
