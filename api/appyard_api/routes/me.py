"""GET /api/me: who the caller is and what they may do (the web hides what they may not)."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import AuthenticatorDep, CurrentUser, SettingsDep, StoreDep
from ..errors import responses
from ..identity import roles_on
from ..schemas import MePublic

router = APIRouter(prefix="/api", tags=["me"], responses=responses(401, 500, 503))


@router.get("/me", response_model=MePublic)
async def me(
    identity: CurrentUser, store: StoreDep, settings: SettingsDep, authenticator: AuthenticatorDep
) -> MePublic:
    roles = {name: roles_on(identity, name, app.properties.access) for name, app in store.workspace().apps.items()}
    return MePublic(
        name=identity.name,
        email=identity.email,
        groups=sorted(identity.groups),
        admin=identity.admin,
        auth=settings.auth,
        via=identity.via,
        read_only=store.read_only,
        apps={name: held for name, held in roles.items() if held},
        logout_url=authenticator.logout_url,
    )
