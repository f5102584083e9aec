"""Settings of the API process, from APPYARD_API_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Everything the API process can be told. Defaults suit `appyard dev` on one machine."""

    model_config = SettingsConfigDict(env_prefix="APPYARD_API_", extra="ignore")

    mode: Literal["local", "cluster"] = Field(
        "local",
        description="local: apps from a workspace folder; cluster: apps from the App objects of NAMESPACE "
        "(read-only; the Kubernetes client is configured from the pod's service account or KUBECONFIG).",
    )
    workspace: Path = Field(Path("workspace"), description="The workspace folder (local mode).")
    namespace: str = Field(
        "local", description="Namespace part of NATS subjects and result keys; in cluster mode, where the Apps are."
    )
    host: str = Field("127.0.0.1", description="Interface to listen on; loopback unless told otherwise.")
    port: int = Field(8000, description="Port to listen on.")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server URL.")
    nats_creds: SecretStr | None = Field(
        None,
        description="The text of the API's NATS credentials (a .creds: user JWT and seed; see "
        "appyard.brokerauth.api_permissions), minted by `appyard dev` or the cluster's installer. Unset: connect "
        "without credentials (an open server).",
    )
    nats_connect_timeout: float = Field(5.0, description="Seconds to wait for NATS at startup.")
    run_wait_seconds: float = Field(
        30.0, description="How long POST /runs waits for a result before answering 202 with the run id."
    )
    results_ttl_seconds: int = Field(3600, description="How long results stay readable in the results bucket.")
    events_ttl_seconds: int = Field(900, description="How long run events (logs, progress) stay replayable.")
    max_request_bytes: int = Field(1_048_576, description="Largest accepted run request body.")
    max_payload_bytes: int = Field(8_388_608, description="Largest NATS message (must match the server's).")
    web_dir: Path | None = Field(None, description="Built web client to serve at / (web/dist).")
    developer: str = Field("developer", description="Name of the local developer (local mode identity).")
    audit_retention_days: float = Field(
        90, gt=0, description="How long audit entries are kept (the APPYARD_AUDIT stream's max age), in days."
    )
    audit_max_bytes: int = Field(
        1_073_741_824, ge=1_048_576, description="Size cap of the audit stream; the oldest entries go first past it."
    )
    audit_max_scan: int = Field(
        200_000, ge=1000, description="Most audit entries one GET /api/audit reads; a wider query is refused."
    )
    consumers_check_seconds: float = Field(
        1.0,
        gt=0,
        description="How often the apps are looked at for new ones, whose runs consumer the API then creates "
        "(local mode: the workspace folder is rescanned when its files changed).",
    )
    consumers_resync_seconds: float = Field(
        60.0,
        gt=0,
        description="How often every app's runs consumer is created again if missing (also after every reconnect).",
    )
    cache_dir: Path = Field(Path(".appyard/cache"), description="Caches (jedi's, for script completions).")


@lru_cache
def get_settings() -> ApiSettings:
    """The process's settings, read once from the environment (tests override the dependency)."""
    return ApiSettings()
