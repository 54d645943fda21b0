"""Sites: the websites that embed the snippet.

Transactions: each function the REST API and the dashboard call takes the ``Database`` (or the
pools' ``Deps``) and opens its own; handlers never open one.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.repository import scoped
from callpool.db import Database
from callpool.errors import NotFound
from callpool.models import Site
from callpool.pools import repository as pools_repository
from callpool.pools.provisioning import new_claim
from callpool.pools.service import Deps, finish_retiring, retire_pool
from callpool.sites.schemas import SiteCreate, SiteUpdate
from callpool.visits.site_cache import forget_site


def new_public_key() -> str:
    return "site_" + secrets.token_urlsafe(12)


def create_site(database: Database, account_id: int, fields: SiteCreate) -> Site:
    site = Site(
        account_id=account_id,
        public_key=new_public_key(),
        created_at=clock.now(),
        **fields.model_dump(),
    )
    with database.session() as db:
        db.add(site)
        db.flush()
    return site


def list_sites(database: Database, account_id: int) -> list[Site]:
    with database.reader() as db:
        return list(db.scalars(_live(account_id).order_by(Site.id)))


def get_site(database: Database, account_id: int, site_id: int) -> Site:
    """The account's live site, or ``NotFound``."""
    with database.reader() as db:
        return _get_site(db, account_id, site_id)


def _get_site(db: Session, account_id: int, site_id: int) -> Site:
    site: Site | None = db.scalar(_live(account_id).where(Site.id == site_id))
    if site is None:
        raise NotFound(f"site {site_id} not found")
    return site


def _live(account_id: int) -> Select[Site]:
    """The account's sites that are not deleted (deleted ones stay for their history)."""
    return scoped(Site, account_id).where(Site.deleted_at.is_(None))


def update_site(database: Database, account_id: int, site_id: int, changes: SiteUpdate) -> Site:
    with database.session() as db:
        site = _get_site(db, account_id, site_id)
        for field, value in changes.model_dump(exclude_unset=True).items():
            if value is not None:
                setattr(site, field, value)
    forget_site(site.public_key)  # committed: this process's visits see the change at once
    return site


def delete_site(deps: Deps, account_id: int, site_id: int) -> None:
    """Soft-delete a site and its pools (DESIGN.md: deleting keeps all history). Its numbers
    leave the routing table, then are released at the carrier, after the commit."""
    claim = new_claim()
    with deps.database.session() as db:
        site = _get_site(db, account_id, site_id)
        site.deleted_at = clock.now()
        releasing: list[int] = []
        for pool in pools_repository.list_pools(db, account_id, site_id):
            releasing += retire_pool(db, pool, claim)
    finish_retiring(deps, releasing, claim)


def site_by_public_key(db: Session, public_key: str) -> Site | None:
    site: Site | None = db.scalar(select(Site).where(Site.public_key == public_key))
    return site
