"""Plain factories for calls tests: sites, pools, trackers, visits, leases, and signed webhooks."""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from twilio.request_validator import RequestValidator

from callpool.calls import spool
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import (
    Account,
    Call,
    Lease,
    Pageview,
    Pool,
    SessionEvent,
    Site,
    Tracker,
    TrackerAssignment,
    Visitor,
    VisitSession,
)
from callpool.settings import Settings
from tests.waiting import wait_for

Row = TypeVar("Row")

BUSINESS = "+15125550000"
CALLER = "+14155550123"


class Factory:
    def __init__(self, database: Database, clock: FrozenClock) -> None:
        self.database = database
        self.clock = clock
        self._numbers = itertools.count(100)

    def add(self, row: Row) -> Row:
        with self.database.session() as db:
            db.add(row)
        return row

    def account(self, name: str = "Other Co") -> Account:
        return self.add(Account(name=name, created_at=self.clock.now()))

    def site(self, account: Account) -> Site:
        return self.add(
            Site(
                account_id=account.id,
                name="Acme",
                public_key=secrets.token_hex(8),
                allowed_origins=["https://acme.test"],
                created_at=self.clock.now(),
            )
        )

    def pool(
        self, site: Site, *, kind: str = "session", record: bool = False, **fields: Any
    ) -> Pool:
        now = self.clock.now()
        return self.add(
            Pool(
                account_id=site.account_id,
                site_id=site.id,
                name=f"{kind} pool",
                kind=kind,
                original_number=fields.pop("original_number", BUSINESS),
                size=10,
                utilization=0.5 if kind == "automated" else None,
                record_calls=record,
                created_at=now,
                updated_at=now,
                **fields,
            )
        )

    def tracker(self, pool: Pool, *, number: str | None = None, **fields: Any) -> Tracker:
        return self.add(
            Tracker(
                pool_id=pool.id,
                number=number or f"+1512555{next(self._numbers):04d}",
                provider="sandbox",
                status=fields.pop("status", "active"),
                created_at=self.clock.now(),
                **fields,
            )
        )

    def session(
        self, site: Site, *, source: str = "google", medium: str = "cpc", **fields: Any
    ) -> VisitSession:
        now = fields.pop("started_at", self.clock.now())
        visitor = self.add(Visitor(id=secrets.token_hex(8), site_id=site.id, first_seen_at=now))
        return self.add(
            VisitSession(
                id=secrets.token_hex(8),
                site_id=site.id,
                visitor_id=visitor.id,
                started_at=now,
                last_seen_at=fields.pop("last_seen_at", now),
                source=source,
                medium=medium,
                landing_url=fields.pop("landing_url", "https://acme.test/"),
                **fields,
            )
        )

    def lease(
        self, tracker: Tracker, session: VisitSession, start: datetime, end: datetime
    ) -> Lease:
        return self.add(
            Lease(tracker_id=tracker.id, session_id=session.id, started_at=start, leased_until=end)
        )

    def pageview(self, session: VisitSession, url: str, at: datetime) -> Pageview:
        return self.add(Pageview(session_id=session.id, url=url, title=None, at=at))

    def tel_click(self, session: VisitSession, at: datetime, number: str) -> SessionEvent:
        return self.add(
            SessionEvent(session_id=session.id, kind="tel_click", at=at, detail={"number": number})
        )

    def assignment(
        self, tracker: Tracker, source: str, medium: str, start: datetime, end: datetime | None
    ) -> TrackerAssignment:
        return self.add(
            TrackerAssignment(
                tracker_id=tracker.id,
                source=source,
                medium=medium,
                original_number=BUSINESS,
                started_at=start,
                ended_at=end,
            )
        )


@pytest.fixture
def factory(database: Database, clock: FrozenClock) -> Factory:
    return Factory(database, clock)


@pytest.fixture
def site(factory: Factory, account: Account) -> Site:
    return factory.site(account)


def ago(clock: FrozenClock, **delta: float) -> datetime:
    return clock.now() - timedelta(**delta)


# Webhooks


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


def post_webhook(
    client: TestClient,
    settings: Settings,
    path: str,
    params: dict[str, str],
    *,
    provider: str = "twilio",
    settle: bool = True,
) -> Response:
    """POST ``params`` to ``path``, signed the way the carrier signs it; unless ``settle`` is
    False, wait until the app has stored what the webhook spooled (after answering it)."""
    token = settings.twilio_auth_token if provider == "twilio" else settings.secret_key
    assert token
    signature = twilio_signature(token, settings.public_url + path, params)
    answer = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    if settle:
        settled(settings)
    return answer


def settled(settings: Settings, timeout: float = 20.0) -> None:
    """Wait until the spool is empty: every call and status the app took is stored.

    Empty twice in a row: a listing taken while the drainer renames an entry to claim it may
    see neither name.
    """
    empty_before = False

    def drained() -> bool:
        nonlocal empty_before
        empty, was_empty = spool.pending(settings.call_spool_dir) == 0, empty_before
        empty_before = empty
        return empty and was_empty

    wait_for(drained, "the spool to drain", timeout)


def voice_params(to: str, *, call_id: str = "CA1", caller: str = CALLER) -> dict[str, str]:
    return {
        "CallSid": call_id,
        "AccountSid": "AC00000000000000000000000000000000",
        "To": to,
        "From": caller,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


def calls_in(database: Database) -> list[Call]:
    from sqlalchemy import select

    with database.reader() as db:
        return list(db.scalars(select(Call).order_by(Call.id)))
