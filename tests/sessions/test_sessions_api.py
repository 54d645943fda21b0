"""Listing visits through the REST API."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Lease, Pageview, Pool, Site, Tracker, Visitor, VisitSession


def seed_visit(database: Database, account: Account, clock: FrozenClock) -> str:
    now = clock.now()
    with database.session() as db:
        site = Site(account_id=account.id, name="Acme", public_key="site_k", created_at=now)
        db.add(site)
        db.flush()
        pool = Pool(
            account_id=account.id,
            site_id=site.id,
            name="Main",
            kind="session",
            original_number="+15125550000",
            size=1,
            created_at=now,
            updated_at=now,
        )
        db.add(pool)
        db.flush()
        tracker = Tracker(
            pool_id=pool.id,
            number="+15125550100",
            provider="sandbox",
            status="active",
            created_at=now,
        )
        db.add_all([tracker, Visitor(id="v1", site_id=site.id, first_seen_at=now)])
        db.flush()
        for index, (source, medium) in enumerate([("google", "organic"), ("(direct)", "(none)")]):
            db.add(
                VisitSession(
                    id=f"s{index}",
                    site_id=site.id,
                    visitor_id="v1",
                    started_at=now + timedelta(minutes=index),
                    last_seen_at=now,
                    source=source,
                    medium=medium,
                    landing_url="https://acme.test/",
                    pageview_count=1,
                )
            )
        db.flush()
        db.add(
            Lease(
                tracker_id=tracker.id,
                session_id="s0",
                started_at=now,
                leased_until=now + timedelta(minutes=30),
            )
        )
        db.add(Pageview(session_id="s0", url="https://acme.test/", at=now))
        db.add(
            Pageview(
                session_id="s0", url="https://acme.test/contact", at=now + timedelta(seconds=40)
            )
        )
    return "s0"


def test_sessions_newest_first_with_their_number(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    account: Account,
    clock: FrozenClock,
) -> None:
    seed_visit(database, account, clock)
    sessions = client.get("/api/v1/sessions", headers=auth).json()
    assert [(s["id"], s["source"], s["tracking_number"]) for s in sessions] == [
        ("s1", "(direct)", None),
        ("s0", "google", "+15125550100"),
    ]
    detail = client.get("/api/v1/sessions/s0", headers=auth).json()
    assert [view["url"] for view in detail["pageviews"]] == [
        "https://acme.test/",
        "https://acme.test/contact",
    ]


def test_sessions_of_another_account_are_404(
    client: TestClient,
    database: Database,
    account: Account,
    clock: FrozenClock,
    outsider_auth: dict[str, str],
) -> None:
    seed_visit(database, account, clock)
    rival = outsider_auth
    assert client.get("/api/v1/sessions", headers=rival).json() == []
    assert client.get("/api/v1/sessions/s0", headers=rival).status_code == 404
