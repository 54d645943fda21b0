"""The visit API as the snippet uses it: what is stored, CORS, targets and rules, bad input."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import (
    Account,
    Lease,
    Pageview,
    PoolEvent,
    SessionEvent,
    Site,
    Visitor,
    VisitSession,
)
from callpool.settings import Settings

ORIGIN = "https://acme-plumbing.example"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_the_session_stores_where_the_visit_came_from(
    browser: Any, pool_id: int, database: Database, settings: Settings
) -> None:
    landing = f"{ORIGIN}/drains?utm_source=Google&utm_medium=CPC&utm_campaign=Spring&gclid=Cj0x"
    browser.agent = IPHONE

    answer = browser.visit(url=landing, referrer="https://www.google.com/").json()

    assert answer["src"] == {
        "source": "google",
        "medium": "cpc",
        "campaign": "Spring",
        "term": None,
        "content": None,
    }
    with database.reader() as db:
        visit = db.get_one(VisitSession, answer["s"])
    assert (visit.gclid, visit.landing_url, visit.referrer) == (
        "Cj0x",
        landing,
        "https://www.google.com/",
    )
    assert (visit.device, visit.user_agent, visit.is_bot) == ("mobile", IPHONE, False)
    # What reports filter on, as stored: SQL NULL for absent values, false for a human.
    with database.reader() as db:
        stored = db.execute(
            select(
                VisitSession.term.is_(None), VisitSession.fbclid.is_(None), VisitSession.is_bot
            ).where(VisitSession.id == answer["s"])
        ).one()
    assert tuple(stored) == (True, True, False)
    # A keyed hash of the address (the test client's is "testclient"), never the address.
    expected = hmac.new(settings.secret_key.encode(), b"testclient", hashlib.sha256).hexdigest()
    assert visit.ip_hash == expected


def test_pageviews_and_tel_clicks_are_recorded_in_the_session(
    browser: Any, pool_id: int, database: Database, clock: FrozenClock
) -> None:
    number, answer = browser.number()
    clock.advance(minutes=2)
    assert browser.pageview(answer["s"], f"{ORIGIN}/services").status_code == 204
    clock.advance(minutes=1)
    assert browser.tel_click(answer["s"], number).status_code == 204

    with database.reader() as db:
        visit = db.get_one(VisitSession, answer["s"])
        urls = db.scalars(select(Pageview.url).order_by(Pageview.at)).all()
        event = db.scalars(select(SessionEvent)).one()
    assert urls == [f"{ORIGIN}/", f"{ORIGIN}/services"]
    assert visit.pageview_count == 2
    assert visit.last_seen_at == clock.now()
    assert (event.kind, event.detail, event.session_id) == (
        "tel_click",
        {"number": number},
        answer["s"],
    )


def test_a_pageview_after_the_session_ended_is_kept_but_revives_nothing(
    browser: Any, pool_id: int, database: Database, clock: FrozenClock
) -> None:
    _, answer = browser.number()
    clock.advance(minutes=31)

    assert browser.pageview(answer["s"]).status_code == 204

    with database.reader() as db:
        lease = db.scalars(select(Lease)).one()
        assert db.scalar(select(func.count()).select_from(Pageview)) == 2
    assert lease.leased_until < clock.now()


def test_each_swap_target_is_served_by_the_highest_priority_matching_pool(
    browser: Any, make_pool: Callable[..., int]
) -> None:
    austin = "+15125550200"
    make_pool(["+15125550101"], name="Main line")
    make_pool(["+15125550201"], name="Austin", swap_number=austin, rules={"paths": ["/austin*"]})
    make_pool(
        ["+15125550301"],
        name="Austin ads",
        swap_number=austin,
        priority=5,
        rules={"paths": ["/austin*"], "sources": ["google/cpc", "facebook/*"]},
    )

    def shown(url: str) -> dict[str, str]:
        numbers = browser.visit(url=url).json()["numbers"]
        return {n["pool_name"]: n["number"] for n in numbers}

    assert shown(f"{ORIGIN}/") == {"Main line": "+15125550101"}
    assert shown(f"{ORIGIN}/austin/") == {"Main line": "+15125550101", "Austin": "+15125550201"}
    ad = shown(f"{ORIGIN}/austin-plumbers?gclid=x")
    assert ad == {"Main line": "+15125550101", "Austin ads": "+15125550301"}


def test_a_selector_target_is_passed_to_the_snippet(
    browser: Any, make_pool: Callable[..., int]
) -> None:
    make_pool(["+15125550101"], swap_number=None, swap_selector=".phone")

    (entry,) = browser.visit().json()["numbers"]

    assert (entry["target"], entry["selector"]) == (None, ".phone")


def test_an_automated_pool_with_no_tracker_for_the_source_swaps_and_leases_nothing(
    browser: Any, make_pool: Callable[..., int], database: Database
) -> None:
    make_pool(["+15125550101"], kind="automated", utilization=0.8)

    assert browser.visit().json()["numbers"] == []
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(Lease)) == 0


def test_the_servers_own_origin_may_call_for_the_demo_site(
    client: TestClient, browser: Any, pool_id: int
) -> None:
    demo_page = type(browser)(client, origin="https://callpool.test")  # settings.public_url

    response = demo_page.visit()

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://callpool.test"


def _stored(database: Database) -> dict[str, int]:
    with database.reader() as db:
        return {
            model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
            for model in (Visitor, VisitSession, Pageview, Lease, SessionEvent, PoolEvent)
        }


BAD_VISITS = [
    pytest.param("{not json", 400, "not valid JSON", id="malformed JSON"),
    pytest.param("[1, 2]", 400, "", id="not an object"),
    pytest.param({"k": "site_acme"}, 400, "u: Field required", id="no page URL"),
    pytest.param({"k": "site_acme", "u": 42}, 400, "u: ", id="URL of the wrong type"),
    pytest.param({"k": "site_acme", "u": "javascript:alert(1)"}, 400, "http(s)", id="not http"),
    pytest.param(
        {"k": "site_acme", "u": f"{ORIGIN}/?q={'x' * 5000}"}, 400, "at most 4096", id="long URL"
    ),
    pytest.param({"k": "site_acme", "u": ORIGIN, "t": "x" * 600}, 400, "t: ", id="long title"),
    pytest.param({"k": "site_acme", "u": ORIGIN, "v": "v" * 100}, 400, "v: ", id="long id"),
    pytest.param({"k": "site_acme", "u": ORIGIN, "r": ["x"]}, 400, "r: ", id="list referrer"),
    pytest.param({"k": "site_nope", "u": ORIGIN}, 404, "unknown site key", id="unknown key"),
    pytest.param({"k": "site_acme", "u": ORIGIN, "r": "x" * 20_000}, 413, "16384", id="huge body"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_VISITS)
def test_bad_visits_get_a_clear_error_and_store_nothing(
    browser: Any, pool_id: int, database: Database, body: Any, status: int, message: str
) -> None:
    response = browser.post("/t/visit", body)

    assert response.status_code == status
    assert message in response.json()["detail"]
    assert set(_stored(database).values()) == {0}


@pytest.mark.parametrize("origin", ["https://evil.example", "null", ""])
def test_other_origins_are_refused(
    client: TestClient, browser: Any, pool_id: int, database: Database, origin: str
) -> None:
    stranger = type(browser)(client, origin=origin)

    response = stranger.visit()

    assert response.status_code == 403
    assert f"origin {origin or '(none)'} is not allowed" in response.json()["detail"]
    # Readable by the refused page itself, so that the snippet's debug view can explain it.
    assert response.headers.get("access-control-allow-origin") == (origin or None)
    assert set(_stored(database).values()) == {0}


def test_unknown_or_foreign_sessions_are_404_on_pageview_heartbeat_and_event(
    browser: Any,
    pool_id: int,
    database: Database,
    account: Account,
    clock: FrozenClock,
) -> None:
    with database.session() as db:
        db.add(
            Site(
                account_id=account.id,
                name="Other",
                public_key="site_other",
                allowed_origins=[ORIGIN],
                created_at=clock.now(),
            )
        )
    foreign = browser.post("/t/visit", {"k": "site_other", "u": f"{ORIGIN}/"}).json()["s"]
    before = _stored(database)

    for session in ("no-such-session", foreign):
        assert browser.pageview(session).status_code == 404
        assert browser.heartbeat(session).status_code == 404
        assert browser.tel_click(session, "+15125550101").status_code == 404
    assert _stored(database) == before


def test_an_unknown_event_kind_is_refused(browser: Any, pool_id: int, database: Database) -> None:
    _, answer = browser.number()

    response = browser.post("/t/event", {"k": "site_acme", "s": answer["s"], "e": "scroll"})

    assert response.status_code == 400
    assert _stored(database)["SessionEvent"] == 0


def test_a_body_announced_too_large_is_refused_before_it_is_read(
    client: TestClient, pool_id: int
) -> None:
    response = client.post(
        "/t/visit",
        content=json.dumps({"k": "site_acme"}),
        headers={"Content-Length": "999999", "Origin": ORIGIN},
    )

    assert response.status_code == 413


def test_only_post_is_allowed_on_the_visit_endpoints(client: TestClient) -> None:
    for path in ("/t/visit", "/t/pageview", "/t/heartbeat", "/t/event"):
        response = client.get(path)
        assert response.status_code == 405
        assert response.json() == {"detail": "Method Not Allowed"}
    assert client.get("/t/elsewhere").status_code == 404  # FastAPI's routes answer the rest
