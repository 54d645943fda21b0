"""The snippet sends the site's own Google Analytics cookies with a visit and its beacons (a
real Chromium on the real app): the session keeps GA's client and session ids, for the GA4
events of its calls, even when GA writes its cookie after the visit; other cookies of the page
are never sent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page
from sqlalchemy import select

from callpool.models import VisitSession
from tests.snippet.conftest import DemoSite, Server, Traffic
from tests.waiting import wait_for

pytestmark = pytest.mark.browser


def test_the_ga_cookies_go_with_the_visit_and_no_other_cookie(
    page: Page,
    context: BrowserContext,
    live_server: Server,
    make_site: Callable[..., DemoSite],
    traffic: Traffic,
) -> None:
    site = make_site()
    url = live_server.page_url(site.key, "home.html")
    context.add_cookies(
        [
            {"name": "_ga", "value": "GA1.1.1187462153.1733011200", "url": url},
            {"name": "_ga_ABC123XYZ", "value": "GS2.1.s1733050000$o3$g1$t1733050100", "url": url},
            {"name": "cart", "value": "secret-cart-id", "url": url},
        ]
    )
    with page.expect_response(lambda r: r.url.endswith("/t/visit")) as answer:
        page.goto(url)
    assert answer.value.status == 200
    [body] = traffic.bodies("/t/visit")
    assert sorted(body["g"]) == [
        "_ga=GA1.1.1187462153.1733011200",
        "_ga_ABC123XYZ=GS2.1.s1733050000$o3$g1$t1733050100",
    ]
    assert "secret-cart-id" not in str(body)
    with live_server.database.reader() as db:
        [session] = db.scalars(select(VisitSession).where(VisitSession.site_id == site.site_id))
    assert session.ga_client_id == "1187462153.1733011200"
    assert session.ga_sessions == {"ABC123XYZ": "1733050000"}


def test_a_page_without_ga_sends_none(
    page: Page, live_server: Server, make_site: Callable[..., DemoSite], traffic: Traffic
) -> None:
    site = make_site()
    with page.expect_response(lambda r: r.url.endswith("/t/visit")):
        page.goto(live_server.page_url(site.key, "home.html"))
    [body] = traffic.bodies("/t/visit")
    assert body["g"] is None


def test_a_cookie_ga_writes_after_the_visit_comes_with_the_next_beacon(
    page: Page, live_server: Server, make_site: Callable[..., DemoSite], traffic: Traffic
) -> None:
    site = make_site()
    with page.expect_response(lambda r: r.url.endswith("/t/visit")):
        page.goto(live_server.page_url(site.key, "home.html"))
    # GA's tag loads later and writes its cookie; the tab then goes to the background (the
    # visitor switches to the phone app), which sends a heartbeat.
    page.evaluate("document.cookie = '_ga=GA1.1.424242.1733011200; path=/'")
    page.evaluate(
        """() => { Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                   document.dispatchEvent(new Event('visibilitychange')); }"""
    )

    def stored() -> str | None:
        with live_server.database.reader() as db:
            query = select(VisitSession.ga_client_id).where(VisitSession.site_id == site.site_id)
            return db.scalar(query)

    wait_for(lambda: stored() is not None, "the session's GA client id")
    assert stored() == "424242.1733011200"
    assert traffic.bodies("/t/heartbeat")[-1]["g"] == ["_ga=GA1.1.424242.1733011200"]
