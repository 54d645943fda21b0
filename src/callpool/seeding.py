"""Demo data: what `callpool demo` puts in an empty install so DNI works in one command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.service import create_api_key, first_account
from callpool.accounts.users import ensure_user
from callpool.db import Database
from callpool.models import ApiKey, Pool, Site
from callpool.models.pool import PoolKind
from callpool.pools.schemas import PoolCreate
from callpool.pools.service import Deps, create_pool
from callpool.settings import Settings, with_secret
from callpool.sites.schemas import origin_of
from callpool.sites.service import new_public_key
from callpool.telephony.base import Provider

DEMO_BUSINESS_NUMBER = "+15125550199"  # fictional (555-01xx), never rings anyone
DEMO_POOL_SIZE = 10
DEMO_TIME_ZONE = "America/Chicago"  # the demo business is in Austin
DEMO_EMAIL = "demo@callpool.test"
# Printed by `callpool demo`: a sandbox demo, not a secret. Real users: `callpool createuser`.
DEMO_PASSWORD = "demo-password"  # noqa: S105


def demo_settings(settings: Settings) -> Settings:
    """``settings`` moved to the demo's own data: its database, a secret key generated beside
    it (never the configured one, so ``callpool call --demo`` can sign for it), and its own
    routing table and spool unless those were set to somewhere of the operator's choosing.
    Following "running it for real" after the demo then starts from an empty install."""
    update: dict[str, object] = {
        "database_url": settings.demo_database_url,
        "secret_key": "",
        "secret_key_file": None,
    }
    defaults = Settings.model_fields
    for name, demo_value in (
        ("routing_cache_path", Path("callpool-demo-routing.json")),
        ("call_spool_dir", Path("callpool-demo-spool")),
    ):
        if getattr(settings, name) == defaults[name].default:
            update[name] = demo_value
    return with_secret(settings.model_copy(update=update))


@dataclass(frozen=True)
class Demo:
    account_id: int
    site_key: str  # the site's public key, for the snippet
    pool_name: str
    api_key: str | None  # only when made now: keys are stored hashed, shown once


def ensure_demo(database: Database, settings: Settings, provider: Provider) -> Demo:
    """The first account with a site and a session pool of sandbox numbers; made if missing.

    The pool is made by the pools service, as the API makes one: its numbers are reserved and
    committed first, then bought, with no transaction open while the carrier answers."""
    with database.session() as db:
        account_id, site_id = _demo_site(db, settings)
        ensure_user(db, DEMO_EMAIL, DEMO_PASSWORD, account_id)
        has_key = db.scalar(select(ApiKey.id).where(ApiKey.account_id == account_id).limit(1))
        api_key = None if has_key else create_api_key(db, account_id, "demo")
        site_key = db.get_one(Site, site_id).public_key
        pool_name = db.scalar(select(Pool.name).where(Pool.site_id == site_id).order_by(Pool.id))
    if pool_name is None:
        deps = Deps(database=database, provider=provider, settings=settings)
        pool_name = create_pool(deps, account_id, _demo_pool(site_id)).name
    return Demo(account_id=account_id, site_key=site_key, pool_name=pool_name, api_key=api_key)


def _demo_site(db: Session, settings: Settings) -> tuple[int, int]:
    """(account, site) of the demo, made if missing."""
    account = first_account(db, create_name="Demo Plumbing Co.")
    assert account is not None
    if account.name == "Demo Plumbing Co." and account.time_zone == "UTC":
        account.time_zone = DEMO_TIME_ZONE  # its calls are shown in Austin's time
    site = db.scalar(select(Site).where(Site.account_id == account.id).order_by(Site.id))
    if site is None:
        site = Site(
            account_id=account.id,
            name="Demo plumbing website",
            public_key=new_public_key(),
            allowed_origins=demo_origins(settings.public_url),
            region="US",
            created_at=clock.now(),
        )
        db.add(site)
        db.flush()
    return account.id, site.id


def demo_origins(public_url: str) -> list[str]:
    """The public origin, and its loopback twins: a browser at localhost must work too."""
    origin = origin_of(public_url)
    parts = urlsplit(origin)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return [origin]
    port = f":{parts.port}" if parts.port else ""
    return sorted(
        {origin, f"{parts.scheme}://127.0.0.1{port}", f"{parts.scheme}://localhost{port}"}
    )


def _demo_pool(site_id: int) -> PoolCreate:
    return PoolCreate(
        site_id=site_id,
        name="Website visitors",
        kind=PoolKind.SESSION,
        original_number=DEMO_BUSINESS_NUMBER,
        swap_number=DEMO_BUSINESS_NUMBER,
        area_code="512",
        size=DEMO_POOL_SIZE,
    )
