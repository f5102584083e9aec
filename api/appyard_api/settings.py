"""Settings of the API process, from APPYARD_API_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
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
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Also serve Prometheus metrics, unauthenticated, at GET /metrics on this port (same host), for "
        "a cluster's scraper; 0: off. The main port's /api/metrics stays for workspace admins only.",
    )
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
    web_dir: Path | None = Field(
        None,
        description="Built web client to serve at / (a Vite build: web/dist). Unset: the client packaged in the "
        "API's wheel (appyard_api/web) when this install has one, else a plain page listing the apps.",
    )
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

    # -- who is calling (docs/security.md) ---------------------------------------------------------------
    auth: Literal["local", "oidc", "proxy"] = Field(
        "local",
        description="How callers are identified. local: every request comes from the developer at the keyboard, "
        "a workspace admin (`appyard dev` only; refused in cluster mode). oidc: bearer tokens from the issuer and "
        "a browser sign-in (authorization code + PKCE, session cookie). proxy: user, email and groups from the "
        "X-Forwarded-User/-Email/-Groups headers of an authenticating proxy at a trusted address. "
        "API tokens (Authorization: Bearer ayt_...) work in every mode.",
    )
    admin_groups: list[str] = Field(
        [], description="Groups whose members are workspace admins: they own every app and may create apps."
    )
    public_url: str | None = Field(
        None,
        description="Origin of the API as browsers see it (https://appyard.example.com): the OIDC redirect URI is "
        "built from it, and it is the origin writes and the editor websocket are accepted from.",
    )
    allowed_origins: list[str] = Field(
        [], description="Further origins (scheme://host[:port]) allowed to send writes and open the websocket."
    )
    oidc_issuer: str | None = Field(
        None, description="OIDC issuer URL; its /.well-known/openid-configuration is read at the first sign-in."
    )
    oidc_audience: str | None = Field(
        None, description="Audience bearer tokens must carry (aud); defaults to the client id."
    )
    oidc_client_id: str | None = Field(None, description="Client id of the API at the issuer (browser sign-in).")
    oidc_client_secret: SecretStr | None = Field(
        None, description="Client secret for the code exchange; omit for a public client (PKCE alone)."
    )
    oidc_algorithms: list[str] = Field(
        ["RS256", "ES256"],
        description="Signature algorithms accepted on tokens. Asymmetric only: none and HS* are refused.",
    )
    oidc_username_claim: str = Field("preferred_username", description="Claim holding the user's name.")
    oidc_groups_claim: str = Field("groups", description="Claim holding the user's groups (a list of strings).")
    oidc_jwks_cooldown_seconds: float = Field(
        30.0,
        description="Least time between JWKS fetches caused by tokens naming an unknown key id (a new signing key "
        "is picked up after at most this long; floods of forged key ids cannot hammer the issuer).",
        ge=0,
    )
    oidc_scopes: str = Field("openid email profile", description="Scopes asked for at sign-in.")
    session_secret: SecretStr | None = Field(
        None,
        description="Key that signs session and sign-in cookies (32+ random bytes); required in oidc mode. "
        "Changing it signs everybody out.",
    )
    session_max_age_seconds: int = Field(
        8 * 3600, description="How long a browser session lasts before signing in again.", ge=60
    )
    cookie_secure: bool = Field(
        True, description="Send cookies only over HTTPS (turn off only for plain-HTTP test setups)."
    )
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(
        [],
        description="Addresses (CIDRs) of the authenticating proxy in proxy mode; X-Forwarded-User/-Email/-Groups "
        "from any other peer are ignored.",
    )
    token_max_days: int = Field(365, description="Longest lifetime of an API token, in days.", ge=1)

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        # A symmetric or absent signature lets anyone holding the (public) key mint tokens.
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
        refused = [name for name in value if name not in allowed]
        if refused or not value:
            raise ValueError(f"algorithms must be some of {sorted(allowed)}; refused: {refused}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.mode == "cluster" and self.auth == "local":
            raise ValueError(
                "APPYARD_API_AUTH=local treats every caller as an admin and is for `appyard dev` only; "
                "a cluster install needs APPYARD_API_AUTH=oidc or proxy (see docs/security.md)"
            )
        if self.auth == "oidc":
            missing = [
                f"APPYARD_API_{name.upper()}"
                for name in ("oidc_issuer", "oidc_client_id", "session_secret", "public_url")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"APPYARD_API_AUTH=oidc needs {', '.join(missing)}")
        if self.auth == "proxy" and not self.trusted_proxies:
            raise ValueError("APPYARD_API_AUTH=proxy needs APPYARD_API_TRUSTED_PROXIES (the proxy's CIDRs)")
        return self

    @property
    def audience(self) -> str | None:
        """The audience tokens must carry."""
        return self.oidc_audience or self.oidc_client_id


@lru_cache
def get_settings() -> ApiSettings:
    """The process's settings, read once from the environment (tests override the dependency)."""
    return ApiSettings()
