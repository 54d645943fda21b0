"""The snippet in real Chromium against the real app: what the visitor sees, what is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect
from sqlalchemy import func, select

from callpool.models import Lease, Pageview, SessionEvent, Site, Tracker, VisitSession
from tests.snippet.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    GOOGLEBOT,
    DemoSite,
    Server,
    Traffic,
    slow_answered,
    visitor_agent,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.browser

TARGET = "+15125550000"
KEEP_REQUEST_DOM = """
  // Records, for each request the page sends, whether the tracking number was already shown.
  window.__sent = [];
  const note = (url) => window.__sent.push({
    url: String(url), swapped: !!document.body && document.body.innerHTML.includes(window.__expect),
  });
  const beacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => (note(url), beacon(url, data));
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__url = url;
    return open.apply(this, arguments);
  };
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function () {
    note(this.__url);
    return send.apply(this, arguments);
  };
  const fetch = window.fetch;
  window.fetch = (url, options) => (note(url), fetch(url, options));
"""


# What the browser does when the tab goes to the background and comes back.
HIDE = """() => { Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                  document.dispatchEvent(new Event('visibilitychange')); }"""
SHOW = """() => { Object.defineProperty(document, 'hidden', {value: false, configurable: true});
                  document.dispatchEvent(new Event('visibilitychange')); }"""


def us(number: str, style: str = "({a}) {b}-{c}") -> str:
    digits = number.removeprefix("+1")
    return style.format(a=digits[:3], b=digits[3:6], c=digits[6:])


def leased(server: Server, site: DemoSite) -> list[str]:
    """The tracker numbers leased to the site's visits, oldest lease first."""
    with server.database.reader() as db:
        query = (
            select(Tracker.number)
            .join(Lease, Lease.tracker_id == Tracker.id)
            .where(Tracker.pool_id.in_(site.pool_ids))
            .order_by(Lease.id)
        )
        return list(db.scalars(query))


def sessions_of(server: Server, site: DemoSite) -> list[VisitSession]:
    with server.database.reader() as db:
        query = select(VisitSession).where(VisitSession.site_id == site.site_id)
        return list(db.scalars(query.order_by(VisitSession.started_at)))


def open_page(page: Page, url: str, **goto: Any) -> dict[str, Any]:
    """Go to ``url`` and return the visit API's answer to the snippet."""
    with page.expect_response(lambda r: r.url.endswith("/t/visit")) as answer:
        page.goto(url, **goto)
    response = answer.value
    assert response.status == 200, response.text()
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def site(make_site: Callable[..., DemoSite]) -> DemoSite:
    return make_site()


def test_every_written_form_is_swapped_keeping_its_separators(
    page: Page, live_server: Server, site: DemoSite
) -> None:
    open_page(page, live_server.page_url(site.key, "forms.html"))
    [number] = leased(live_server, site)
    assert number in site.trackers[site.pool_ids[0]]
    digits = number.removeprefix("+1")
    expected = {
        "#f1": f"Call {us(number)} today",
        "#f2": us(number, "{a}-{b}-{c}"),
        "#f3": us(number, "{a}.{b}.{c}"),
        "#f4": us(number, "{a} {b} {c}"),
        "#f5": digits,
        "#f6": us(number, "+1 {a} {b} {c}"),
        "#f7": us(number, "1-{a}-{b}-{c}"),
        "#f8": number,
        "#f9": us(number, "Phone:\u00a0({a})\u00a0{b}\u2011{c}."),
        # Split across inline elements: each element keeps its part.
        "#split": us(number),
        "#split .area": f"({digits[:3]})",
        # Minified HTML: a block ending in digits right before the number's block.
        "#zip": "Austin, TX 78701",
        "#after-zip": us(number, "{a}-{b}-{c}"),
        "#hours": "24/7 service",
    }
    for selector, text in expected.items():
        expect(page.locator(selector)).to_have_text(text)
    hrefs = {
        "#t1": f"tel:{number}",
        "#t2": f"tel:{digits}",
        "#t3": us(number, "tel:1-{a}-{b}-{c}"),
        "#t4": us(number, "TEL:({a}) {b}-{c}"),
        "#t5": "tel:+15125550001",  # another number
    }
    for selector, href in hrefs.items():
        expect(page.locator(selector)).to_have_attribute("href", href)


def test_what_must_not_change_stays(page: Page, live_server: Server, site: DemoSite) -> None:
    open_page(page, live_server.page_url(site.key, "forms.html"))
    expect(page.locator("#f1")).not_to_have_text("Call (512) 555-0000 today")
    # Other numbers, and longer digit runs containing the target.
    expect(page.locator("#other")).to_have_text(
        "Fax (512) 555-0001, order no. 5125550000123, other line 512-555-00000"
    )
    expect(page.locator("#deep")).to_have_text("(512) 555-0000")
    expect(page.locator("#t6")).to_have_attribute("href", "tel:+15125550000")
    expect(page.locator("#t6")).to_have_text("(512) 555-0000")
    expect(page.locator("#input")).to_have_value("(512) 555-0000")
    expect(page.locator("#textarea")).to_have_value("(512) 555-0000")
    expect(page.locator("#editable")).to_have_text("(512) 555-0000")
    assert page.locator("#inline").text_content() == 'var businessNumber = "(512) 555-0000";'


def test_non_us_numbers_in_their_national_and_international_forms(
    page: Page, live_server: Server, make_site: Callable[..., DemoSite]
) -> None:
    site = make_site([("+442079460000", None)], prefix="+44207946", region="GB")
    open_page(page, live_server.page_url(site.key, "uk.html"))
    [number] = leased(live_server, site)
    line = number.removeprefix("+44207946")
    expect(page.locator("#u1")).to_have_text(f"Ring 020 7946 {line}")
    expect(page.locator("#u2")).to_have_text(f"+44 20 7946 {line}")
    expect(page.locator("#u3")).to_have_text(number)
    expect(page.locator("#u4")).to_have_text(f"(020) 7946-{line}")
    expect(page.locator("#ut")).to_have_attribute("href", f"tel:{number}")


def test_several_targets_on_one_page_each_from_its_own_pool(
    page: Page, live_server: Server, make_site: Callable[..., DemoSite]
) -> None:
    site = make_site([("+15125550000", None), ("+12145550000", None)], prefix="+1800555")
    answer = open_page(page, live_server.page_url(site.key, "two.html"))
    by_pool = {entry["pool"]: entry["number"] for entry in answer["numbers"]}
    austin, dallas = by_pool[site.pool_ids[0]], by_pool[site.pool_ids[1]]
    assert austin in site.trackers[site.pool_ids[0]]
    assert dallas in site.trackers[site.pool_ids[1]]
    expect(page.locator("#austin")).to_have_text(us(austin))
    expect(page.locator("#austin-tel")).to_have_attribute("href", f"tel:{austin}")
    expect(page.locator("#dallas")).to_have_text(us(dallas, "{a}-{b}-{c}"))
    expect(page.locator("#dallas-tel")).to_have_attribute("href", f"tel:{dallas}")


def test_a_css_selector_target(
    page: Page, live_server: Server, make_site: Callable[..., DemoSite]
) -> None:
    site = make_site([(None, ".booking-number")], prefix="+1800555")
    answer = open_page(page, live_server.page_url(site.key, "two.html"))
    [entry] = answer["numbers"]
    expect(page.locator("#booking")).to_have_text(us(entry["number"]))
    # Only the selected element: the Austin number is no target of this site.
    expect(page.locator("#austin")).to_have_text("(512) 555-0000")


def test_first_pageview_one_request_then_later_pages_swap_before_any_request(
    page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    open_page(page, live_server.page_url(site.key, "home.html"))
    [number] = leased(live_server, site)
    expect(page.locator("#number")).to_have_text(f"Call {us(number)}")
    assert [r.url.rsplit("/", 1)[1] for r in traffic.requests] == ["visit"]

    page.add_init_script(f"window.__expect = {json.dumps(us(number))};" + KEEP_REQUEST_DOM)
    traffic.requests.clear()
    with page.expect_response(lambda r: r.url.endswith("/t/pageview")):
        page.click("#next")
    expect(page.locator("h1")).to_have_text("About")
    expect(page.locator("#number")).to_have_text(f"Call {us(number)}")
    expect(page.locator("#tel")).to_have_attribute("href", f"tel:{number}")
    sent = page.evaluate("window.__sent")
    assert sent[0]["url"].endswith("/t/pageview")
    assert all(request["swapped"] for request in sent), sent  # swapped before anything went out
    # (The first page's pagehide heartbeat may be seen too: it is sent as that page is left.)
    sent_by_second = [r.url.rsplit("/", 1)[1] for r in traffic.requests]
    assert [name for name in sent_by_second if name != "heartbeat"] == ["pageview"]
    [pageview] = traffic.bodies("/t/pageview")
    assert pageview["u"].startswith(live_server.page_url(site.key, "about.html").split("?")[0])
    assert pageview["t"] == "About"
    assert leased(live_server, site) == [number]  # the same lease: no second number taken

    [session] = sessions_of(live_server, site)
    with live_server.database.reader() as db:
        views = db.scalar(select(func.count()).where(Pageview.session_id == session.id))
    assert views == 2


def test_an_expired_stored_session_asks_the_server_again(
    page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    first = open_page(page, live_server.page_url(site.key, "home.html"))
    # Leaving a page saves its state (pagehide), so expire it from a page without the snippet.
    page.goto(live_server.page_url(site.key, "plain.html"))
    page.evaluate(
        """key => { const state = JSON.parse(localStorage.getItem(key));
                    state.exp = Date.now() - 1;
                    localStorage.setItem(key, JSON.stringify(state)); }""",
        f"callpool:{site.key}",
    )
    second = open_page(page, live_server.page_url(site.key, "about.html"))
    [_, again] = traffic.bodies("/t/visit")
    assert (again["v"], again["s"]) == (first["v"], first["s"])
    assert second["v"] == first["v"]
    expect(page.locator("#number")).to_have_text(f"Call {us(second['numbers'][0]['number'])}")


def test_utm_click_ids_referrer_and_landing_url_are_sent_raw(
    page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    query = "&utm_source=newsletter&utm_medium=email&utm_campaign=Spring%20Sale&gclid=Cj0KCQ-abc"
    url = live_server.page_url(site.key, "home.html", query)
    open_page(page, url, referer="https://www.google.com/search?q=plumber")
    [body] = traffic.bodies("/t/visit")
    assert body["k"] == site.key
    assert body["u"] == url
    assert body["r"] == "https://www.google.com/search?q=plumber"
    assert body["t"] == "Home"
    assert body.get("v") is None  # a new visitor: no ids sent
    assert body.get("s") is None
    [session] = sessions_of(live_server, site)
    assert session.landing_url == url
    assert (session.source, session.medium, session.campaign) == (
        "newsletter",
        "email",
        "Spring Sale",
    )
    assert session.gclid == "Cj0KCQ-abc"


def test_single_page_app_navigation_and_dom_rewrites(
    page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    open_page(page, live_server.page_url(site.key, "spa.html"))
    [number] = leased(live_server, site)
    swapped = f"Call {us(number)} about "
    expect(page.locator("#app .number")).to_have_text(swapped + "spa.html")

    with page.expect_request(lambda r: r.url.endswith("/t/pageview")):
        page.evaluate("go('pricing')")  # pushState, then the app re-renders its DOM
    expect(page.locator("#app .number")).to_have_text(swapped + "pricing")
    with page.expect_request(lambda r: r.url.endswith("/t/pageview")):
        page.evaluate("go('team')")
    expect(page.locator("#app .number")).to_have_text(swapped + "team")
    with page.expect_request(lambda r: r.url.endswith("/t/pageview")):
        page.go_back()  # popstate
    expect(page.locator("#app .number")).to_have_text(swapped + "pricing")
    # replaceState to the same URL is no new pageview.
    page.evaluate("history.replaceState({}, '', location.href)")

    paths = [body["u"].split("?")[0].rsplit("/", 1)[1] for body in traffic.bodies("/t/pageview")]
    assert paths == ["pricing", "team", "pricing"]
    assert len(traffic.to("/t/visit")) == 1
    assert leased(live_server, site) == [number]


def test_public_swap_for_frameworks_that_render_later(
    page: Page, live_server: Server, site: DemoSite
) -> None:
    open_page(page, live_server.page_url(site.key, "home.html"))
    [number] = leased(live_server, site)
    expect(page.locator("#number")).to_have_text(f"Call {us(number)}")
    text = page.evaluate(
        """() => { const p = document.createElement('p'); p.textContent = 'Dial 512-555-0000';
                   callpool('swap', p); return p.textContent; }"""
    )
    assert text == f"Dial {us(number, '{a}-{b}-{c}')}"


def test_tel_click_sends_a_beacon_kept_as_evidence(
    page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    answer = open_page(page, live_server.page_url(site.key, "home.html"))
    [number] = leased(live_server, site)
    expect(page.locator("#tel")).to_have_attribute("href", f"tel:{number}")
    # The page handles the click itself (no dialer in a headless browser).
    page.evaluate("document.addEventListener('click', e => e.preventDefault())")
    # Wait for the server's answer, not just the request: the event is stored before it answers.
    with page.expect_response(lambda r: r.url.endswith("/t/event")) as response:
        page.click("#tel")
    assert response.value.status == 204, response.value.text()
    sent = json.loads(response.value.request.post_data or "{}")
    # g: the page's _ga cookies, none here (see test_ga_cookie.py)
    assert sent == {"k": site.key, "s": answer["s"], "g": None, "e": "tel_click", "n": number}
    with live_server.database.reader() as db:
        events = list(
            db.scalars(select(SessionEvent).where(SessionEvent.session_id == answer["s"]))
        )
    assert [event.kind for event in events] == ["tel_click"]


def test_heartbeat_while_visible_and_a_last_beacon_on_pagehide(
    page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    page.clock.install()
    answer = open_page(page, live_server.page_url(site.key, "home.html"))
    [number] = leased(live_server, site)
    expect(page.locator("#number")).to_have_text(f"Call {us(number)}")
    assert traffic.to("/t/heartbeat") == []
    with page.expect_request(lambda r: r.url.endswith("/t/heartbeat")):
        page.clock.run_for(answer["hb"] * 1000 + 10)
    # With the places the page shows the number in: its text and its tel: link.
    assert traffic.bodies("/t/heartbeat") == [{"k": site.key, "s": answer["s"], "g": None, "w": 2}]

    # Hidden: one beacon marks the last activity (the last event a mobile browser surely
    # fires), then none while in the background; coming back sends one at once.
    with page.expect_request(lambda r: r.url.endswith("/t/heartbeat")):
        page.evaluate(HIDE)
    page.clock.run_for(answer["hb"] * 2000 + 10)  # two beats' time, within the lease
    with page.expect_request(lambda r: r.url.endswith("/t/heartbeat")):
        page.evaluate(SHOW)
    # Requests are reported in the order they are sent: a beat sent while hidden would be
    # counted here, before the one that showing the page sent.
    assert len(traffic.to("/t/heartbeat")) == 3

    seen = last_seen(live_server, answer["s"])
    page.goto(live_server.page_url(site.key, "plain.html"))  # pagehide: a last heartbeat
    wait_for(lambda: last_seen(live_server, answer["s"]) > seen, "the last heartbeat stored")


def test_a_tab_shown_again_after_its_lease_ended_asks_the_server_again(
    page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    page.clock.install()
    answer = open_page(page, live_server.page_url(site.key, "home.html"))
    expect(page.locator("#tel")).to_have_attribute("href", f"tel:{answer['numbers'][0]['number']}")
    page.evaluate(HIDE)
    lease = answer["exp"] - page.evaluate("Date.now()")
    page.clock.run_for(lease + 1000)  # its number may be someone else's by now
    with page.expect_response(lambda r: r.url.endswith("/t/visit")) as again:
        page.evaluate(SHOW)
    assert again.value.status == 200
    [_, asked] = traffic.bodies("/t/visit")
    assert (asked["v"], asked["s"]) == (answer["v"], answer["s"])
    number = again.value.json()["numbers"][0]["number"]
    expect(page.locator("#tel")).to_have_attribute("href", f"tel:{number}")


def last_seen(server: Server, session_id: str) -> datetime:
    with server.database.reader() as db:
        when = db.scalar(select(VisitSession.last_seen_at).where(VisitSession.id == session_id))
    assert when is not None
    return when


@pytest.mark.parametrize("debug", ["", "&callpool_debug=1"])
@pytest.mark.parametrize("server", ["down", "slow", "failing", "broken", "portal", "odd"])
def test_a_server_down_slow_failing_or_answering_nonsense_leaves_the_original_number(
    page: Page, live_server: Server, site: DemoSite, server: str, debug: str
) -> None:
    # The `page` fixture fails the test on any error thrown into the page.
    # No answer, none within the snippet's 2 s, or one the browser hides (no CORS header).
    failed = server in ("down", "slow", "failing")
    visit = lambda request: request.url.endswith("/t/visit")  # noqa: E731
    slow_answered.clear()
    with page.expect_event("requestfailed" if failed else "requestfinished", visit):
        page.goto(live_server.page_url(site.key, "home.html", debug, server=server))
    if server == "slow":  # until the slow answer has come and gone, unused
        wait_for(slow_answered.is_set, "the slow server's answer")
    if debug:  # the snippet has handled the outcome, and the debug view shows it
        page.wait_for_function("callpool.t.some(e => typeof e[1] == 'number')")
        expected = {
            "broken": "The server answered 500: the page keeps its own number. The server "
            "said: \u201csomething broke\u201d",
            "portal": "not a visit answer (a proxy or captive portal page?)",
            "odd": "not a visit answer",
        }.get(server, "No answer")
        expect(page.locator("#callpool-debug .body")).to_contain_text(expected)
    expect(page.locator("#number")).to_have_text("Call (512) 555-0000")
    expect(page.locator("#tel")).to_have_attribute("href", "tel:+15125550000")
    page.evaluate("callpool('swap', document.body)")  # still callable, still harmless


def test_an_unknown_site_key_leaves_the_original_number(page: Page, live_server: Server) -> None:
    # The 404 carries no CORS header, so the browser reports a failed request.
    with page.expect_event("requestfailed", lambda r: r.url.endswith("/t/visit")):
        page.goto(live_server.page_url("no-such-site-key", "home.html"))
    expect(page.locator("#number")).to_have_text("Call (512) 555-0000")


def test_crawlers_see_the_original_number_and_take_none(
    browser: Browser, live_server: Server, site: DemoSite
) -> None:
    context = browser.new_context(user_agent=GOOGLEBOT)
    try:
        page = context.new_page()
        answer = open_page(page, live_server.page_url(site.key, "home.html"))
        assert answer["bot"] is True
        assert answer["numbers"] == []
        expect(page.locator("#number")).to_have_text("Call (512) 555-0000")
        expect(page.locator("#tel")).to_have_attribute("href", "tel:+15125550000")
    finally:
        context.close()
    assert leased(live_server, site) == []


def test_consent_required_stores_nothing_until_given(
    page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    url = live_server.page_url(site.key, "home.html", consent="required")
    open_page(page, url)
    [number] = leased(live_server, site)
    expect(page.locator("#number")).to_have_text(f"Call {us(number)}")  # the page still works
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []

    second = open_page(page, url.replace("home.html", "about.html"))
    assert traffic.bodies("/t/visit")[-1].get("v") is None  # nothing was read…
    assert page.evaluate("localStorage.length") == 0  # …and nothing stored
    page.evaluate("callpool('consent', true)")
    stored = page.evaluate(f"JSON.parse(localStorage.getItem('callpool:{site.key}'))")
    assert stored["s"] == second["s"]
    page.evaluate("callpool('consent', false)")  # withdrawn: forgotten
    assert page.evaluate("localStorage.length") == 0


def test_consent_queued_before_the_script_loaded(
    page: Page, live_server: Server, site: DemoSite
) -> None:
    answer = open_page(page, live_server.page_url(site.key, "consent.html", consent="required"))
    expect(page.locator("#number")).not_to_have_text("Call (512) 555-0000")
    stored = page.evaluate(f"JSON.parse(localStorage.getItem('callpool:{site.key}'))")
    assert stored["s"] == answer["s"]


def test_blocked_storage_still_swaps_the_current_page(
    context: BrowserContext, page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    # What private modes and "block all cookies" do: touching localStorage throws.
    context.add_init_script(
        """Object.defineProperty(window, 'localStorage', {
             get() { throw new DOMException('The operation is insecure.', 'SecurityError'); } });"""
    )
    open_page(page, live_server.page_url(site.key, "home.html"))
    [number] = leased(live_server, site)
    expect(page.locator("#number")).to_have_text(f"Call {us(number)}")
    open_page(page, live_server.page_url(site.key, "about.html"))
    assert len(traffic.to("/t/visit")) == 2  # nothing remembered, so each page asks again


def debug_view(page: Page) -> str:
    """The debug view's text, once it shows the server's answer."""
    body = page.locator("#callpool-debug .body")
    expect(body).not_to_contain_text("Waiting")
    return body.inner_text()


def test_the_debug_view_explains_the_visit_in_words(
    page: Page, live_server: Server, site: DemoSite
) -> None:
    query = "&callpool_debug=1&utm_source=google&utm_medium=cpc&utm_campaign=spring"
    answer = open_page(page, live_server.page_url(site.key, "home.html", query))
    [entry] = answer["numbers"]
    expect(page.locator("#number")).to_have_text(f"Call {us(entry['number'])}")
    text = debug_view(page)
    for shown in (
        answer["v"],
        answer["s"],
        "google / cpc, campaign spring",
        "utm_source=google, utm_medium=cpc, utm_campaign=spring in the landing page",
        f"shows {us(entry['number'])} in place of (512) 555-0000",
        "Shown in 2 places",
        "A tracking number is shown in 2 places on this page",
        "Number kept until",
    ):
        assert shown in text, (shown, text)

    # Kept for the tab: a later page (from storage) explains the same session, without the query.
    page.click("#next")
    expect(page.locator("h1")).to_have_text("About")
    text = debug_view(page)
    assert answer["s"] in text
    assert "from this browser\u2019s storage" in text
    assert "utm_source=google" in text  # the landing page, remembered for the tab

    # `=0` ends it.
    page.goto(live_server.page_url(site.key, "home.html", "&callpool_debug=0"))
    page.goto(live_server.page_url(site.key, "about.html"))
    expect(page.locator("#number")).not_to_have_text("Call (512) 555-0000")
    assert page.locator("#callpool-debug").count() == 0


def test_the_debug_view_says_what_was_not_found_and_what_a_selector_matched(
    page: Page, live_server: Server, make_site: Callable[..., DemoSite]
) -> None:
    site = make_site([("+15125550000", None), (None, ".booking-number")], prefix="+1800555")
    open_page(page, live_server.page_url(site.key, "nonumber.html", "&callpool_debug=1"))
    text = debug_view(page)
    assert "A tracking number is shown in 0 places on this page" in text
    assert text.count("Not found on this page") == 2
    assert "in elements matching .booking-number (0 on this page)" in text

    page.goto(live_server.page_url(site.key, "two.html"))  # the same session, from storage
    expect(page.locator("#booking")).not_to_have_text("(800) 555-0100")
    text = debug_view(page)
    assert "in elements matching .booking-number (1 on this page)" in text
    assert "Not found on this page" not in text


def test_visitors_download_no_debug_view(
    page: Page, live_server: Server, site: DemoSite, context: BrowserContext
) -> None:
    fetched: list[str] = []
    context.on("request", lambda r: fetched.append(r.url))
    open_page(page, live_server.page_url(site.key, "home.html"))
    expect(page.locator("#number")).not_to_have_text("Call (512) 555-0000")
    assert not [url for url in fetched if "callpool-debug" in url]
    assert page.evaluate("callpool.t") is None  # nor keep a trail


def test_the_debug_view_says_which_address_was_refused_and_where_to_add_it(
    page: Page, live_server: Server, site: DemoSite
) -> None:
    with live_server.database.session() as db:
        db.get_one(Site, site.site_id).allowed_origins = ["https://www.elsewhere.test"]
    url = live_server.page_url(site.key, "home.html", "&callpool_debug=1")
    with page.expect_response(lambda r: r.url.endswith("/t/visit")) as response:
        page.goto(url)
    assert response.value.status == 403  # readable by the page: CORS headers on the refusal
    text = debug_view(page)
    assert f"refused this page\u2019s address, {live_server.site_origin}" in text
    assert "Dashboard \u2192 site \u2192 allowed origins" in text
    expect(page.locator("#number")).to_have_text("Call (512) 555-0000")


def test_the_debug_view_says_why_a_bot_got_no_number(
    browser: Browser, live_server: Server, site: DemoSite
) -> None:
    context = browser.new_context(user_agent=GOOGLEBOT)
    try:
        page = context.new_page()
        open_page(page, live_server.page_url(site.key, "home.html", "&callpool_debug=1"))
        text = debug_view(page)
        assert "took this browser for a bot or crawler, from \u201cGooglebot" in text
        assert "Bots get no number" in text
        expect(page.locator("#number")).to_have_text("Call (512) 555-0000")
    finally:
        context.close()


def test_the_debug_view_fits_a_phone(
    browser: Browser, live_server: Server, make_site: Callable[..., DemoSite]
) -> None:
    site = make_site([("+15125550000", None), ("+12145550000", None)], prefix="+1800555")
    context = browser.new_context(
        user_agent=visitor_agent(browser), viewport={"width": 390, "height": 844}
    )
    try:
        page = context.new_page()
        query = "&callpool_debug=1&utm_source=a-very-long-newsletter-name-without-spaces"
        open_page(page, live_server.page_url(site.key, "two.html", query))
        debug_view(page)
        box = page.locator("#callpool-debug .panel").bounding_box()
        assert box is not None
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= 390, box
        overflow = page.evaluate(
            """() => { const p = document.getElementById('callpool-debug').shadowRoot
                         .querySelector('.panel');
                       return [p.scrollWidth - p.clientWidth,
                               document.documentElement.scrollWidth - 390]; }"""
        )
        assert overflow[0] <= 0, "the panel scrolls sideways"
        assert overflow[1] <= 0, "the page scrolls sideways"
    finally:
        context.close()


def test_each_pageview_reports_the_places_it_swapped(
    page: Page, live_server: Server, site: DemoSite, traffic: Traffic
) -> None:
    open_page(page, live_server.page_url(site.key, "home.html"))
    expect(page.locator("#number")).not_to_have_text("Call (512) 555-0000")
    with page.expect_request(lambda r: r.url.endswith("/t/pageview")):
        page.click("#next")
    [pageview] = traffic.bodies("/t/pageview")
    assert pageview["w"] == 2  # the text and the tel: link
    # A page without the number: zero, the complaint "the number does not swap" made visible.
    with page.expect_request(lambda r: r.url.endswith("/t/pageview")):
        page.goto(live_server.page_url(site.key, "nonumber.html"))
    assert traffic.bodies("/t/pageview")[-1]["w"] == 0


def test_a_page_restored_from_the_back_forward_cache_counts_a_pageview(
    playwright: Playwright, live_server: Server, site: DemoSite
) -> None:
    # Playwright turns the back/forward cache off by default; a real browser has it on.
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        ignore_default_args=["--disable-back-forward-cache"],
    )
    try:
        context = browser.new_context(user_agent=visitor_agent(browser))
        seen = Traffic()
        context.on("request", lambda r: seen.requests.append(r) if "/t/" in r.url else None)
        page = context.new_page()
        page.add_init_script(
            "addEventListener('pageshow', e => { if (e.persisted) window.__restored = true; });"
        )
        open_page(page, live_server.page_url(site.key, "home.html"))
        [number] = leased(live_server, site)
        with page.expect_request(lambda r: r.url.endswith("/t/pageview")):
            page.click("#next")
        with page.expect_request(lambda r: r.url.endswith("/t/pageview")):
            page.go_back(wait_until="commit")  # a restored page fires no load event
        assert page.evaluate("window.__restored === true")  # it did come from the cache
        expect(page.locator("#number")).to_have_text(f"Call {us(number)}")
        paths = [body["u"].split("?")[0].rsplit("/", 1)[1] for body in seen.bodies("/t/pageview")]
        assert paths == ["about.html", "home.html"]
    finally:
        browser.close()
