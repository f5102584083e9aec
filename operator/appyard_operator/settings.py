"""Settings of the operator process, from APPYARD_OPERATOR_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Everything the operator can be told."""

    model_config = SettingsConfigDict(env_prefix="APPYARD_OPERATOR_", extra="ignore")

    namespaces: list[str] = Field(
        default_factory=list,
        description='Namespaces to watch (JSON list, e.g. ["apps","builds"]); empty: every namespace.',
    )
    nats_url: str = Field("nats://nats:4222", description="NATS for runners (unless a Workspace says otherwise).")
    nats_account_seed: SecretStr | None = Field(
        None,
        description="Seed of the NATS account APPYARD (from a Secret): the operator signs each app's runner "
        "credentials with it (appyard.brokerauth.runner_permissions) into the app's Secret. Unset: runners get no "
        "credentials, which only works against a NATS without authentication.",
    )
    nats_creds: SecretStr | None = Field(
        None,
        description="The operator's own NATS credentials (.creds text, appyard.brokerauth.operator_permissions), "
        "used to remove a deleted App's consumer and results.",
    )
    runner_credentials_days: float = Field(
        30.0,
        description="Lifetime of runner credentials; they are re-minted (rolling the runners) when a third of it "
        "remains.",
        gt=0,
    )
    cache_dir: Path = Field(Path("/tmp/appyard-operator"), description="Where git checkouts are kept.")
    webhook_host: str = Field("0.0.0.0", description="Interface of the push-webhook endpoint.")
    webhook_port: int = Field(8080, description="Port of the push-webhook endpoint (0: no endpoint).")
    health_port: int = Field(8081, description="Port of the liveness endpoint /healthz (0: none).")
    tick_seconds: float = Field(2.0, description="How often Workspaces are checked for being due a sync.")
    app_check_seconds: float = Field(
        60.0,
        description="How often each App is looked at again: one not serving yet, runner credentials near expiry, "
        "a data source's URL (in the Workspace's Secret) or host addresses changed.",
        gt=0,
    )
    git_timeout_seconds: float = Field(120.0, description="Longest a git command may take.")

    @field_validator("nats_account_seed", mode="before")
    @classmethod
    def _seed_without_newline(cls, value: object) -> object:
        """A seed from a Secret made with `--from-file` (docs/install.md) ends with the file's newline."""
        return value.strip() if isinstance(value, str) else value


@lru_cache
def get_settings() -> OperatorSettings:
    return OperatorSettings()
