"""API tokens for automation: ``ayt_<id>_<secret>``, stored as a SHA-256 hash with the owner and a scope.

A token acts as its owner (the name, email and groups they had when they created it) capped by its scope:
a role on some apps. It expires, and can be revoked; revoked and expired tokens answer 401.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from pydantic import BaseModel, Field, ValidationError

from ..adapters.tokens import TokenBucket
from ..identity import Identity, TokenScope
from .errors import TokenInvalid

PREFIX = "ayt_"


class TokenRecord(BaseModel):
    """What the bucket keeps of a token (never the secret)."""

    id: str = Field(description="Public id, the part after ayt_.")
    hash: str = Field(description="SHA-256 (hex) of the secret part.")
    owner: str = Field(description="Name of the person who created it; the token acts as them.")
    owner_email: str | None = None
    owner_groups: list[str] = Field(default_factory=list)
    scope: TokenScope
    description: str = ""
    created_at: float
    expires_at: float
    revoked: bool = False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX)


class TokenService:
    """Creates, checks, lists and revokes API tokens."""

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket

    async def create(self, owner: Identity, scope: TokenScope, days: int, description: str) -> tuple[TokenRecord, str]:
        """A new token's record and its full value (shown once; only its hash is kept)."""
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)  # 32 random bytes
        now = time.time()
        record = TokenRecord(
            id=token_id,
            hash=_digest(secret),
            owner=owner.name,
            owner_email=owner.email,
            owner_groups=sorted(owner.groups),
            scope=scope,
            description=description,
            created_at=now,
            expires_at=now + days * 86400,
        )
        await self.bucket.put(token_id, record.model_dump_json().encode())
        return record, f"{PREFIX}{token_id}_{secret}"

    async def get(self, token_id: str) -> TokenRecord | None:
        if not (len(token_id) == 16 and all(c in "0123456789abcdef" for c in token_id)):
            return None
        raw = await self.bucket.get(token_id)
        try:
            return TokenRecord.model_validate_json(raw) if raw else None
        except ValidationError:
            return None

    async def check(self, value: str) -> TokenRecord:
        """The record of a valid token; TokenInvalid for unknown, wrong, expired or revoked ones."""
        token_id, _, secret = value.removeprefix(PREFIX).partition("_")
        record = await self.get(token_id)
        if record is None or not hmac.compare_digest(record.hash, _digest(secret)):
            raise TokenInvalid("the API token is not valid")
        if record.revoked:
            raise TokenInvalid(f"the API token {record.id} has been revoked")
        if record.expires_at < time.time():
            raise TokenInvalid(f"the API token {record.id} has expired")
        return record

    async def all(self) -> list[TokenRecord]:
        records = []
        for raw in await self.bucket.all():
            try:
                records.append(TokenRecord.model_validate_json(raw))
            except ValidationError:
                continue
        return sorted(records, key=lambda record: record.created_at)

    async def revoke(self, record: TokenRecord) -> TokenRecord:
        revoked = record.model_copy(update={"revoked": True})
        await self.bucket.put(record.id, revoked.model_dump_json().encode())
        return revoked
