"""Settings of a runner process, from APPYARD_RUNNER_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RunnerSettings(BaseSettings):
    """Everything a runner can be told. One runner process serves one app."""

    model_config = SettingsConfigDict(env_prefix="APPYARD_RUNNER_", extra="ignore")

    app: str = Field(description="The app this runner serves.")
    workspace: Path = Field(Path("workspace"), description="The workspace folder holding the app's code.")
    bundle: Path | None = Field(
        None,
        description="A tar.gz of the app's folder (in a cluster: the App's code ConfigMap), unpacked into "
        "WORKSPACE/APP before the runner starts.",
    )
    namespace: str = Field("local", description="Namespace part of NATS subjects and result keys.")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server URL.")
    nats_creds: SecretStr | None = Field(
        None,
        description="The text of this app's runner credentials (a NATS .creds: user JWT and seed), minted by "
        "`appyard dev` or the operator. The runner removes it (and every APPYARD_*/NATS_* variable) from its "
        "environment at start, so no run can read it; unset: connect without credentials (an open server).",
    )
    concurrency: int | None = Field(None, description="Runs at once; default: the app's runner.concurrency.")
    tmp_dir: Path = Field(Path("/tmp"), description="Where each run's private temporary folder is made.")
    reload: bool = Field(False, description="Watch the app's files and reload its code when they change (dev).")
    drain_seconds: float = Field(30.0, description="On SIGTERM, how long running runs may take to finish.")
    max_payload_bytes: int = Field(8_388_608, description="Largest result the NATS server accepts.")
    data_sources: str | None = Field(
        None,
        description="JSON {name: DataSource} of the workspace's data sources (no URLs), used when the workspace "
        "folder has no properties.json (a cluster: the operator sets it). Each URL is in the variable the "
        "source names (APPYARD_DB_<NAME> by default).",
    )
