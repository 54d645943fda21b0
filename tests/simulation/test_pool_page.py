"""The pool's dashboard page shows its simulated accuracy by size as a curve, with the account's
target marked on it, beside the seed's tier table with this site's row marked."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect, sync_playwright

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Pool
from tests.dashboard.conftest import cheap_argon2, sign_in
from tests.dashboard.test_end_to_end import CHROMIUM, CHROMIUM_ARGS, DESKTOP, free_port, shot
from tests.factories import PASSWORD, Factory
from tests.waiting import wait_for

__all__ = ["cheap_argon2"]  # the dashboard tests' autouse fixture: cheap password hashing

OWNER = "owner@acme.test"


def test_the_pool_page_shows_accuracy_by_size(
    client: TestClient, factory: Factory, account: Account
) -> None:
    factory.user(account, OWNER)
    site = factory.site(account)
    pool = factory.pool(site, size=20)
    sign_in(client, OWNER)

    page = client.get(f"/dashboard/pools/{pool.id}").text
    assert "Accuracy by pool size" in page
    assert "The worker simulates this pool's accuracy" in page  # none yet
    # No advice: the tier table's row is the numbers handed out a day (none this week).
    assert 'under 100 <span class="badge">this site: 0 a day</span>' in page
    assert "Numbers handed out a day in the last 7 days." in page

    factory.advice(pool)
    page = client.get(f"/dashboard/pools/{pool.id}").text
    assert "At 20 numbers, <strong>82.7%</strong> of calls go to the right visit" in page
    assert "The smallest size reaching 99%: <strong>480</strong>" in page
    assert "20 (now)" in page
    assert "480 (smallest reaching 99%)" in page  # a size of the curve: its own row marked
    assert '<td class="num">41.0%</td><td class="num">36.9%</td>' in page
    assert 'high="0.99"' in page
    assert "advice-outdated" not in page
    # 15,000 sessions in 30 days: 500 a day, the seed's middle tier.
    assert '100–1,000 <span class="badge">this site: 500 a day</span>' in page
    assert "Sessions a day in the days replayed." in page


# --- in Chromium ---------------------------------------------------------------------------


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn on a free port, for a real browser."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the app to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_pool(browser: Browser, url: str, pool: Pool, width: int) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900}, user_agent=DESKTOP)
    page.goto(f"{url}/dashboard/login")
    page.fill("#f-email", OWNER)
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.goto(f"{url}/dashboard/pools/{pool.id}#accuracy")
    return page


# The browser needs a server, not a database engine: SQLite only (the advice's storage runs on
# both engines in test_advice.py).
@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_in_chromium_the_target_is_marked_on_the_curve_beside_the_tiers(
    served: str, browser: Browser, factory: Factory, database: Database, clock: FrozenClock
) -> None:
    account = factory.account("Acme Plumbing", accuracy_target=0.99)
    factory.user(account, OWNER)
    site = factory.site(account)
    pool = factory.pool(site, size=40)
    # 1,500 sessions a day, and 429 reaching 99 %: found between 320 and 640 by bisection.
    curve = [[5, 0.2], [10, 0.41], [20, 0.6], [40, 0.8], [80, 0.9]]
    curve += [[160, 0.95], [320, 0.985], [640, 0.995]]
    factory.advice(pool, sessions=45000, curve=curve, accuracy=0.8, recommended_size=429)

    page = open_pool(browser, served, pool, 1280)
    section = page.locator(".advice")
    expect(section.get_by_text("The smallest size reaching 99%:")).to_be_visible()
    rows = section.locator("table.curve tbody tr")
    expect(rows).to_have_count(9)  # the 8 sizes simulated, and the target's row among them
    # The target's row sits between the sizes around it, marked; the pool's own row too.
    expect(rows.nth(7)).to_have_class("target-row")
    expect(rows.nth(7)).to_contain_text("429")
    expect(rows.nth(7)).to_contain_text("smallest size reaching 99%")
    expect(rows.nth(6)).to_contain_text("320")
    expect(rows.nth(8)).to_contain_text("640")
    expect(rows.nth(3)).to_have_attribute("aria-current", "true")
    expect(rows.nth(3)).to_contain_text("40 (now)")
    meters = section.locator("meter")
    expect(meters).to_have_count(8)
    for index in range(8):
        expect(meters.nth(index)).to_have_attribute("high", "0.99")
    # The tier table stands beside the curve, this site's row (1,500 a day) marked.
    tiers = section.locator("table.tiers")
    marked = tiers.locator("tr[aria-current]")
    expect(marked).to_have_count(1)
    expect(marked).to_contain_text("over 1,000")
    expect(marked).to_contain_text("this site: 1,500 a day")
    expect(marked).to_contain_text("15–30+")
    curve_box, tiers_box = section.locator("table.curve").bounding_box(), tiers.bounding_box()
    assert curve_box is not None
    assert tiers_box is not None
    assert tiers_box["x"] >= curve_box["x"] + curve_box["width"]  # to its right
    assert tiers_box["y"] < curve_box["y"] + curve_box["height"]  # at the same height
    cut = page.evaluate(
        """() => [...document.querySelectorAll('.advice table')]
             .filter(t => t.scrollWidth > t.parentElement.clientWidth + 1).length"""
    )
    assert cut == 0  # no column scrolled out of sight at desktop width

    # The owner raises the target: the advice says it was for 99 %, the bars follow 99.5 %.
    with database.session() as db:
        db.get_one(Account, account.id).accuracy_target = 0.995
    page.reload()
    notice = page.locator("#advice-outdated")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("This advice aimed at 99%; the account's target is now 99.5%")
    for index in range(8):
        expect(meters.nth(index)).to_have_attribute("high", "0.995")
    shot(page, "pool-accuracy-by-size")

    # On a phone the tier table goes under the curve, and nothing is wider than the screen.
    phone = open_pool(browser, served, pool, 390)
    curve_box = phone.locator("table.curve").bounding_box()
    tiers_box = phone.locator("table.tiers").bounding_box()
    assert curve_box is not None
    assert tiers_box is not None
    assert tiers_box["y"] >= curve_box["y"] + curve_box["height"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "pool-accuracy-by-size-390")
