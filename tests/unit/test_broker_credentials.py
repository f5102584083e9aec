"""Broker credentials without a server: JWT claims, .creds texts, the operator's keep-or-re-mint rule, and what
of the runner's environment reaches runs. (What the permissions allow is tested against a real nats-server in
tests/integration/test_broker_isolation.py.)"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import nkeys  # type: ignore[import-untyped]
import pytest

from appyard.brokerauth import Credentials, Permissions, Trust, decode_claims, runner_permissions
from appyard.tooling import brokerkeys
from appyard_operator import app_objects, credentials
from appyard_runner.environment import for_runs

from .test_operator_plans import _resources

DAY = 86400.0


def test_a_user_jwt_says_who_what_and_until_when_and_is_signed_by_the_account() -> None:
    trust = Trust.new()
    minted = trust.mint("runner-local-lab", runner_permissions("local", "lab"), expires_at=2_000_000_000)
    header, payload, signature = minted.jwt.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"typ": "JWT", "alg": "ed25519-nkey"}
    claims = decode_claims(minted.jwt)
    assert claims["iss"] == trust.account.public_key and claims["sub"].startswith("U")
    assert claims["name"] == "runner-local-lab" and claims["exp"] == 2_000_000_000
    assert claims["nats"]["type"] == "user" and claims["nats"]["version"] == 2
    assert "$KV.APPYARD_RESULTS.local.lab.>" in claims["nats"]["pub"]["allow"]
    assert claims["nats"]["sub"]["allow"] == ["_INBOX.runner.local.lab.>", "cancel.local.lab.*"]
    account = nkeys.from_seed(trust.account.seed.encode())
    assert account.verify(f"{header}.{payload}".encode(), base64.urlsafe_b64decode(signature + "=="))
    assert Credentials.parse(minted.text) == minted


@pytest.mark.parametrize(("namespace", "app"), [("local", "a.b"), ("local", "*"), ("a>", "lab"), ("", "lab")])
def test_names_that_are_not_one_subject_token_are_refused(namespace: str, app: str) -> None:
    with pytest.raises(ValueError, match="cannot be part of a NATS subject"):
        runner_permissions(namespace, app)


def test_the_server_configuration_holds_no_seed() -> None:
    trust = Trust.new()
    config = trust.server_config()
    assert "resolver: MEMORY" in config and trust.account.public_key in config
    for secret in (trust.operator.seed, trust.account.seed, trust.system.seed):
        assert secret not in config


def test_runner_credentials_are_kept_while_good_and_re_minted_when_due() -> None:
    seed = Trust.new().account.seed
    now = time.time()
    first = credentials.runner_credentials(None, seed, "tools", "ops", 30 * DAY, now)
    # A reconcile (or an operator restart) a day later keeps them: nothing changes, nothing rolls.
    assert credentials.runner_credentials(first, seed, "tools", "ops", 30 * DAY, now + DAY) == first
    assert not credentials.due(first, seed, "tools", "ops", 30 * DAY, now + DAY)
    # With a third of their life left they are re-minted.
    assert credentials.due(first, seed, "tools", "ops", 30 * DAY, now + 21 * DAY)
    renewed = credentials.runner_credentials(first, seed, "tools", "ops", 30 * DAY, now + 21 * DAY)
    assert renewed != first and decode_claims(Credentials.parse(renewed).jwt)["exp"] == int(now + 51 * DAY)
    # Another account's, another app's, or garbage: re-minted.
    assert credentials.due(first, Trust.new().account.seed, "tools", "ops", 30 * DAY, now)
    assert credentials.due(first, seed, "tools", "orders", 30 * DAY, now)
    assert credentials.due("not credentials", seed, "tools", "ops", 30 * DAY, now)
    broken = Credentials("not-a-jwt", Credentials.parse(first).seed).text
    assert credentials.due(broken, seed, "tools", "ops", 30 * DAY, now)


def test_runner_credentials_with_other_permissions_are_re_minted() -> None:
    """Credentials minted before an upgrade changed what runners may do (they could create their consumer)
    are replaced at the next reconcile, not kept until they expire."""
    trust = Trust.new()
    now = time.time()
    current = runner_permissions("tools", "ops")
    older = Permissions(
        publish=(*current.publish, "$JS.API.CONSUMER.CREATE.APPYARD_RUNS.runner-tools-ops.runs.tools.ops"),
        subscribe=current.subscribe,
        inbox_prefix=current.inbox_prefix,
    )
    minted = trust.mint("runner-tools-ops", older, int(now + 30 * DAY)).text
    assert credentials.due(minted, trust.account.seed, "tools", "ops", 30 * DAY, now)
    renewed = credentials.runner_credentials(minted, trust.account.seed, "tools", "ops", 30 * DAY, now)
    claims = decode_claims(Credentials.parse(renewed).jwt)
    assert claims["nats"]["pub"]["allow"] == list(current.publish)
    assert not any("CONSUMER.CREATE" in subject for subject in claims["nats"]["pub"]["allow"])
    assert not credentials.due(renewed, trust.account.seed, "tools", "ops", 30 * DAY, now)


def test_the_deployment_takes_the_credentials_from_the_secret_and_rolls_when_they_change(
    workspace_copy: Path,
) -> None:
    app, workspace = _resources(workspace_copy)
    creds = Trust.new().mint("x", runner_permissions("tools", "ops"), None).text
    secret = app_objects.secret(app, "nats://nats:4222", creds).to_dict()
    assert secret["stringData"][credentials.KEY] == creds
    deployment = app_objects.deployment(app, workspace, "registry/runner@sha256:abc", creds).to_dict()
    env = {item["name"]: item for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    reference = env["APPYARD_RUNNER_NATS_CREDS"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": secret["metadata"]["name"], "key": credentials.KEY}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    other = app_objects.deployment(app, workspace, "registry/runner@sha256:abc", creds + "\n").to_dict()
    assert (
        annotations["appyard.dev/credentials-hash"]
        != (other["spec"]["template"]["metadata"]["annotations"]["appyard.dev/credentials-hash"])
    )


def test_runs_get_the_allow_list_and_declared_secrets_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PATH": "/bin",
        "LC_ALL": "C.UTF-8",
        "APPYARD_DATA_DIR": "/data",
        "APPYARD_RUNNER_NATS_CREDS": "creds",
        "NATS_URL": "nats://x",
        "DATABASE_URL": "postgres://secret",
        "UNDECLARED": "nope",
    }.items():
        monkeypatch.setenv(name, value)
    found = for_runs(["DATABASE_URL", "APPYARD_RUNNER_NATS_CREDS", "NATS_URL", "MISSING"])
    assert found["PATH"] == "/bin" and found["LC_ALL"] == "C.UTF-8" and found["APPYARD_DATA_DIR"] == "/data"
    assert found["DATABASE_URL"] == "postgres://secret"
    assert not {"APPYARD_RUNNER_NATS_CREDS", "NATS_URL", "UNDECLARED", "MISSING"} & found.keys()


def test_broker_keys_for_a_cluster_are_private_files(tmp_path: Path) -> None:
    written = brokerkeys.write(tmp_path / "keys", ["tools"], days=365)
    assert sorted(path.name for path in written) == [
        "account.seed",
        "api-tools.creds",
        "nats-auth.conf",
        "operator.creds",
    ]
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in written)
    seed = (tmp_path / "keys" / "account.seed").read_text().strip()
    api = Credentials.parse((tmp_path / "keys" / "api-tools.creds").read_text())
    assert decode_claims(api.jwt)["iss"] == nkeys.from_seed(seed.encode()).public_key.decode()
    assert seed not in (tmp_path / "keys" / "nats-auth.conf").read_text()
