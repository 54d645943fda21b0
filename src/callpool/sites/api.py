"""REST API for sites."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.pools.api import DepsDep
from callpool.restapi import API, NOT_FOUND, Id
from callpool.sites import service
from callpool.sites.schemas import InstallOut, SiteCreate, SiteOut, SiteUpdate
from callpool.snippet import install_tag, script, script_url

router = APIRouter(prefix="/api/v1/sites", tags=["sites"], responses=API)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_site(body: SiteCreate, account_id: AccountId, database: DatabaseDep) -> SiteOut:
    """Register a website. Its `public_key` goes into the snippet's script tag."""
    return SiteOut.model_validate(service.create_site(database, account_id, body))


@router.get("")
def list_sites(account_id: AccountId, database: DatabaseDep) -> list[SiteOut]:
    """The account's sites."""
    return [SiteOut.model_validate(site) for site in service.list_sites(database, account_id)]


@router.get("/{site_id}", responses=NOT_FOUND)
def get_site(site_id: Id, account_id: AccountId, database: DatabaseDep) -> SiteOut:
    return SiteOut.model_validate(service.get_site(database, account_id, site_id))


@router.patch("/{site_id}", responses=NOT_FOUND)
def update_site(
    site_id: Id, body: SiteUpdate, account_id: AccountId, database: DatabaseDep
) -> SiteOut:
    """Change a site's name, allowed origins or region."""
    return SiteOut.model_validate(service.update_site(database, account_id, site_id, body))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_site(site_id: Id, account_id: AccountId, deps: DepsDep) -> None:
    """Delete a site and its pools: their numbers stop being routed and are released at the
    telephony provider. Its sessions, calls and report figures are kept."""
    service.delete_site(deps, account_id, site_id)


@router.get("/{site_id}/install", responses=NOT_FOUND)
def site_install(
    site_id: Id, request: Request, account_id: AccountId, database: DatabaseDep
) -> InstallOut:
    """The script tag to paste into the site, with its integrity hash (setup step 3)."""
    server = request.app.state.settings.public_url
    key = service.get_site(database, account_id, site_id).public_key
    return InstallOut(
        tag=install_tag(server, key),
        src=script_url(server),
        integrity=script().integrity,
        site_key=key,
    )
