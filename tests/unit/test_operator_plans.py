"""The operator's pure parts: what a workspace checkout becomes, and what an App should own."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from appyard import bundles
from appyard.resources import AppResource, WorkspaceResource
from appyard_operator import app_objects, conditions, sync, webhook, workspaces


def test_a_bundle_depends_only_on_names_and_contents(workspace_copy: Path) -> None:
    first = bundles.pack(workspace_copy / "orders")
    for path in (workspace_copy / "orders").rglob("*"):
        os.utime(path, (1, 1))
    (workspace_copy / "orders" / "__pycache__").mkdir()
    (workspace_copy / "orders" / "__pycache__" / "seed.cpython-311.pyc").write_bytes(b"junk")
    (workspace_copy / "orders" / ".DS_Store").write_bytes(b"junk")
    assert bundles.pack(workspace_copy / "orders") == first
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as archive:
        names = archive.getnames()
    assert "orders/scripts/orders.py" in names and "properties.json" in names
    (workspace_copy / "orders" / "seed.sql").write_text("-- changed\n", encoding="utf-8")
    assert bundles.pack(workspace_copy / "orders") != first


def test_plan_turns_valid_apps_into_specs(workspace_copy: Path) -> None:
    result = sync.workspace_apps(workspace_copy, "apps", "0123456789abcdef", "workspace")
    assert not result.invalid and not result.problems
    specs = {app.name: app.spec for app in result.apps}
    assert specs["orders"].path == "workspace/orders"
    assert [page.name for page in specs["ops"].pages] == ["hashing", "clock"]
    requirements = (workspace_copy / "ops" / "requirements.txt").read_bytes()
    assert specs["ops"].requirements_hash == hashlib.sha256(requirements).hexdigest()
    assert specs["orders"].requirements_hash is None
    assert specs["orders"].code == f"appyard-code-orders-{specs['orders'].code_hash[:12]}"
    assert (
        bundles.read(next(app.bundle for app in result.apps if app.name == "ops"), "requirements.txt") == requirements
    )


def test_an_invalid_app_is_reported_and_the_others_go_on(workspace_copy: Path) -> None:
    page = workspace_copy / "orders" / "orders" / "properties.json"
    properties = json.loads(page.read_text(encoding="utf-8"))
    properties["blocks"][0]["components"][0]["component_type"] = "slider"
    page.write_text(json.dumps(properties), encoding="utf-8")
    result = sync.workspace_apps(workspace_copy, "apps", "0123456789abcdef")
    assert [app.name for app in result.apps] == ["inventory", "ops"]
    assert "unknown component_type 'slider'" in result.invalid["orders"]


def test_stale_generated_models_are_refused(workspace_copy: Path) -> None:
    (workspace_copy / "ops" / "hashing" / "state.py").unlink()
    result = sync.workspace_apps(workspace_copy, "apps", "0123456789abcdef")
    assert "appyard gen" in result.invalid["ops"] and "state.py" in result.invalid["ops"]


def _resources(workspace_copy: Path) -> tuple[AppResource, WorkspaceResource]:
    spec = next(
        app.spec for app in sync.workspace_apps(workspace_copy, "apps", "0123456789abcdef").apps if app.name == "ops"
    )
    raw = {
        "metadata": {"name": "ops", "namespace": "tools", "uid": "u-1", "generation": 1},
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    workspace = WorkspaceResource.model_validate(
        {"metadata": {"name": "apps", "namespace": "tools", "uid": "u-0"}, "spec": {"git": {"url": "https://g/x.git"}}}
    )
    return AppResource.model_validate(raw), workspace


def test_the_runner_deployment_is_restricted(workspace_copy: Path) -> None:
    app, workspace = _resources(workspace_copy)
    # The manifest as it is applied (lightkube leaves out the fields that are not set).
    deployment = app_objects.deployment(app, workspace, "registry/runner@sha256:abc").to_dict()
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"appyard.dev/code-hash": app.spec.code_hash}
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["APPYARD_RUNNER_APP"] == "ops" and env["APPYARD_RUNNER_NAMESPACE"] == "tools"
    assert env["APPYARD_LOG_FORMAT"] == "json"  # `kubectl logs` of a runner: one JSON object a line
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_owners_must_come_from_the_api_server(workspace_copy: Path) -> None:
    """An App without a uid was never read from the API server: its objects cannot name it as their owner."""
    app, _ = _resources(workspace_copy)
    app.metadata.uid = None
    with pytest.raises(ValueError, match="no uid"):
        app_objects.secret(app, "nats://nats:4222")


def test_image_keys_change_with_base_image_and_requirements() -> None:
    key = app_objects.image_key("runner:1", "aaa")
    assert key == app_objects.image_key("runner:1", "aaa")
    assert key != app_objects.image_key("runner:2", "aaa")
    assert key != app_objects.image_key("runner:1", "aab")


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m30s", 90), ("2h", 7200), ("500ms", 0.5)])
def test_intervals(text: str, seconds: float) -> None:
    assert workspaces.interval_seconds(text) == seconds


def test_webhook_signatures() -> None:
    body = b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert webhook.signature_valid(b"key", body, good)
    assert webhook.signature_valid(b"key", body, good.removeprefix("sha256="))  # Gitea's header
    assert not webhook.signature_valid(b"other", body, good)
    assert not webhook.signature_valid(b"key", body + b" ", good)


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    first = conditions.fold([], 1, ready=(False, "Building", "building"), reconciling=(True, "Building", "b"))
    again = conditions.fold(first, 2, ready=(False, "RollingOut", "0/1 ready"))
    assert [item.type for item in again] == ["Ready"]
    assert again[0].last_transition_time == first[0].last_transition_time
    assert again[0].observed_generation == 2 and again[0].reason == "RollingOut"
