"""The call page in real Chromium: a call to a shared number lists the visits that had it,
ranked, each with its source, landing page, last activity and the reasons in words."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx2
import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from callpool.app import create_app
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account
from callpool.settings import Settings
from callpool.telephony.sandbox.simulate import addons_document
from tests.calls.conftest import CALLER, ago, calls_in, settled, twilio_signature, voice_params
from tests.dashboard.conftest import PASSWORD
from tests.dashboard.test_end_to_end import SCREENSHOTS
from tests.factories import Factory
from tests.waiting import wait_for

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
EMAIL = "owner@acme.test"


@pytest.fixture
def server(settings: Settings, database: Database, clock: FrozenClock) -> Iterator[str]:
    """The app under uvicorn on a free port (the frozen clock is the process's clock)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = uvicorn.Server(
        uvicorn.Config(create_app(settings, database), port=port, log_level="warning")
    )
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    wait_for(lambda: running.started, "the app to start")
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_call_page_lists_the_visits_that_shared_the_number_with_the_reasons(
    server: str,
    settings: Settings,
    database: Database,
    factory: Factory,
    account: Account,
    clock: FrozenClock,
) -> None:
    factory.user(account, EMAIL, password=PASSWORD)
    site = factory.site(account)
    tracker = factory.tracker(factory.pool(site))
    # The caller called yesterday from a visit of the visitor now back on a computer; someone
    # else, on a phone, was active more recently.
    yesterday = factory.session(site, started_at=ago(clock, days=1))
    factory.call(account, CALLER, session_id=yesterday.id, started_at=ago(clock, days=1))
    returning = factory.session(
        site,
        visitor_id=yesterday.visitor_id,
        source="google",
        medium="cpc",
        device="desktop",
        landing_url="https://acme.test/drains",
        last_seen_at=ago(clock, minutes=9),
    )
    phone = factory.session(
        site,
        source="facebook",
        medium="social",
        device="mobile",
        landing_url="https://acme.test/offer",
        last_seen_at=ago(clock, minutes=1),
    )
    until = clock.now() + timedelta(minutes=20)
    factory.lease(tracker, returning, ago(clock, minutes=20), until)
    factory.lease(tracker, phone, ago(clock, minutes=10), until)
    call_id = ring(server, settings, database, tracker.number)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # for review, as the end-to-end test's
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server}/dashboard/calls/{call_id}")
            page.fill("#f-email", EMAIL)
            page.fill("#f-password", PASSWORD)
            page.click("button:has-text('Sign in')")
            page.goto(f"{server}/dashboard/calls/{call_id}")

            expect(page.locator(".line-type")).to_have_text("landline (from the carrier)")
            expect(page.get_by_text("this one called from the same phone before")).to_be_visible()
            ranking = page.locator("#ranking")
            expect(ranking.get_by_role("heading")).to_have_text("Visits that had this number")
            rows = ranking.locator("tbody tr")
            expect(rows).to_have_count(2)
            first, second = rows.nth(0), rows.nth(1)
            expect(first.locator("td").nth(0)).to_have_text("1 attributed")
            expect(first.locator(".source")).to_have_text("google / cpc")
            expect(first.get_by_role("link")).to_have_attribute("href", "https://acme.test/drains")
            expect(first.locator(".reasons")).to_have_text(
                "this visitor made the caller's earlier call; "
                "not on a phone: fits a caller on a landline"
            )
            expect(second.locator(".source")).to_have_text("facebook / social")
            expect(second.locator(".reasons")).to_have_text(
                "on a phone, but the caller is on a landline; active nearest the call"
            )
            expect(second.locator("td").nth(3)).to_have_text("mobile")
            page.screenshot(path=str(SCREENSHOTS / "call-ranking.png"), full_page=True)
            # The page links "ranked below" to the list.
            expect(page.get_by_role("link", name="ranked below")).to_have_attribute(
                "href", "#ranking"
            )
        finally:
            browser.close()


def ring(server: str, settings: Settings, database: Database, number: str) -> int:
    """A call from a landline through the real Twilio webhook (signed); the stored call's id."""
    params = voice_params(number) | {"AddOns": addons_document("landline")}
    path = "/webhooks/twilio/voice"
    token = settings.twilio_auth_token
    assert token
    signature = twilio_signature(token, settings.public_url + path, params)
    answer = httpx2.post(server + path, data=params, headers={"X-Twilio-Signature": signature})
    assert "<Dial" in answer.text
    settled(settings)
    [call] = [call for call in calls_in(database) if call.provider_call_id == "CA1"]
    return call.id
