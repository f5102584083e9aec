"""Settings of the API process, from APPYARD_API_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
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
    nats_connect_timeout: float = Field(5.0, description="Seconds to wait for NATS at startup.")
    run_wait_seconds: float = Field(
        30.0, description="How long POST /runs waits for a result before answering 202 with the run id."
    )
    results_ttl_seconds: int = Field(3600, description="How long results stay readable in the results bucket.")
    events_ttl_seconds: int = Field(900, description="How long run events (logs, progress) stay replayable.")
    max_request_bytes: int = Field(
        1_048_576, description="Largest run request body (POST …/runs); a larger one is refused with 413.", gt=0
    )
    max_properties_bytes: int = Field(
        1_048_576,
        description="Largest page properties body (PUT …/properties); a larger one is refused with 413.",
        gt=0,
    )
    max_script_bytes: int = Field(
        524_288, description="Largest script body (PUT …/scripts/{name}); a larger one is refused with 413.", gt=0
    )
    max_body_bytes: int = Field(
        65_536,
        description="Largest body of every other route (e.g. creating an app); a larger one is refused with 413.",
        gt=0,
    )
    max_payload_bytes: int = Field(8_388_608, description="Largest NATS message (must match the server's).")
    lsp_max_processes: int = Field(
        8, description="Editor sessions (pylsp processes) this API process runs at once; more are refused.", gt=0
    )
    lsp_max_per_user: int = Field(2, description="Editor sessions one person may have open at once.", gt=0)
    lsp_idle_seconds: float = Field(
        900.0, description="An editor session that sends nothing for this long is closed (its pylsp stops).", gt=0
    )
    web_dir: Path | None = Field(None, description="Built web client to serve at / (web/dist).")
    developer: str = Field("developer", description="Name of the local developer (local mode identity).")
    cache_dir: Path = Field(Path(".appyard/cache"), description="Caches (jedi's, for script completions).")


@lru_cache
def get_settings() -> ApiSettings:
    """The process's settings, read once from the environment (tests override the dependency)."""
    return ApiSettings()
