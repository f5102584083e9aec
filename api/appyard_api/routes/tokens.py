"""API tokens for automation: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from appyard.audit import AuditEntry

from ..auth.tokens import TokenRecord
from ..deps import AuditDep, CurrentUser, SettingsDep, TokenServiceDep
from ..errors import Forbidden, RequestInvalid, responses
from ..identity import Identity, TokenScope
from ..schemas import TokenCreate, TokenCreated, TokenPublic

router = APIRouter(prefix="/api/tokens", tags=["tokens"], responses=responses(401, 403, 422, 500, 503))

TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="The token's id (ayt_<id>_…).")]


def _public(record: TokenRecord) -> TokenPublic:
    return TokenPublic(
        id=record.id,
        owner=record.owner,
        apps=record.scope.apps,
        role=record.scope.role,
        description=record.description,
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked=record.revoked,
    )


def _not_by_token(identity: Identity) -> None:
    # A leaked token must not be able to mint longer-lived or wider ones, nor revoke its owner's others.
    if identity.via == "token":
        raise Forbidden("API tokens cannot manage API tokens; sign in as their owner")


@router.post("", response_model=TokenCreated, status_code=201, responses=responses(413, 415))
async def create_token(
    create: TokenCreate, identity: CurrentUser, tokens: TokenServiceDep, settings: SettingsDep, audit: AuditDep
) -> TokenCreated:
    """A token that acts as you, capped to ``role`` on ``apps``. Its value is in this answer only."""
    _not_by_token(identity)
    if create.expires_in_days > settings.token_max_days:
        raise RequestInvalid(f"tokens last at most {settings.token_max_days} days")
    scope = TokenScope(apps=sorted(set(create.apps)), role=create.role)
    record, value = await tokens.create(identity, scope, create.expires_in_days, create.description)
    details = {"token": record.id, "role": scope.role, "apps": ",".join(scope.apps)[:200]}
    await audit.record(AuditEntry(actor=identity.name, action="token_created", details=details))
    return TokenCreated(**_public(record).model_dump(), token=value)


@router.get("", response_model=list[TokenPublic])
async def list_tokens(identity: CurrentUser, tokens: TokenServiceDep) -> list[TokenPublic]:
    """Your tokens (an admin sees everybody's)."""
    _not_by_token(identity)
    return [_public(record) for record in await tokens.all() if identity.admin or record.owner == identity.name]


@router.delete("/{token_id}", response_model=TokenPublic)
async def revoke_token(
    token_id: TokenId, identity: CurrentUser, tokens: TokenServiceDep, audit: AuditDep
) -> TokenPublic:
    """Revoke a token: it answers 401 from now on."""
    _not_by_token(identity)
    record = await tokens.get(token_id)
    if record is None or not (identity.admin or record.owner == identity.name):
        raise Forbidden(f"{identity.name} has no token {token_id}")
    revoked = await tokens.revoke(record)
    await audit.record(
        AuditEntry(actor=identity.name, action="token_revoked", details={"token": record.id, "owner": record.owner})
    )
    return _public(revoked)
