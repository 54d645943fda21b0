"""What the benchmarks start from: one account, one site and a session pool of sandbox numbers."""

from __future__ import annotations

from sqlalchemy import insert

from callpool import clock
from callpool.db import Database
from callpool.models import Account, Pool, Site, Tracker

BUSINESS_NUMBER = "+15125550100"  # fictional (555-01xx), as the demo's


def session_pool_site(
    database: Database,
    *,
    site_key: str,
    origin: str,
    trackers: int,
    business_number: str = BUSINESS_NUMBER,
) -> None:
    """A site with ``site_key`` serving ``origin``, its pool's trackers active and never leased,
    swapped for ``business_number``.

    Numbers ``+15122000000`` on: seven digits after the area code, for up to a million.
    """
    now = clock.now()
    with database.session() as db:
        account = Account(name="Bench Plumbing", created_at=now)
        db.add(account)
        db.flush()
        site = Site(
            account_id=account.id,
            name="shop",
            public_key=site_key,
            allowed_origins=[origin],
            region="US",
            created_at=now,
        )
        db.add(site)
        db.flush()
        pool = Pool(
            account_id=account.id,
            site_id=site.id,
            name="Website visitors",
            kind="session",
            original_number=business_number,
            swap_number=business_number,
            size=trackers,
            created_at=now,
            updated_at=now,
        )
        db.add(pool)
        db.flush()
        rows = [
            {
                "pool_id": pool.id,
                "number": f"+1512{2_000_000 + index}",
                "provider": "sandbox",
                "status": "active",
                "original_number": business_number,
                "created_at": now,
                "activated_at": now,
            }
            for index in range(trackers)
        ]
        db.execute(insert(Tracker), rows)
