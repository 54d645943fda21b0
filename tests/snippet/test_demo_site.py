"""``callpool demo``'s sample site in a browser: seeded as the command seeds it, numbers swap."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from callpool.app import create_app
from callpool.db import Database
from callpool.seeding import ensure_demo
from callpool.telephony.registry import provider_for
from tests.snippet.conftest import free_port, live_settings, serving, visitor_agent

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, Database]]:
    path = tmp_path / "demo.db"
    shutil.copy(sqlite_template, path)
    port = free_port()
    settings = live_settings(path, port)
    database = Database(settings.database_url)
    provider = provider_for(settings)
    ensure_demo(database, settings, provider)
    with serving(create_app(settings, database, provider), port) as url:
        yield url, database
    database.dispose()


@pytest.fixture
def demo_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(user_agent=visitor_agent(browser))
    yield context.new_page()
    context.close()


def test_the_demo_site_swaps_its_number_on_every_page(
    demo: tuple[str, Database], demo_page: Page
) -> None:
    url, _ = demo
    page = demo_page
    with page.expect_response(lambda r: r.url.endswith("/t/visit")) as answer:
        page.goto(f"{url}/demo/")
    [entry] = answer.value.json()["numbers"]
    number = entry["number"]
    digits = number.removeprefix("+1")
    national = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    expect(page.locator("header a.call")).to_have_text(f"Call {national}")
    expect(page.locator("header a.call")).to_have_attribute("href", f"tel:{number}")
    expect(page.locator("main")).to_contain_text(f"{digits[:3]}.{digits[3:6]}.{digits[6:]}")

    page.click("text=Services")
    expect(page.locator(".phone")).to_have_text(national)
    page.click("text=Contact")
    expect(page.locator("main a[href^='tel:']")).to_have_text(
        f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    )
    expect(page.locator("input")).to_have_value("(512) 555-0199")  # fields are never changed
    expect(page.locator("#listing")).to_contain_text("(512) 555-0199")  # marked "no swap"
    expect(page.locator(".note")).to_contain_text("+15125550199")
    page.click("text=Austin")
    expect(page.locator("address")).to_contain_text(f"{digits[:3]}.{digits[3:6]}.{digits[6:]}")
