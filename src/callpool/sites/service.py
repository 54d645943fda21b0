"""Sites: the websites that embed the snippet."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.repository import get_scoped, scoped
from callpool.models import Site
from callpool.sites.schemas import SiteCreate, SiteUpdate


def new_public_key() -> str:
    return "site_" + secrets.token_urlsafe(12)


def create_site(db: Session, account_id: int, fields: SiteCreate) -> Site:
    site = Site(
        account_id=account_id,
        public_key=new_public_key(),
        created_at=clock.now(),
        **fields.model_dump(),
    )
    db.add(site)
    db.flush()
    return site


def list_sites(db: Session, account_id: int) -> list[Site]:
    return list(db.scalars(scoped(Site, account_id).order_by(Site.id)))


def get_site(db: Session, account_id: int, site_id: int) -> Site:
    site: Site = get_scoped(db, Site, account_id, site_id)
    return site


def update_site(db: Session, account_id: int, site_id: int, changes: SiteUpdate) -> Site:
    site = get_site(db, account_id, site_id)
    for field, value in changes.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(site, field, value)
    return site


def delete_site(db: Session, account_id: int, site_id: int) -> None:
    db.delete(get_site(db, account_id, site_id))


def site_by_public_key(db: Session, public_key: str) -> Site | None:
    site: Site | None = db.scalar(select(Site).where(Site.public_key == public_key))
    return site
