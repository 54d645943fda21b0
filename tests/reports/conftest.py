"""A small, fully known world of sessions, leases and calls, built with the shared factories.

Acme (the ``account`` fixture) has one site with one session pool; an outsider account has
the same kinds of rows in the same days, which must never show in Acme's reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from callpool.models import Account, Call, Lease, Pool, Site, Tracker
from tests.factories import Factory


def at(text: str) -> datetime:
    """``"01-02 10:05"`` → 2026-01-02 10:05 UTC; ``"2025-12-31 23:50"`` for other years."""
    if len(text) == len("01-02 10:05"):
        text = f"2026-{text}"
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CREATED = at("2025-12-01 00:00")  # when the world's sites, pools and trackers were made


@dataclass
class Make:
    """The shared factories (``tests/factories.py``) in this world's time notation."""

    factory: Factory

    def site(self, account: Account, name: str = "acme.test") -> Site:
        return self.factory.site(account, name=name, allowed_origins=[], created_at=CREATED)

    def pool(self, site: Site, *, size: int = 5, kind: str = "session", name: str = "Main") -> Pool:
        return self.factory.pool(
            site,
            kind=kind,
            name=name,
            size=size,
            original_number="+15125550100",
            created_at=CREATED,
            updated_at=CREATED,
        )

    def tracker(self, pool: Pool, number: str, **fields: Any) -> Tracker:
        values: dict[str, Any] = {"status": "available", "created_at": CREATED}
        return self.factory.tracker(pool, number=number, **(values | fields))

    def session(self, site: Site, started: str, source: str, medium: str, **fields: Any) -> str:
        made = self.factory.session(
            site, source=source, medium=medium, started_at=at(started), **fields
        )
        return made.id

    def lease(self, tracker: Tracker, start: str, until: str, session_id: str) -> None:
        self.factory.add(
            Lease(
                tracker_id=tracker.id,
                session_id=session_id,
                started_at=at(start),
                leased_until=at(until),
            )
        )

    def call(self, account: Account, started: str, caller: str, **fields: Any) -> Call:
        return self.factory.call(account, caller, started_at=at(started), **fields)

    def event(self, pool: Pool, kind: str, when: str) -> None:
        self.factory.pool_event(pool, kind, at(when))


@dataclass(frozen=True)
class World:
    account_id: int
    site_id: int
    pool_id: int
    outsider_key: str
    outsider_site_id: int
    outsider_pool_id: int


@pytest.fixture
def make(factory: Factory) -> Make:
    return Make(factory)


@pytest.fixture
def world(make: Make, factory: Factory, account: Account) -> World:
    """Acme's January 2026; the report period used by the tests is 01-01 … 01-04 (included)."""
    site = make.site(account)
    pool = make.pool(site, size=5)
    t1 = make.tracker(pool, "+15125550111")
    t2 = make.tracker(pool, "+15125550112")
    t3 = make.tracker(pool, "+15125550113")
    make.tracker(pool, "+15125550114", status="released", released_at=at("01-01 12:00"))

    s1 = make.session(
        site, "01-02 10:00", "google", "cpc", campaign="spring",
        term="emergency plumber", landing_url="https://acme.test/plumbing?gclid=abc",
    )  # fmt: skip
    s2 = make.session(
        site, "01-02 11:00", "google", "cpc", campaign="spring", term="drain",
        landing_url="https://acme.test/drains",
    )  # fmt: skip
    s3 = make.session(site, "01-03 09:00", "google", "organic")
    s4 = make.session(
        site, "01-03 15:00", "facebook", "paid", campaign="=HYPERLINK(1)",
        landing_url="https://acme.test/plumbing#top",
    )  # fmt: skip
    make.session(site, "01-03 16:00", "google", "organic", is_bot=True)
    before = make.session(site, "2025-12-31 23:59", "google", "cpc")
    make.session(site, "01-05 00:00", "google", "cpc")  # the period's end: excluded

    # Leases: three overlap from 10:20 to 10:30 on 01-02; L4 starts as L1 ends (10:30).
    make.lease(t1, "01-02 10:00", "01-02 10:30", s1)
    make.lease(t2, "01-02 10:10", "01-02 10:40", s2)
    make.lease(t3, "01-02 10:20", "01-02 10:50", s3)
    make.lease(t1, "01-02 10:30", "01-02 11:00", s4)
    make.lease(t1, "01-03 08:00", "01-03 14:00", s3)  # one long lease across quiet hours
    make.lease(t2, "2025-12-31 23:50", "01-01 00:20", before)  # overlaps the start
    make.event(pool, "exhausted", "01-02 10:25")
    make.event(pool, "exhausted", "01-02 10:26")
    make.event(pool, "rebalanced", "01-02 10:27")
    make.event(pool, "exhausted", "2025-12-20 10:00")

    recording = "https://recordings.test/c1.mp3"
    december = make.call(account, "2025-12-20 09:00", "+15550009", pool_id=pool.id)
    first = make.call(
        account, "01-02 10:05", "+15550001", session_id=s1, source="google",
        medium="cpc", duration=120, pool_id=pool.id, tracker_id=t1.id, confidence=0.9,
        recording_url=recording,
    )  # fmt: skip
    make.call(
        account, "01-02 12:00", "+15550001", session_id=s1, source="google",
        medium="cpc", duration=60, pool_id=pool.id, tracker_id=t1.id, confidence=1.0,
        first_call_id=first.id,
    )  # fmt: skip
    make.call(
        account, "01-03 09:10", "+15550002", session_id=s3, source="google",
        medium="organic", status="no-answer", pool_id=pool.id, confidence=1.0,
    )  # fmt: skip
    make.call(account, "01-04 08:00", "+15550003", status="busy", pool_id=pool.id)
    make.call(
        account, "01-03 16:00", "+15550009", session_id=s4, source="facebook",
        medium="paid", duration=30, pool_id=pool.id, confidence=0.5,
        first_call_id=december.id,
    )  # fmt: skip
    make.call(account, "01-05 00:00", "+15550004", pool_id=pool.id)  # excluded

    outsider = factory.account("Outsider")
    other_site = make.site(outsider, "outsider.test")
    other_pool = make.pool(other_site, size=2, name="Theirs")
    other_tracker = make.tracker(other_pool, "+15125550999")
    theirs = make.session(other_site, "01-02 10:00", "google", "cpc", campaign="spring")
    make.lease(other_tracker, "01-02 09:00", "01-02 12:00", theirs)
    make.event(other_pool, "exhausted", "01-02 10:00")
    make.call(
        outsider, "01-01 08:00", "+15550001", session_id=theirs, source="google",
        medium="cpc", duration=999, pool_id=other_pool.id,
    )  # fmt: skip
    outsider_key = factory.api_key(outsider, "outsider")
    return World(
        account_id=account.id,
        site_id=site.id,
        pool_id=pool.id,
        outsider_key=outsider_key,
        outsider_site_id=other_site.id,
        outsider_pool_id=other_pool.id,
    )
