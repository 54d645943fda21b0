"""Listing visits through the REST API."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from callpool.clock import FrozenClock
from callpool.models import Account
from tests.factories import Factory


def seed_visit(factory: Factory, account: Account, clock: FrozenClock) -> str:
    """Two sessions of one visitor: the first (google / organic) given the number and two
    pages, the second (direct) a minute later with neither."""
    now = clock.now()
    site = factory.site(account)
    tracker = factory.tracker(factory.pool(site, size=1), number="+15125550100")
    first = factory.session(site, id="s0", source="google", medium="organic")
    factory.session(
        site,
        id="s1",
        visitor_id=first.visitor_id,
        source="(direct)",
        medium="(none)",
        started_at=now + timedelta(minutes=1),
        last_seen_at=now,
    )
    factory.lease(tracker, first, now, now + timedelta(minutes=30))
    factory.pageview(first, "https://acme.test/", now)
    factory.pageview(first, "https://acme.test/contact", now + timedelta(seconds=40))
    return first.id


def test_sessions_newest_first_with_their_number(
    client: TestClient,
    auth: dict[str, str],
    factory: Factory,
    account: Account,
    clock: FrozenClock,
) -> None:
    seed_visit(factory, account, clock)
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
    factory: Factory,
    account: Account,
    clock: FrozenClock,
    outsider_auth: dict[str, str],
) -> None:
    seed_visit(factory, account, clock)
    rival = outsider_auth
    assert client.get("/api/v1/sessions", headers=rival).json() == []
    assert client.get("/api/v1/sessions/s0", headers=rival).status_code == 404
