"""The REST side of what only the dashboard did: API keys, and a site's install tag.

Everything else the dashboard shows or changes goes through the domains' own APIs (sites,
pools, sessions, calls, reports); these two had no home there yet.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.dashboard import keys
from callpool.sites import service as sites
from callpool.snippet import install_tag, script, script_url

router = APIRouter(prefix="/api/v1")


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class InstallOut(BaseModel):
    tag: str = Field(description="The HTML to paste before </body>")
    src: str
    integrity: str = Field(description="Subresource Integrity hash of the script")
    site_key: str


@router.get("/api-keys", tags=["api keys"])
def list_api_keys(account_id: AccountId, database: DatabaseDep) -> list[ApiKeyOut]:
    """The account's keys, newest first, revoked ones included."""
    with database.reader() as db:
        return [ApiKeyOut.model_validate(key) for key in keys.list_keys(db, account_id)]


@router.post("/api-keys", status_code=201, tags=["api keys"])
def create_api_key(
    data: ApiKeyCreate, account_id: AccountId, database: DatabaseDep
) -> ApiKeyCreated:
    """A new key. The response is the only time the key is shown."""
    with database.session() as db:
        raw = keys.create_key(db, account_id, data.name)
        created = keys.list_keys(db, account_id)[0]
        return ApiKeyCreated.model_validate(
            {**ApiKeyOut.model_validate(created).model_dump(), "key": raw}
        )


@router.post("/api-keys/{key_id}/revoke", status_code=204, tags=["api keys"])
def revoke_api_key(key_id: int, account_id: AccountId, database: DatabaseDep) -> Response:
    """Stop a key from working; it stays listed as revoked."""
    with database.session() as db:
        keys.revoke_key(db, account_id, key_id)
    return Response(status_code=204)


@router.get("/sites/{site_id}/install", tags=["sites"])
def site_install(
    site_id: int, request: Request, account_id: AccountId, database: DatabaseDep
) -> InstallOut:
    """The script tag for the site, with its integrity hash (setup step 3)."""
    server = request.app.state.settings.public_url
    with database.reader() as db:
        site = sites.get_site(db, account_id, site_id)
        key = site.public_key
    return InstallOut(
        tag=install_tag(server, key),
        src=script_url(server),
        integrity=script().integrity,
        site_key=key,
    )
