"""A database another connection holds locked never stalls the server, and never a visit for long.

Another connection takes the lock visits need (SQLite's write lock; on PostgreSQL a lock on
the trackers table that blocks every claim) while visits and ``/healthz`` arrive. ``/healthz``
answers while the lock is still held; visits answer 503 once they have waited ``DEADLINE``
(the snippet then keeps the page's own number) and store nothing, or succeed once the lock is
released. No request is left hanging, and nothing is stored twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select

from callpool.db import Database
from callpool.models import Lease, VisitSession
from tests.visits.conftest import ORIGIN, Browser

VISITS = 4
ANSWER_WITHIN = 30  # seconds: only a hung request takes this long; the test then fails


@contextmanager
def lock_held(database: Database) -> Iterator[None]:
    """Another connection holds the lock every new visit needs, until the block ends."""
    url = database.engine.url
    if database.is_sqlite:
        other = sqlite3.connect(str(url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.rollback()
            other.close()
        return
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as other:
        other.execute("LOCK TABLE trackers IN EXCLUSIVE MODE")  # plain reads still go on
        yield
        other.rollback()


def visits_waiting(
    browser: Browser, client: TestClient, threads: ThreadPoolExecutor
) -> list[Future[Response]]:
    """New visits, sent while the lock is held; ``/healthz`` answers while they wait."""
    visits = [threads.submit(browser.visit, url=f"{ORIGIN}/?n={n}") for n in range(VISITS)]
    assert client.get("/healthz").status_code == 200
    assert not any(visit.done() for visit in visits)  # they wait; the server does not
    return visits


def stored(database: Database) -> tuple[int, int]:
    with database.reader() as db:
        sessions = db.scalar(select(func.count()).select_from(VisitSession))
        leases = db.scalar(select(func.count(func.distinct(Lease.session_id))))
    return int(sessions or 0), int(leases or 0)


def test_visits_answer_503_while_the_lock_is_held_and_the_server_keeps_serving(
    database: Database,
    client: TestClient,
    browser: Browser,
    make_pool: Callable[..., int],
) -> None:
    make_pool([f"+1512555020{n}" for n in range(2 * VISITS)])
    with ThreadPoolExecutor(VISITS) as threads, lock_held(database):
        visits = visits_waiting(browser, client, threads)
        answers = [visit.result(ANSWER_WITHIN) for visit in visits]
        # Still held: they gave up on their own.
    assert [answer.status_code for answer in answers] == [503] * VISITS
    assert answers[0].headers["access-control-allow-origin"] == ORIGIN  # the page can read it
    assert stored(database) == (0, 0)

    number, _ = browser.number()  # the lock is free again
    assert number is not None
    assert stored(database) == (1, 1)


def test_visits_waiting_for_the_lock_go_through_once_it_is_released(
    database: Database,
    client: TestClient,
    browser: Browser,
    make_pool: Callable[..., int],
) -> None:
    make_pool([f"+1512555020{n}" for n in range(2 * VISITS)])
    with ThreadPoolExecutor(VISITS) as threads:
        with lock_held(database):
            visits = visits_waiting(browser, client, threads)
        answers = [visit.result(ANSWER_WITHIN) for visit in visits]
    assert [answer.status_code for answer in answers] == [200] * VISITS
    sessions = {answer.json()["s"] for answer in answers}
    numbers = {answer.json()["numbers"][0]["number"] for answer in answers}
    assert len(sessions) == len(numbers) == VISITS  # each its own session and number
    assert stored(database) == (VISITS, VISITS)  # each stored once
