"""The one set of test data factories: every test package and the benchmarks build rows here.

Plain methods, no magic (like polar's ``tests/fixtures``): each writes one row, or a few that
belong together, through the ORM or the production service that owns it, in its own
transaction, and returns it. Defaults make a valid row; keyword arguments set any column.
Times default to the given clock's now (a ``FrozenClock`` in tests, the real one in bench/).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import insert

from callpool.accounts.service import create_api_key
from callpool.accounts.users import OWNER, add_membership, create_user
from callpool.clock import Clock
from callpool.db import Database
from callpool.models import (
    Account,
    Call,
    Lease,
    Pageview,
    Pool,
    PoolEvent,
    SessionEvent,
    Site,
    Tracker,
    TrackerAssignment,
    Visitor,
    VisitSession,
)
from callpool.simulation.daily import ADVICE

Row = TypeVar("Row")

BUSINESS = "+15125550000"  # the business's own number, which trackers stand in for
ORIGIN = "https://acme.test"
PASSWORD = "correct horse battery"
# Factory.advice's accuracy by pool size: 480 numbers are the smallest reaching 99 %.
ADVICE_CURVE = [
    [10, 0.41],
    [20, 0.8267],
    [40, 0.9],
    [80, 0.94],
    [160, 0.962],
    [320, 0.981],
    [480, 0.991],
    [640, 0.995],
]


class Factory:
    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock
        self._numbers = itertools.count(100)

    def add(self, row: Row) -> Row:
        with self.database.session() as db:
            db.add(row)
        return row

    # Accounts and people

    def account(self, name: str = "Other Co", **fields: Any) -> Account:
        return self.add(Account(name=name, created_at=self.clock.now(), **fields))

    def api_key(self, account: Account, name: str = "tests") -> str:
        """A new key of ``account``, as the API creates it; the raw key."""
        with self.database.session() as db:
            return create_api_key(db, account.id, name)

    def user(
        self,
        account: Account,
        email: str = "owner@acme.test",
        *,
        role: str = OWNER,
        password: str = PASSWORD,
    ) -> int:
        """A dashboard user, member of ``account``; its id."""
        with self.database.session() as db:
            user = create_user(db, email, password)
            add_membership(db, user.id, account.id, role)
            return user.id

    # Sites, pools and their numbers

    def site(self, account: Account, **fields: Any) -> Site:
        values: dict[str, Any] = {
            "name": "Acme",
            "public_key": secrets.token_hex(8),
            "allowed_origins": [ORIGIN],
            "created_at": self.clock.now(),
        }
        return self.add(Site(account_id=account.id, **(values | fields)))

    def pool(
        self, site: Site, *, kind: str = "session", record: bool = False, **fields: Any
    ) -> Pool:
        now = self.clock.now()
        values: dict[str, Any] = {
            "name": f"{kind} pool",
            "original_number": BUSINESS,
            "size": 10,
            "utilization": 0.5 if kind == "automated" else None,
            "created_at": now,
            "updated_at": now,
        }
        return self.add(
            Pool(
                account_id=site.account_id,
                site_id=site.id,
                kind=kind,
                record_calls=record,
                **(values | fields),
            )
        )

    def tracker(self, pool: Pool, *, number: str | None = None, **fields: Any) -> Tracker:
        values: dict[str, Any] = {
            "provider": "sandbox",
            "status": "active",
            "created_at": self.clock.now(),
        }
        number = number or f"+1512555{next(self._numbers):04d}"
        return self.add(Tracker(pool_id=pool.id, number=number, **(values | fields)))

    def trackers(self, pool: Pool, numbers: Sequence[str], **fields: Any) -> None:
        """Active trackers of ``pool`` for ``numbers``, in one INSERT (benchmarks make a
        million)."""
        now = self.clock.now()
        values: dict[str, Any] = {
            "pool_id": pool.id,
            "provider": "sandbox",
            "status": "active",
            "original_number": pool.original_number,
            "created_at": now,
            "activated_at": now,
        } | fields
        with self.database.session() as db:
            db.execute(insert(Tracker), [{**values, "number": number} for number in numbers])

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

    def pool_event(self, pool: Pool, kind: str, at: datetime) -> PoolEvent:
        return self.add(PoolEvent(pool_id=pool.id, kind=kind, at=at))

    def advice(self, pool: Pool, *, at: datetime | None = None, **detail: Any) -> PoolEvent:
        """A stored pool-size advice (``simulation.daily``), as the worker's child writes it:
        a month of 500 sessions a day, the pool's own size on a curve of 10 to 640 numbers,
        480 the smallest size reaching 99 %; ``detail`` replaces any of it."""
        curve = detail.pop("curve", ADVICE_CURVE)
        values: dict[str, Any] = {
            "target": 0.99,
            "days": 30,
            "sessions": 15000,
            "size": pool.size,
            "accuracy": dict(curve).get(pool.size),
            "recommended_size": 480,
            "curve": curve,
            "naive_curve": [[size, round(accuracy * 0.9, 4)] for size, accuracy in curve],
        } | detail
        return self.add(
            PoolEvent(pool_id=pool.id, kind=ADVICE, at=at or self.clock.now(), detail=values)
        )

    # Visits

    def session(
        self, site: Site, *, source: str = "google", medium: str = "cpc", **fields: Any
    ) -> VisitSession:
        """A session of a new visitor, or of the visitor ``visitor_id`` names (returning)."""
        now = fields.pop("started_at", self.clock.now())
        visitor_id = fields.pop("visitor_id", None)
        if visitor_id is None:
            visitor_id = self.add(
                Visitor(id=secrets.token_hex(8), site_id=site.id, first_seen_at=now)
            ).id
        values: dict[str, Any] = {
            "id": secrets.token_hex(8),
            "last_seen_at": now,
            "landing_url": f"{ORIGIN}/",
        }
        return self.add(
            VisitSession(
                site_id=site.id,
                visitor_id=visitor_id,
                started_at=now,
                source=source,
                medium=medium,
                **(values | fields),
            )
        )

    def sessions(
        self, site: Site, count: int, *, source: str = "google", medium: str = "cpc", **fields: Any
    ) -> None:
        """``count`` sessions of new visitors, in one transaction (pools count visits by the
        hundred); ``fields`` set columns of every session (``is_bot=True``)."""
        now = fields.pop("started_at", self.clock.now())
        ids = [secrets.token_hex(8) for _ in range(count)]
        values: dict[str, Any] = {
            "site_id": site.id,
            "started_at": now,
            "last_seen_at": now,
            "source": source,
            "medium": medium,
            "landing_url": f"{ORIGIN}/",
        } | fields
        with self.database.session() as db:
            db.execute(
                insert(Visitor), [{"id": i, "site_id": site.id, "first_seen_at": now} for i in ids]
            )
            db.execute(insert(VisitSession), [{**values, "id": i, "visitor_id": i} for i in ids])

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

    # Calls (stored as the webhooks store them: see ``callpool.calls.service`` for that path)

    def call(self, account: Account, caller: str, **fields: Any) -> Call:
        values: dict[str, Any] = {
            "provider": "sandbox",
            "provider_call_id": secrets.token_hex(16),
            "to_number": "+15125550111",
            "started_at": self.clock.now(),
            "status": "completed",
        }
        return self.add(Call(account_id=account.id, from_number=caller, **(values | fields)))
