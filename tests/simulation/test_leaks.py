"""A session-pool number that keeps getting calls with no lease behind it is listed in pool
health (the API and the pool's page) as probably leaked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Dialog, Locator, Page, expect, sync_playwright
from sqlalchemy import select

from callpool.accounts.service import new_api_key
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Call, Tracker
from callpool.telephony.sandbox.simulate import voice_request
from tests.dashboard.conftest import cheap_argon2, post_form, sign_in
from tests.dashboard.test_end_to_end import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    EMAIL,
    PASSWORD,
    Running,
    running,
    shot,
    visitor_display,
)
from tests.factories import Factory
from tests.waiting import wait_for

# The dashboard tests' autouse fixture (cheap password hashing) and the real app under uvicorn.
__all__ = ["cheap_argon2", "running"]


def test_numbers_called_without_a_lease_are_listed_as_leaked(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    clock: FrozenClock,
    account: Account,
) -> None:
    factory = Factory(database, clock)
    site = factory.site(account)
    pool = factory.pool(site, size=3)
    printed = factory.tracker(pool, number="+15125550501")  # in a flyer, say
    visited = factory.tracker(pool, number="+15125550502")
    once = factory.tracker(pool, number="+15125550503")
    start = clock.now() - timedelta(days=3)

    def calls(tracker: object, count: int, reason: str) -> None:
        for i in range(count):
            factory.call(
                account,
                f"+1202555{i:04d}",
                tracker_id=tracker.id,  # type: ignore[attr-defined]
                pool_id=pool.id,
                attribution_reason=reason,
                started_at=start + timedelta(hours=i),
            )

    calls(printed, 3, "no_lease")
    calls(printed, 1, "repeat_caller_first_touch")  # a caller of the flyer calls again
    calls(visited, 5, "lease")
    calls(once, 2, "no_lease")  # a visitor calling back days later: not a leak yet

    health = client.get(f"/api/v1/reports/pools/{pool.id}", headers=auth).json()
    assert health["leaked_numbers"] == [
        {
            "tracker_id": printed.id,
            "number": "+15125550501",
            "calls_without_lease": 4,
            "last_call_at": (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        }
    ]

    factory.user(account, "owner@acme.test")
    sign_in(client, "owner@acme.test")
    page = client.get(f"/dashboard/pools/{pool.id}").text
    assert "Numbers that may have leaked" in page
    assert '<td>+15125550501</td><td class="num">4</td>' in page
    assert "+15125550503" not in page.split("Numbers that may have leaked")[1]


# -- the two actions, in Chromium ------------------------------------------------------------


@pytest.mark.browser
def test_an_operator_retires_one_leaked_number_and_moves_another_from_the_pool_page(
    running: Running,
) -> None:
    database = Database(running.settings.database_url)
    try:
        with database.reader() as db:
            account_id = db.scalars(select(Account.id)).one()
        key = new_api_key(database, account_id, "tests").key
        api = httpx2.Client(base_url=running.url, headers={"Authorization": f"Bearer {key}"})
        site = api.post("/api/v1/sites", json={"name": "Acme"}).json()
        body = {"site_id": site["id"], "name": "Website", "original_number": "+15125550123"}
        pool = api.post("/api/v1/pools", json=body | {"area_code": "512", "size": 3}).json()
        numbers = [t["number"] for t in api.get(f"/api/v1/pools/{pool['id']}/trackers").json()]
        printed, listed = numbers[0], numbers[1]
        for i, number in enumerate([printed] * 3 + [listed] * 3):  # nobody was shown them
            call = voice_request(
                running.settings, to_number=number, from_number=f"+120255501{i:02d}"
            )
            assert httpx2.post(
                running.url + call.path, data=call.data, headers=call.headers
            ).is_success

        def all_stored() -> bool:
            with database.reader() as db:
                return len(db.scalars(select(Call.id)).all()) == 6

        wait_for(all_stored, "the calls to be stored")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(user_agent=DESKTOP)
                retire_then_move(page, running, pool["id"], printed, listed)
            finally:
                browser.close()
        trackers = api.get(f"/api/v1/pools/{pool['id']}/trackers").json()
        live = [t for t in trackers if t["status"] == "active"]
        assert (
            len(live) == 4
        )  # three, the retired one back, and two replacements, less the moved one
        assert printed in {t["number"] for t in live}
    finally:
        database.dispose()


def tracker_row(page: Page, number: str) -> Locator:
    """The number's row in the page's list of tracking numbers."""
    shown = visitor_display(f"tel:{number}")  # as the page writes it: (512) 555-0100
    return page.locator("#trackers ~ .table-wrap tbody tr").filter(has_text=shown)


def retire_then_move(page: Page, running: Running, pool_id: int, printed: str, listed: str) -> None:
    page.goto(f"{running.url}/dashboard/login")
    page.fill("#f-email", EMAIL)
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.goto(f"{running.url}/dashboard/pools/{pool_id}")
    expect(page.locator("tr.leak")).to_have_count(2)
    shot(page, "leaks-01-listed")

    # Retire the printed number, with a week's quiet period.
    row = page.locator(f"tr.leak-actions[data-number='{printed}']")
    row.locator("input[name=quiet_days]").fill("7")
    confirmed: list[str] = []

    def accept(dialog: Dialog) -> None:
        confirmed.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    row.locator("button:has-text('Retire')").click()
    expect(page.get_by_text("Number retired")).to_be_visible()
    assert "a replacement number is bought" in confirmed[-1]
    retiring = page.locator("#retiring ~ .table-wrap tbody tr").first
    expect(retiring).to_contain_text(printed)
    released_from = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")
    expect(retiring).to_contain_text(released_from)
    expect(tracker_row(page, printed)).to_contain_text("retiring")
    expect(page.locator("tr.leak")).to_have_count(1)
    shot(page, "leaks-02-retired")

    # Move the directory-listed number into a new manual pool as yellow-pages / print.
    row = page.locator(f"tr.leak-actions[data-number='{listed}']")
    row.locator("input[name=source]").fill("yellow-pages")
    row.locator("button:has-text('Move to manual pool')").click()
    expect(page.get_by_text("Number moved here")).to_be_visible()
    assert "credited to the source and medium you typed" in confirmed[-1]
    expect(page.locator("h1")).to_contain_text("Offline")
    moved = tracker_row(page, listed)
    expect(moved).to_contain_text("yellow-pages / print")
    expect(moved).to_contain_text("active")
    shot(page, "leaks-03-moved")

    # Back on the session pool: nothing left to act on; the retirement is cancelled.
    page.goto(f"{running.url}/dashboard/pools/{pool_id}")
    expect(page.locator("#leaked")).to_have_count(0)
    tracker_row(page, printed).locator("button:has-text('Cancel retirement')").click()
    expect(page.get_by_text("Retirement cancelled")).to_be_visible()
    expect(page.locator("#retiring")).to_have_count(0)


def test_the_pool_pages_actions_refuse_bad_input_and_wrong_states(
    client: TestClient, database: Database, clock: FrozenClock, account: Account
) -> None:
    factory = Factory(database, clock)
    site = factory.site(account)
    pool = factory.pool(site, size=1, area_code="512")
    printed = factory.tracker(pool, number="+15125550501")
    manual = factory.pool(site, kind="manual", size=1)
    fixed = factory.tracker(manual, number="+15125550502", status="available")
    rival = factory.pool(factory.site(factory.account("Rival")), size=1)
    theirs = factory.tracker(rival, number="+15125550503")
    for i in range(3):
        factory.call(
            account,
            f"+1202555{i:04d}",
            tracker_id=printed.id,
            pool_id=pool.id,
            attribution_reason="no_lease",
            started_at=clock.now() - timedelta(hours=i + 1),
        )
    factory.user(account, "owner@acme.test")
    sign_in(client, "owner@acme.test")
    page = f"/dashboard/pools/{pool.id}"
    retire = f"{page}/trackers/{printed.id}/retire"

    def post(action: str, data: dict[str, str]) -> Any:
        return post_form(client, page, action, data)

    too_short = post(retire, {"quiet_days": "0"})
    assert too_short.status_code == 422
    assert "Quiet period: must be at least 1" in too_short.text
    not_session = post(f"/dashboard/pools/{manual.id}/trackers/{fixed.id}/retire", {})
    assert not_session.status_code == 409
    assert "only session-pool numbers are retired or moved" in not_session.text
    move = f"{page}/trackers/{printed.id}/move-to-manual"
    into_session = post(move, {"pool_id": str(pool.id), "source": "offline", "medium": "print"})
    assert into_session.status_code == 422
    assert "numbers move into manual pools only" in into_session.text
    no_source = post(move, {"pool_id": "new", "source": "", "medium": "print"})
    assert no_source.status_code == 422
    assert "give the source and the medium" in no_source.text
    not_retiring = post(f"{page}/trackers/{printed.id}/cancel-retirement", {})
    assert not_retiring.status_code == 409
    assert "is not retiring" in not_retiring.text
    forged = client.post(retire, data={"quiet_days": "30"}, follow_redirects=False)
    assert forged.status_code == 403
    outsider = post(f"/dashboard/pools/{rival.id}/trackers/{theirs.id}/retire", {})
    assert outsider.status_code == 404
    with database.reader() as db:
        statuses = {t.number: t.status for t in db.scalars(select(Tracker))}
    assert set(statuses.values()) == {"active", "available"}  # nothing changed

    done = post(retire, {"quiet_days": "14"})
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"{page}?saved=retired#leaked")
    shown = client.get(page).text
    assert "Numbers that may have leaked" not in shown  # dealt with
    assert '<tr class="retiring"><td>+15125550501</td>' in shown
