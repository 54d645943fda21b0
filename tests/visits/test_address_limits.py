"""A pool cannot be drained by a few clients (DESIGN.md "Session pools").

- An address holds at most ``max_leases_per_address`` numbers of a pool; its further sessions
  share its own numbers, never another visitor's, and the pool's health counts them.
- A new lease is provisional (2 minutes) until the page shows it is visible (a heartbeat, a
  second pageview); then it lasts the pool's full lease.
- New sessions per address are bounded in rate (429 beyond it, nothing stored).

The test client's address is chosen per client (``TestClient(client=…)``); the real-server
drain from 127.0.0.1 against 127.0.0.2 is ``tests/visits/test_drain.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callpool.app import create_app
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Lease, PoolEvent, VisitSession
from callpool.settings import Settings
from tests.visits.conftest import ORIGIN, Browser

ONE = ["+15125550101"]
FOUR = ["+15125550101", "+15125550102", "+15125550103", "+15125550104"]
OFFICE, NEIGHBOUR = "198.51.100.7", "203.0.113.9"


@contextmanager
def browser_at(app: FastAPI, address: str) -> Iterator[Browser]:
    with TestClient(app, client=(address, 40000)) as client:
        yield Browser(client)


def lease_of(database: Database, session_id: str) -> Lease:
    with database.reader() as db:
        return db.scalars(select(Lease).where(Lease.session_id == session_id)).one()


def test_an_address_at_its_limit_shares_its_own_numbers_never_another_visitors(
    app: FastAPI,
    database: Database,
    make_pool: Callable[..., int],
    clock: FrozenClock,
    auth: dict[str, str],
) -> None:
    pool_id = make_pool(FOUR, max_leases_per_address=2)
    with browser_at(app, OFFICE) as office, browser_at(app, NEIGHBOUR) as neighbour:
        own = [office.number()[0]]
        clock.advance(minutes=1)
        own.append(office.number()[0])
        clock.advance(minutes=1)
        third, capped = office.number()
        fourth, _ = office.number()
        other, theirs = neighbour.number()

        health = office.client.get(f"/api/v1/reports/pools/{pool_id}", headers=auth).json()

    assert len(set(own)) == 2
    assert third in own  # its own number
    assert fourth in own
    assert other is not None
    assert other not in own  # a free number, for someone else
    assert lease_of(database, capped["s"]).shared is True
    assert lease_of(database, theirs["s"]).shared is False
    with database.reader() as db:
        events = db.scalars(select(PoolEvent).where(PoolEvent.kind == "capped")).all()
    assert len(events) == 2
    assert (health["capped_sessions"], health["capped_addresses"]) == (2, 1)


def test_a_visit_that_never_shows_a_visible_page_holds_its_number_two_minutes(
    browser: Browser, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(ONE, overflow_policy="original")
    number, _ = browser.number(visible=False)

    clock.advance(minutes=1, seconds=59)
    assert browser.number(visible=False)[0] is None
    clock.advance(seconds=1)
    assert browser.number(visible=False)[0] == number  # free again: someone else has it


def test_the_first_heartbeat_keeps_the_number_for_the_full_lease(
    browser: Browser, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(ONE, overflow_policy="original")
    number, reader = browser.number(visible=False)
    clock.advance(minutes=1)
    assert browser.heartbeat(reader["s"]).status_code == 204

    clock.advance(minutes=29, seconds=59)
    assert browser.number(visible=False)[0] is None
    clock.advance(seconds=1)
    assert browser.number(visible=False)[0] == number


def test_a_page_first_seen_later_keeps_its_number_if_no_one_took_it_meanwhile(
    browser: Browser, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    """A tab opened in the background: its first heartbeat comes when it is looked at."""
    make_pool(["+15125550101", "+15125550102"], overflow_policy="original")
    number, tab = browser.number(visible=False)
    assert tab["exp"] == int((clock.now().timestamp() + 30 * 60) * 1000)  # as if seen
    clock.advance(minutes=5)
    assert browser.number()[0] != number  # a newcomer gets the other, free the longest

    assert browser.heartbeat(tab["s"]).status_code == 204
    assert browser.number()[0] is None  # both are held now, for the full lease
    clock.advance(minutes=29, seconds=59)
    assert browser.number()[0] is None


def test_a_second_pageview_keeps_the_number_for_the_full_lease(
    browser: Browser, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(ONE, overflow_policy="original")
    number, reader = browser.number(visible=False)
    clock.advance(minutes=1)
    again, _ = browser.number(visible=False, visitor=reader["v"], session=reader["s"])
    assert again == number

    clock.advance(minutes=29, seconds=59)
    assert browser.number(visible=False)[0] is None


def sessions(database: Database) -> int:
    with database.reader() as db:
        return int(db.scalar(select(func.count()).select_from(VisitSession)) or 0)


def test_new_sessions_from_one_address_are_bounded_in_rate(
    settings: Settings, database: Database, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(FOUR)
    app = create_app(
        settings.model_copy(update={"new_sessions_per_address_per_minute": 3}), database
    )
    with browser_at(app, OFFICE) as office, browser_at(app, NEIGHBOUR) as neighbour:
        answers = [office.visit(url=f"{ORIGIN}/?n={n}") for n in range(5)]
        first: dict[str, Any] = answers[0].json()
        resumed = office.visit(visitor=first["v"], session=first["s"])  # not a new session
        elsewhere = neighbour.visit()

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    assert answers[3].headers["access-control-allow-origin"] == ORIGIN  # the page can read it
    assert resumed.status_code == 200
    assert resumed.json()["s"] == first["s"]
    assert elsewhere.status_code == 200
    assert sessions(database) == 4  # nothing stored for the refused ones
