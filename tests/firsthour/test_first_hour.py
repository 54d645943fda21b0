"""A new user's first hour, in real Chromium against a real `callpool demo` process.

One test walks it as a newcomer would: start the demo, open the sample site, sign in, find the
seeded week of calls, place a test call from the verify step (and one with `callpool call`),
and find it with its journey. Another installs the snippet on a page of an origin the site does
not allow yet, reads the explanation in the debug view, adds the origin and sees the swap.
Every page is shot at 390 px and 1280 px (under the test's tmp dir); a page wider than the
screen, a table cut off at 1280 px or a console error fails the test.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.processes import free_port
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
# Headless Chromium says "HeadlessChrome": callpool rightly takes it for a bot.
DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
EMAIL, PASSWORD = "demo@callpool.test", "demo-password"
WIDTHS = (390, 1280)
# The innermost elements reaching past the screen's right edge: what to fix.
WIDEST = """() => [...document.body.querySelectorAll('*')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
               && ![...e.children].some(c => c.getBoundingClientRect().right
                                             > document.documentElement.clientWidth + 1))
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ': ' + e.outerHTML.slice(0, 120))"""


@dataclass
class Demo:
    url: str
    folder: Path
    env: dict[str, str]
    output: list[str] = field(default_factory=list)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callpool", *args],
            env=self.env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`callpool demo` as a newcomer runs it: no settings, in a folder of its own."""
    folder = tmp_path_factory.mktemp("first-hour")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOOL_")}
    log = (folder / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "callpool", "demo", "--port", str(port), "--no-access-log"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Demo(f"http://127.0.0.1:{port}", folder, env)
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError((folder / "demo.log").read_text())
            try:
                return httpx2.get(running.url + "/dashboard/login", timeout=2).status_code == 200
            except httpx2.HTTPError:
                return False

        wait_for(up, "callpool demo to answer", timeout=90, interval=0.2)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page whose console errors and uncaught errors are collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{self.page.url}: {message.text}")


def check_fits(page: Page, shots: Path, name: str) -> None:
    """Shoot the page at each width; fail on a page wider than the screen, or a table wider
    than its box at desktop width (a cut column)."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            culprits = page.evaluate(WIDEST)
            raise AssertionError(
                f"{name} at {width} px scrolls sideways by {overflow} px: {culprits}"
            )
        if width == 1280:
            cut = page.evaluate(
                """() => [...document.querySelectorAll('table')]
                     .filter(t => t.scrollWidth > t.parentElement.clientWidth + 1)
                     .map(t => t.className || t.id || 'table')"""
            )
            assert not cut, f"{name} at 1280 px cuts a table: {cut}"
    page.set_viewport_size({"width": 1280, "height": 900})


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/dashboard/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], form button")
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def test_the_first_hour_from_demo_to_a_test_call_and_its_journey(
    demo: Demo, browser: Browser, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = browser.new_context(user_agent=DESKTOP, viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    page = watched.page

    # The sample business site: the business number becomes a tracking number.
    page.goto(demo.url + "/demo/")
    swapped = page.locator("a[href^='tel:']").first
    expect(swapped).not_to_have_attribute("href", "tel:+15125550199")
    number = (swapped.get_attribute("href") or "").removeprefix("tel:")
    check_fits(page, shots, "demo-site")

    page.goto(demo.url + "/dashboard/login")
    check_fits(page, shots, "login")
    sign_in(page, demo.url)
    check_fits(page, shots, "sites")

    # The seeded week: calls from several sources, each with a journey.
    page.goto(demo.url + "/dashboard/calls")
    rows = page.locator("table tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 10
    for source in ("google", "facebook", "bing"):
        expect(page.locator("td.source", has_text=source).first).to_be_visible()
    check_fits(page, shots, "calls")

    # Step 4 of the site: place a test call; it lands on the call, attributed to this visit.
    page.goto(demo.url + "/dashboard")
    page.locator("a[href^='/dashboard/sites/']").first.click()
    check_fits(page, shots, "site")
    site_path = page.url.removeprefix(demo.url)
    for step in ("pools/new", "install", "verify"):
        page.goto(f"{demo.url}{site_path}/{step}")
        check_fits(page, shots, step.replace("/", "-"))
    page.get_by_role("button", name="Place a test call").click()
    expect(page.get_by_role("status")).to_contain_text("Test call placed")
    expect(page.locator("h1")).to_contain_text("Call from")
    expect(page.locator("body")).to_contain_text(f"{demo.url}/demo/")  # its landing page
    check_fits(page, shots, "call")

    # The same from a terminal, as the README says.
    result = demo.cli("call", "--demo", "--server", demo.url, "--to", number, "--status", "busy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(f"called {number} from ")
    page.goto(demo.url + "/dashboard/calls")
    expect(page.locator("table tbody tr").first).to_contain_text("busy")

    for name, path in (
        ("reports", "/dashboard/reports"),
        ("keys", "/dashboard/keys"),
        ("webhooks", "/dashboard/webhooks"),
        ("email", "/dashboard/email"),
        ("ads", "/dashboard/ads"),
        ("account", "/dashboard/account"),
        ("api-docs", "/api/v1/docs"),
    ):
        page.goto(demo.url + path)
        check_fits(page, shots, name)
    expect(page.locator(".swagger-ui .title").first).to_contain_text("callpool")
    page.goto(demo.url + site_path)
    page.locator("a[href^='/dashboard/pools/']").first.click()
    check_fits(page, shots, "pool")
    context.close()
    assert watched.errors == []


def test_a_refused_origin_explains_itself_and_swaps_once_added(
    demo: Demo, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(user_agent=DESKTOP, viewport={"width": 390, "height": 900})
    watched = Watched(context.new_page())
    page = watched.page
    sign_in(page, demo.url)
    page.locator("a[href^='/dashboard/sites/']").first.click()
    site_path = page.url.removeprefix(demo.url)
    page.goto(f"{demo.url}{site_path}/install")
    snippet = page.locator("pre, textarea").first.inner_text()
    assert "<script" in snippet

    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Shop</title>"
        "<link rel='icon' href='data:,'></head><body><p>Call us: "
        "<a href='tel:+15125550199'>(512) 555-0199</a></p>" + snippet + "</body></html>"
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shop))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://shop.test:{server.server_address[1]}"
    try:
        page.goto(origin + "/?callpool_debug=1")
        expect(page.locator("body")).to_contain_text(origin, timeout=10_000)
        expect(page.locator("body")).to_contain_text("not allowed")
        expect(page.locator("a[href^='tel:']")).to_have_attribute("href", "tel:+15125550199")
        # Chromium logs the refused visit's 403 as a failed resource, by design: that one only.
        assert len(watched.errors) == 1, watched.errors
        assert "403" in watched.errors[0]
        watched.errors.clear()

        page.goto(demo.url + site_path)
        origins = page.locator("textarea[name=allowed_origins]")
        origins.fill(origins.input_value() + "\n" + origin)
        page.locator("form", has=origins).locator("button").first.click()

        # Applies at once in this process: the next visit from the shop gets a number.
        page.goto(origin + "/")
        expect(page.locator("a[href^='tel:']")).not_to_have_attribute(
            "href", "tel:+15125550199", timeout=10_000
        )
    finally:
        server.shutdown()
        context.close()
    assert watched.errors == []
