"""Calls to a shared number list their other candidates likeliest first (the order the
simulator's evidence benchmark measures): a tel: click on the number, then the latest activity."""

from __future__ import annotations

from datetime import timedelta

from callpool.calls.attribution import CallFacts, attribute_to_session
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Tracker, VisitSession
from tests.factories import Factory


def test_candidates_are_ranked_by_tel_click_then_latest_activity(
    database: Database, clock: FrozenClock, account: Account
) -> None:
    factory = Factory(database, clock)
    site = factory.site(account)
    pool = factory.pool(site, size=1)
    tracker = factory.tracker(pool, number="+15125550401")
    now = clock.now()
    sessions: dict[str, VisitSession] = {}
    # Four visitors share the number; minutes since each was last active: 9, 2, 5, 7.
    for name, idle in (("quiet", 9), ("recent", 2), ("middle", 5), ("tapped", 7)):
        started = now - timedelta(minutes=20)
        session = factory.session(
            site, started_at=started, last_seen_at=now - timedelta(minutes=idle)
        )
        factory.lease(tracker, session, started, now + timedelta(minutes=10))
        sessions[name] = session
    factory.tel_click(sessions["tapped"], now - timedelta(minutes=1), tracker.number)

    with database.reader() as db:
        found = attribute_to_session(
            db, db.get_one(Tracker, tracker.id), CallFacts(at=now), timedelta(hours=24)
        )
    assert found.session_id == sessions["tapped"].id
    assert found.reason == "shared_lease_tel_click"
    assert found.candidates == [sessions[name].id for name in ("recent", "middle", "quiet")]
