"""An app's declared secret never leaves the runner: not in output, progress, results, errors or events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Stack, make_stack, wait_ready
from .servers import NatsServer
from .test_runs import events, result_of, start

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-LAB-value-5e1f"  # the lab app declares runner.secrets = ["LAB_SECRET"]
FINGERPRINT = f"len={len(SECRET)} sha256={hashlib.sha256(SECRET.encode()).hexdigest()}"
REDACTED = "[secret LAB_SECRET]"


@pytest.fixture
def vault_stack(
    lab: Path, nats: NatsServer, logs: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """The lab app with LAB_SECRET in its runner's environment."""
    monkeypatch.setenv("LAB_SECRET", SECRET)
    stack = make_stack(lab, nats, logs, run_wait_seconds="20")
    stack.start_runner("lab")
    wait_ready(stack)
    yield stack
    if getattr(getattr(request.node, "rep_call", None), "failed", False):
        print(stack.diagnostics())
    stack.stop()


def test_a_secret_printed_reported_and_returned_is_redacted(vault_stack: Stack) -> None:
    with vault_stack.client() as client:
        run_id = start(client, "spill", wait=False).json()["run_id"]
        seen = events(vault_stack, run_id)
        result = result_of(client, run_id)
        audit = client.get("/api/audit", params={"app": "lab"}).text
    # The function read the real value: the fingerprint it computed from it came through.
    assert result["status"] == "succeeded", result
    assert result["context"]["form"]["message"] == f"{FINGERPRINT} value={REDACTED}"
    assert result["stdout"] == f"connecting with {REDACTED}\n"
    logs = "".join(event["text"] for event in seen if event["type"] == "log")
    assert logs == f"connecting with {REDACTED}\n"
    progress = [event["text"] for event in seen if event["type"] == "progress"]
    assert progress == [f"token {REDACTED} accepted"]
    for where in (json.dumps(seen), json.dumps(result), audit, vault_stack.runners["lab"][0].output()):
        assert SECRET not in where


def test_a_secret_in_an_exception_is_redacted_from_its_message_and_traceback(vault_stack: Stack) -> None:
    with vault_stack.client() as client:
        run_id = start(client, "spill_and_raise", wait=False).json()["run_id"]
        seen = events(vault_stack, run_id)
        result = result_of(client, run_id)
    error = result["error"]
    assert (result["status"], error["kind"]) == ("failed", "exception")
    assert error["message"] == f"ConnectionError: login refused for password {REDACTED} ({FINGERPRINT})"
    assert f"ConnectionError: login refused for password {REDACTED}" in error["traceback"]
    assert "vault.py" in error["traceback"]
    assert result["stdout"] == f"{REDACTED}\n"
    assert SECRET not in json.dumps(result)
    assert SECRET not in json.dumps(seen)
