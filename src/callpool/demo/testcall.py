"""The dashboard's "Place a test call": a sandbox call to a pool's number, placed in-process
through the webhook's own path (``calls.service.simulate_call``: routed, spooled, stored,
attributed), so a new user sees a call and its journey without a phone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from callpool import clock
from callpool.accounts.repository import scoped
from callpool.calls import repository as calls
from callpool.calls.service import simulate_call
from callpool.db import Database
from callpool.models import Lease, Pool, Tracker
from callpool.settings import Settings
from callpool.telephony.sandbox.simulate import new_call_id

CALLER = "+15125550142"  # fictional (555-01xx)
ANSWERED_SECONDS = 42
RECENT = timedelta(hours=1)


def place_test_call(
    database: Database,
    settings: Settings,
    account_id: int,
    *,
    site_id: int | None = None,
    pool_id: int | None = None,
) -> int | None:
    """Call the number shown last to a visitor of the site (or pool): that is most likely
    the person trying the dashboard, so the call is theirs, with their journey. Without
    visits, any active number of it. The call's id, or None when it has no number."""
    number = _number_to_call(database, account_id, site_id=site_id, pool_id=pool_id)
    if number is None:
        return None
    call_id = new_call_id()
    simulate_call(
        database,
        settings,
        to_number=number,
        from_number=CALLER,
        call_id=call_id,
        answered_seconds=ANSWERED_SECONDS,
    )
    with database.reader() as db:
        call = calls.call_by_provider_id(db, call_id)
        return None if call is None else call.id


def _number_to_call(
    database: Database, account_id: int, *, site_id: int | None, pool_id: int | None
) -> str | None:
    pools = scoped(Pool, account_id).where(Pool.deleted_at.is_(None))
    if site_id is not None:
        pools = pools.where(Pool.site_id == site_id)
    if pool_id is not None:
        pools = pools.where(Pool.id == pool_id)
    ids = pools.with_only_columns(Pool.id).scalar_subquery()
    live = select(Tracker.number).where(Tracker.pool_id.in_(ids), Tracker.status == "active")
    with database.reader() as db:
        latest = db.scalar(
            live.join(Lease, Lease.tracker_id == Tracker.id)
            .where(Lease.started_at > clock.now() - RECENT)  # leases are kept forever
            .order_by(Lease.started_at.desc())
            .limit(1)
        )
        return latest or db.scalar(live.order_by(Tracker.id).limit(1))
