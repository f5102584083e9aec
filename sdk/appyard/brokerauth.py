"""NATS identities for Appyard's processes: keys, signed JWTs and what each identity may do (DESIGN.md §7).

nats-server runs in *operator mode* (decentralized JWT auth)::

    operator ──signs──▶ account APPYARD (JetStream) ──signs──▶ user JWTs: the API, the operator, each app's runners
             └─signs──▶ account SYS (the server's system account; nobody connects to it)

The server is given the operator's and both accounts' JWTs in its configuration (``resolver: MEMORY`` with
``resolver_preload``) and then accepts any user JWT the APPYARD account signed, without a restart: adding an
app only means minting a JWT for its runners. Each user JWT carries publish/subscribe allow lists that the
server itself enforces, a name (shown in the server's logs) and an expiry.

The permission sets are data (:func:`runner_permissions`, :func:`api_permissions`, :func:`operator_permissions`),
tested against a real nats-server in ``tests/integration/test_broker_isolation.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import nkeys  # type: ignore[import-untyped]

from .runs import RESULTS_BUCKET, RUNS_STREAM, consumer_name

ACCOUNT_NAME = "APPYARD"
SYSTEM_ACCOUNT_NAME = "SYS"
_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # a namespace or app name: one subject token, no wildcards


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _token(value: str, what: str) -> str:
    if not _TOKEN.match(value):
        raise ValueError(f"{what} {value!r} cannot be part of a NATS subject (letters, digits, '-' and '_' only)")
    return value


@dataclass(frozen=True)
class KeyPair:
    """An nkey: the seed (secret) and the public key derived from it."""

    seed: str

    @classmethod
    def new(cls, prefix: int) -> KeyPair:
        return cls(nkeys.encode_seed(os.urandom(32), prefix).decode())

    @property
    def public_key(self) -> str:
        return str(nkeys.from_seed(self.seed.encode()).public_key.decode())

    def sign(self, data: bytes) -> bytes:
        return bytes(nkeys.from_seed(self.seed.encode()).sign(data))


def encode_jwt(issuer: KeyPair, subject: str, name: str, nats: dict[str, Any], expires_at: int | None = None) -> str:
    """A NATS JWT (v2 claims) for ``subject``, signed by ``issuer``."""
    claims: dict[str, Any] = {"iat": int(time.time()), "iss": issuer.public_key, "name": name, "sub": subject}
    if expires_at is not None:
        claims["exp"] = expires_at
    claims["nats"] = {**nats, "version": 2}
    # The JWT id is a hash of the claims, as in the Go library (the server does not check it).
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()).decode()
    signing_input = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(issuer.sign(signing_input.encode()))}"


def decode_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, without checking its signature (for reading our own JWTs' expiry); ValueError when
    it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT (three dot-separated parts)")
    claims = json.loads(_unb64(parts[1]))  # binascii.Error and JSONDecodeError are ValueErrors
    if not isinstance(claims, dict):
        raise ValueError("the JWT's claims are not an object")
    return claims


@dataclass(frozen=True)
class Permissions:
    """What a NATS user may publish and subscribe to, and the inbox prefix its client must use."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    inbox_prefix: str


def runner_permissions(namespace: str, app: str) -> Permissions:
    """An app's runners: pull from their consumer, and their own result keys, events, cancels and inbox —
    nothing of another app.

    Runners may not create, update or delete any consumer, not even their own: the API creates each app's
    durable pull consumer (``appyard_api.adapters.consumers``) and keeps its configuration, so holding an app's
    runner credentials never lets anyone choose where that app's runs are delivered (a push consumer to a
    subject of their choosing). A runner may read its own consumer's info, to wait until it exists.
    """
    ns, app = _token(namespace, "namespace"), _token(app, "app")
    consumer = consumer_name(ns, app)
    inbox = f"_INBOX.runner.{ns}.{app}"
    return Permissions(
        publish=(
            f"$JS.API.CONSUMER.INFO.{RUNS_STREAM}.{consumer}",
            f"$JS.API.CONSUMER.MSG.NEXT.{RUNS_STREAM}.{consumer}",
            f"$JS.ACK.{RUNS_STREAM}.{consumer}.>",
            # Reading a result back (a redelivered run already finished?) by key, through the direct-get API
            # whose subject names the key: no other key can be asked for.
            f"$JS.API.DIRECT.GET.KV_{RESULTS_BUCKET}.$KV.{RESULTS_BUCKET}.{ns}.{app}.>",
            f"$KV.{RESULTS_BUCKET}.{ns}.{app}.>",
            f"events.{ns}.{app}.>",
        ),
        subscribe=(f"{inbox}.>", f"cancel.{ns}.{app}.*"),
        inbox_prefix=inbox,
    )


def api_permissions(namespace: str) -> Permissions:
    """The API of one namespace: publish its runs and cancels, write cancelled results, manage the streams.

    The JetStream API is allowed whole: the API creates the streams and the results bucket, and reads results
    and events through consumers and direct gets whose subjects do not all name the namespace. It is a trusted
    process (it decides who may run what); runners are not.
    """
    ns = _token(namespace, "namespace")
    inbox = f"_INBOX.api.{ns}"
    return Permissions(
        publish=(
            f"runs.{ns}.>",
            f"cancel.{ns}.>",
            f"$KV.{RESULTS_BUCKET}.{ns}.>",
            f"audit.{ns}.>",  # the audit log (DESIGN §7): written by the API only, never by runners
            f"$KV.APPYARD_TOKENS.{ns}.>",  # API token records (hashes) of this namespace
            "$JS.API.>",
            "$JS.FC.>",  # flow-control replies of the ordered consumers that watch results and events
        ),
        subscribe=(f"{inbox}.>", f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{RUNS_STREAM}.*"),
        inbox_prefix=inbox,
    )


def operator_permissions() -> Permissions:
    """The Kubernetes operator (one for every namespace it watches): when an App is deleted, delete its
    consumer and purge its queued runs and results. Nothing else."""
    inbox = "_INBOX.operator"
    return Permissions(
        publish=(
            f"$JS.API.CONSUMER.DELETE.{RUNS_STREAM}.*",
            f"$JS.API.STREAM.PURGE.{RUNS_STREAM}",
            f"$JS.API.STREAM.PURGE.KV_{RESULTS_BUCKET}",
        ),
        subscribe=(f"{inbox}.>",),
        inbox_prefix=inbox,
    )


_UNLIMITED = {"subs": -1, "data": -1, "payload": -1}
# Everything an account may hold; JetStream is enabled by giving it storage.
_ACCOUNT_LIMITS = {
    **_UNLIMITED,
    "imports": -1,
    "exports": -1,
    "wildcards": True,
    "conn": -1,
    "leaf": -1,
    "mem_storage": -1,
    "disk_storage": -1,
    "streams": -1,
    "consumer": -1,
}


@dataclass(frozen=True)
class Credentials:
    """A user's JWT and seed: what a client needs to connect (a ``.creds`` text)."""

    jwt: str
    seed: str

    @property
    def text(self) -> str:
        """The ``.creds`` format nats-py (``RawCredentials``), the nats CLI and nats-server's tools read."""
        return (
            f"-----BEGIN NATS USER JWT-----\n{self.jwt}\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n"
            "NKEYs are sensitive and should be treated as secrets.\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{self.seed}\n------END USER NKEY SEED------\n\n"
            "*************************************************************\n"
        )

    @classmethod
    def parse(cls, text: str) -> Credentials:
        """Read a ``.creds`` text; ValueError when it is not one."""
        found = re.search(r"BEGIN NATS USER JWT-+\s*(\S+)\s.*BEGIN USER NKEY SEED-+\s*(\S+)\s", text, re.S)
        if not found:
            raise ValueError("not a NATS credentials text (no user JWT and seed)")
        return cls(found.group(1), found.group(2))


def mint_user(account_seed: str, name: str, permissions: Permissions, expires_at: int | None) -> Credentials:
    """New credentials (a fresh user key) signed by the account, allowed exactly ``permissions``."""
    user = KeyPair.new(nkeys.PREFIX_BYTE_USER)
    claims = {
        **_UNLIMITED,
        "pub": {"allow": list(permissions.publish)},
        "sub": {"allow": list(permissions.subscribe)},
        "type": "user",
    }
    return Credentials(encode_jwt(KeyPair(account_seed), user.public_key, name, claims, expires_at), user.seed)


@dataclass(frozen=True)
class Trust:
    """The operator, the APPYARD account (JetStream) and the system account: what nats-server trusts."""

    operator: KeyPair
    account: KeyPair
    system: KeyPair

    @classmethod
    def new(cls) -> Trust:
        return cls(
            KeyPair.new(nkeys.PREFIX_BYTE_OPERATOR),
            KeyPair.new(nkeys.PREFIX_BYTE_ACCOUNT),
            KeyPair.new(nkeys.PREFIX_BYTE_ACCOUNT),
        )

    def server_config(self) -> str:
        """nats-server configuration lines: trust this operator, know both accounts, no other way in.

        With an operator configured the server refuses connections without a user JWT signed by a known
        account (there is no anonymous user).
        """
        operator = encode_jwt(
            self.operator,
            self.operator.public_key,
            "appyard",
            {"type": "operator", "system_account": self.system.public_key},
        )
        account = encode_jwt(
            self.operator, self.account.public_key, ACCOUNT_NAME, {"type": "account", "limits": _ACCOUNT_LIMITS}
        )
        system = encode_jwt(
            self.operator,
            self.system.public_key,
            SYSTEM_ACCOUNT_NAME,
            {"type": "account", "limits": {**_ACCOUNT_LIMITS, "mem_storage": 0, "disk_storage": 0}},
        )
        return (
            f"operator: {operator}\n"
            f"system_account: {self.system.public_key}\n"
            "resolver: MEMORY\n"
            "resolver_preload: {\n"
            f"  {self.account.public_key}: {account}\n"
            f"  {self.system.public_key}: {system}\n"
            "}\n"
        )

    def mint(self, name: str, permissions: Permissions, expires_at: int | None) -> Credentials:
        return mint_user(self.account.seed, name, permissions, expires_at)
