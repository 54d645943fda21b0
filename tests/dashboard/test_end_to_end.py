"""The seed's four steps in real Chromium, as a new user walks them, then the call they bring.

The real app runs under uvicorn in a background thread on a free 127.0.0.1 port (SQLite file,
sandbox provider). The "customer's website" is a fixture page served by a second small server
at ``http://acme.test:<port>`` (Chromium maps ``*.test`` to 127.0.0.1): another origin, as a
real site is. Screenshots of every page go to ``test-artifacts/screenshots/`` for review.
"""

from __future__ import annotations

import functools
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from callpool.accounts.users import create_user_with_account
from callpool.app import create_app
from callpool.db import Database
from callpool.settings import Settings
from callpool.telephony.sandbox.simulate import status_request, voice_request
from tests.waiting import wait_for

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP *.test 127.0.0.1",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Headless Chromium says "HeadlessChrome": callpool rightly takes it for a bot and swaps nothing.
DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
EMAIL, PASSWORD = "maria@acme.test", "plumbing-rocks-42"

BUSINESS_SITE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Plumbing</title></head>
<body>
  <h1>Acme Plumbing, Austin</h1>
  <p>Burst pipe? Call <span class="phone">(512) 555-0123</span>, day and night.</p>
  <p><a id="call" href="tel:+15125550123">Tap to call</a></p>
  <!-- SNIPPET -->
</body></html>
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Running:
    url: str
    settings: Settings
    site_dir: Path
    site_origin: str


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'callpool.db'}",
        public_url=f"http://127.0.0.1:{port}",
        secret_key="e2e-secret-key-0123456789",
        telephony_provider="sandbox",
        routing_cache_path=tmp_path / "routing.json",
        call_spool_dir=tmp_path / "spool",
        _env_file=None,  # type: ignore[call-arg]
    )
    database = Database(settings.database_url)
    database.migrate()
    with database.session() as db:
        create_user_with_account(db, EMAIL, PASSWORD)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, database), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    app_thread = threading.Thread(target=server.run, daemon=True)
    app_thread.start()

    site_dir = tmp_path / "site"
    site_dir.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    site_server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    site_thread = threading.Thread(target=site_server.serve_forever, daemon=True)
    site_thread.start()

    wait_for(lambda: server.started, "the app to start")
    yield Running(
        settings.public_url, settings, site_dir, f"http://acme.test:{site_server.server_port}"
    )
    site_server.shutdown()
    site_server.server_close()
    server.should_exit = True
    app_thread.join(10)
    database.dispose()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_four_steps_then_a_call_with_its_source(running: Running) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, user_agent=DESKTOP)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=running.url)
        page = context.new_page()
        try:
            number = walk_the_four_steps(page, running)
            place_a_call(running, number)
            find_the_call(page, running)
            looks_right_on_a_phone(browser, context, running)
        finally:
            browser.close()


def walk_the_four_steps(page: Page, running: Running) -> str:
    """Sign in, create a site and its pool, set the target, install, verify; the number shown."""
    page.goto(f"{running.url}/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    page.fill("#f-email", EMAIL)
    page.fill("#f-password", PASSWORD)
    shot(page, "01-sign-in")
    page.click("button:has-text('Sign in')")
    expect(page.get_by_text("No site yet")).to_be_visible()

    page.fill("#f-name", "Acme Plumbing")
    page.fill("#f-allowed_origins", running.site_origin)
    shot(page, "02-sites")
    page.click("button:has-text('Add site')")
    expect(page.locator("h1")).to_have_text("Acme Plumbing")
    shot(page, "03-site")

    # Step 1: a pool of 5 local numbers, with the size guidance beside the form.
    page.click("text=Create a number pool")
    expect(page.get_by_text("Small sites (under 100 daily visitors): 4–6 numbers")).to_be_visible()
    page.fill("#f-name", "Website visitors")
    page.fill("#f-original_number", "(512) 555-0123")
    page.fill("#f-area_code", "737")
    page.fill("#f-size", "5")
    shot(page, "04-step1-create-pool")
    page.click("button:has-text('Create pool and buy numbers')")
    expect(page.get_by_text("Pool created with 5 numbers")).to_be_visible()

    # Step 2: the business number as the site writes it.
    expect(page.locator("#f-swap_number")).to_have_value("(512) 555-0123")
    page.fill("#f-swap_selector", ".phone, a[href^='tel:']")
    page.click("button:has-text('Save target')")
    expect(page.get_by_text("Swap target saved")).to_be_visible()
    shot(page, "05-step2-pool-and-target")

    # Step 3: copy the tag with the button, paste it into the business's page.
    page.click("text=install the snippet")
    expect(page.locator("#snippet-integrity")).to_contain_text("sha384-")
    page.click("button[data-copy='#snippet-tag']")
    expect(page.locator("button[data-copy='#snippet-tag']")).to_have_text("Copied")
    tag = page.evaluate("navigator.clipboard.readText()")
    assert 'integrity="sha384-' in tag
    assert tag == page.locator("#snippet-tag").inner_text().strip()
    shot(page, "06-step3-install")
    (running.site_dir / "index.html").write_text(BUSINESS_SITE.replace("<!-- SNIPPET -->", tag))

    # Step 4: nothing seen yet; then a visit from a Google ad appears live.
    page.click("text=verify the installation")
    expect(page.locator("#no-visits")).to_be_visible()
    expect(page.locator("a.debug-link")).to_have_attribute(
        "href", f"{running.site_origin}/?callpool_debug=1"
    )
    visitor = page.context.new_page()
    visitor.goto(f"{running.site_origin}/?utm_source=google&utm_medium=cpc&utm_campaign=spring")
    expect(visitor.locator(".phone")).to_have_text(re.compile(r"\(737\) 555-01\d\d"))
    href = visitor.locator("#call").get_attribute("href")
    assert href is not None
    assert re.fullmatch(r"tel:\+173755501\d\d", href)
    shot(visitor, "07-business-site-swapped")
    visitor.close()

    expect(page.locator("tr.visit td.source")).to_have_text("google / cpc", timeout=10_000)
    shown = page.locator("tr.visit td.number").inner_text()
    assert shown == visitor_display(href)
    shot(page, "08-step4-verify")
    return href.removeprefix("tel:")


def visitor_display(tel: str) -> str:
    digits = tel.removeprefix("tel:+1")
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def place_a_call(running: Running, tracking_number: str) -> None:
    """What the carrier sends: a signed voice webhook, then the completed status."""
    voice = voice_request(running.settings, to_number=tracking_number, from_number="+15125550999")
    status = status_request(
        running.settings, call_id=voice.call_id, status="completed", duration=95
    )
    with httpx2.Client(base_url=running.url) as carrier:
        answer = carrier.post(voice.path, data=voice.data, headers=voice.headers)
        assert answer.status_code == 200
        assert "+15125550123" in answer.text  # forwarded to the business
        assert (
            carrier.post(status.path, data=status.data, headers=status.headers).status_code == 200
        )


def find_the_call(page: Page, running: Running) -> None:
    page.click("nav >> text=Calls")
    row = page.locator("tr.call").first
    expect(row.locator("td.source")).to_have_text("google / cpc")
    expect(row).to_contain_text("(512) 555-0999")
    expect(row).to_contain_text("1m 35s")
    expect(row).to_contain_text("spring")
    shot(page, "09-calls")

    row.locator("a").first.click()
    expect(page.get_by_text("Landed on")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("utm_campaign=spring")
    shot(page, "10-call-journey")

    page.click("nav >> text=Reports")
    expect(page.locator("#total-calls")).to_contain_text("1 (1 answered")
    expect(page.locator("#calls-chart canvas")).to_be_visible()  # uPlot drew the chart
    expect(page.locator("#breakdown tbody tr").first).to_contain_text("google / cpc")
    expect(page.locator("#pool-health")).to_contain_text("Website visitors")
    shot(page, "11-reports")

    csv = page.context.request.get(f"{running.url}/dashboard/calls.csv")
    assert csv.ok
    lines = csv.text().strip().splitlines()
    assert len(lines) == 2
    assert "google,cpc,spring" in lines[1]

    page.click("nav >> text=API keys")
    page.fill("#f-name", "CRM")
    page.click("button:has-text('Create key')")
    expect(page.locator("#new-key")).to_contain_text("cp_")
    shot(page, "12-api-keys")


def looks_right_on_a_phone(browser: Browser, context: BrowserContext, running: Running) -> None:
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        storage_state=context.storage_state(),
    )
    page = phone.new_page()
    for name, path in (
        ("13-phone-calls", "/dashboard/calls"),
        ("14-phone-verify", "/dashboard/sites/1/verify"),
        ("15-phone-reports", "/dashboard/reports"),
    ):
        page.goto(running.url + path)
        # Wide tables scroll inside their box; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, name)
    phone.close()
