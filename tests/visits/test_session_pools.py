"""Session-level DNI through the visit API: who gets which number, for how long, and overflow.

Time moves with the clock fixture; every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Lease, Pool, PoolEvent, Tracker, Visitor, VisitSession

ONE = ["+15125550101"]
TWO = ["+15125550101", "+15125550102"]
THREE = ["+15125550101", "+15125550102", "+15125550103"]


def test_a_new_visit_gets_a_tracking_number_to_show_in_place_of_the_business_number(
    browser: Any, pool_id: int, database: Database, clock: FrozenClock
) -> None:
    response = browser.visit()

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://acme-plumbing.example"
    answer = response.json()
    assert answer["bot"] is False
    assert answer["numbers"] == [
        {
            "pool": pool_id,
            "pool_name": "Website visitors",
            "target": "+15125550100",
            "selector": None,
            "number": "+15125550101",
            "display": "(512) 555-0101",
        }
    ]
    with database.reader() as db:
        lease = db.scalars(select(Lease)).one()
        visit = db.get(VisitSession, answer["s"])
    assert visit is not None
    assert visit.visitor_id == answer["v"]
    assert lease.session_id == answer["s"]
    assert lease.shared is False
    # Provisional until the page is seen (tests/visits/test_address_limits.py); the snippet
    # is told the full lease, which its heartbeats keep.
    assert lease.leased_until == clock.now() + timedelta(minutes=2)
    assert answer["exp"] == int((clock.now() + timedelta(minutes=30)).timestamp() * 1000)


def test_the_same_session_keeps_its_number_and_other_sessions_get_others(
    browser: Any, pool_id: int
) -> None:
    first, answer = browser.number()
    again, resumed = browser.number(visitor=answer["v"], session=answer["s"])
    other, _ = browser.number()

    assert again == first
    assert resumed["s"] == answer["s"]
    assert other not in (None, first)


def test_a_number_is_free_again_after_30_idle_minutes_and_not_before(
    browser: Any, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(ONE, overflow_policy="original")
    assert browser.number()[0] == "+15125550101"

    clock.advance(minutes=29, seconds=59)
    assert browser.number()[0] is None  # still someone else's
    clock.advance(seconds=1)
    assert browser.number()[0] == "+15125550101"


def test_a_heartbeat_keeps_the_number_while_the_page_is_visible(
    browser: Any, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(ONE, overflow_policy="original")
    number, reader = browser.number()

    clock.advance(minutes=20)
    assert browser.heartbeat(reader["s"]).status_code == 204
    clock.advance(minutes=15)  # 35 minutes after the visit, 15 after the heartbeat
    assert browser.number()[0] is None
    assert browser.number(visitor=reader["v"], session=reader["s"])[0] == number

    clock.advance(minutes=30)  # idle since the resumed visit
    assert browser.number()[0] == number


def test_a_pageview_extends_the_lease(
    browser: Any, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(ONE, overflow_policy="original")
    _, reader = browser.number()

    clock.advance(minutes=25)
    assert browser.pageview(reader["s"]).status_code == 204
    clock.advance(minutes=25)
    assert browser.number()[0] is None
    clock.advance(minutes=5)
    assert browser.number()[0] == "+15125550101"


def test_free_numbers_go_out_least_recently_used_first(
    browser: Any, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(THREE)
    taken = []
    for _ in THREE:
        taken.append(browser.number()[0])
        clock.advance(minutes=1)
    assert sorted(taken) == THREE

    clock.advance(minutes=40)  # all free; the first one handed out has been free the longest
    assert [browser.number()[0] for _ in THREE] == taken


def test_never_used_numbers_go_out_before_used_ones(
    browser: Any, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(TWO)
    first = browser.number()[0]
    clock.advance(minutes=31)

    assert browser.number()[0] != first
    assert browser.number()[0] == first


def test_a_returning_visitor_sees_their_previous_number_when_it_is_free(
    browser: Any, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(THREE)
    first, visitor = browser.number()
    clock.advance(minutes=45)

    # LRU alone would hand out a never-used number; the returning visitor gets theirs.
    again, returned = browser.number(visitor=visitor["v"], session=visitor["s"])

    assert again == first
    assert returned["v"] == visitor["v"]
    assert returned["s"] != visitor["s"]  # the old session had ended: a new one starts


def test_a_returning_visitor_whose_number_is_busy_gets_another(
    browser: Any, make_pool: Callable[..., int], clock: FrozenClock
) -> None:
    make_pool(THREE)
    first, visitor = browser.number()
    for _ in THREE[1:]:
        clock.advance(minutes=1)
        browser.number()
    clock.advance(minutes=40)
    assert browser.number()[0] == first  # a newcomer takes the least recently used one

    again, _ = browser.number(visitor=visitor["v"])

    assert again not in (None, first)


def test_overflow_reuse_shares_the_number_of_the_longest_idle_holder(
    browser: Any, make_pool: Callable[..., int], clock: FrozenClock, database: Database
) -> None:
    pool_id = make_pool(TWO, overflow_policy="reuse")
    a_number, a = browser.number()
    clock.advance(minutes=1)
    b_number, _ = browser.number()
    clock.advance(minutes=1)
    browser.heartbeat(a["s"])  # a is active again; b has been idle longest

    c_number, c = browser.number()

    assert c_number == b_number != a_number
    with database.reader() as db:
        lease = db.scalars(select(Lease).where(Lease.session_id == c["s"])).one()
        events = db.scalars(select(PoolEvent)).all()
    assert lease.shared is True
    assert [(e.pool_id, e.kind, e.detail["policy"]) for e in events] == [
        (pool_id, "exhausted", "reuse")
    ]


def test_overflow_fallback_shows_the_overflow_number_without_a_lease(
    browser: Any, make_pool: Callable[..., int], database: Database
) -> None:
    make_pool(ONE, overflow_policy="fallback", overflow_number="+15125550199")
    browser.number()

    response = browser.visit()

    numbers = response.json()["numbers"]
    assert [(n["number"], n["display"]) for n in numbers] == [("+15125550199", "(512) 555-0199")]
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(Lease)) == 1
        assert db.scalars(select(PoolEvent.kind)).all() == ["exhausted"]


def test_overflow_original_swaps_nothing_and_counts_the_exhaustion(
    browser: Any, make_pool: Callable[..., int], database: Database
) -> None:
    make_pool(ONE, overflow_policy="original")
    browser.number()

    assert browser.visit().json()["numbers"] == []
    assert browser.visit().json()["numbers"] == []
    with database.reader() as db:
        details = db.scalars(select(PoolEvent.detail)).all()
    assert [d["policy"] for d in details] == ["original", "original"]


def test_only_active_trackers_of_live_pools_are_handed_out(
    browser: Any, make_pool: Callable[..., int], database: Database, clock: FrozenClock
) -> None:
    pool_id = make_pool(THREE, overflow_policy="original")
    deleted_id = make_pool(["+15125550109"], priority=10)
    retired = {"+15125550101": "available", "+15125550102": "flagged"}
    with database.session() as db:
        for tracker in db.scalars(select(Tracker).where(Tracker.pool_id == pool_id)):
            tracker.status = retired.get(tracker.number, tracker.status)
        db.get_one(Pool, deleted_id).deleted_at = clock.now()

    assert browser.number()[0] == "+15125550103"
    assert browser.number()[0] is None


def test_a_crawler_gets_no_number_and_takes_none(
    client: Any, browser: Any, make_pool: Callable[..., int], database: Database
) -> None:
    make_pool(ONE, overflow_policy="original")
    crawler = type(browser)(client, agent="Mozilla/5.0 (compatible; Googlebot/2.1)")

    answer = crawler.visit().json()

    assert answer["bot"] is True
    assert answer["numbers"] == []
    assert browser.number()[0] == "+15125550101"  # the crawler consumed nothing
    with database.reader() as db:
        visit = db.get(VisitSession, answer["s"])
        assert visit is not None
        assert (visit.is_bot, visit.device) == (True, "bot")
        assert db.scalar(select(func.count()).select_from(Lease)) == 1
        assert db.scalar(select(func.count()).select_from(PoolEvent)) == 0


def test_a_new_session_of_a_known_visitor_keeps_the_visitor(
    browser: Any, pool_id: int, clock: FrozenClock, database: Database
) -> None:
    _, first = browser.number()
    clock.advance(hours=3)

    _, second = browser.number(visitor=first["v"], session=first["s"])

    assert second["v"] == first["v"]
    assert second["s"] != first["s"]
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(Visitor)) == 1
        assert db.scalar(select(func.count()).select_from(VisitSession)) == 2
