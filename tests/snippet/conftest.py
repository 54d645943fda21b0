"""Browser tests of the snippet: real Chromium, the real app on a real port, real rows.

The app runs in a background thread (uvicorn) on a free 127.0.0.1 port with a SQLite file.
Fixture pages (``pages/*.html``) are served from ``http://site.test:<port>/fixture/...``, a
different origin than the app at ``http://127.0.0.1:<port>``: Chromium maps ``*.test`` to
127.0.0.1, so the snippet's requests are the cross-origin requests a real site makes.
Each test gets its own site, pools and trackers, and a fresh browser context (empty storage).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Request, sync_playwright

from callpool.app import create_app
from callpool.clock import Clock
from callpool.db import Database
from callpool.settings import Settings
from callpool.snippet import install_tag
from tests.factories import Factory
from tests.waiting import wait_for

PAGES = Path(__file__).parent / "pages"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP *.test 127.0.0.1",
]
DOWN = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    url: str  # the app: http://127.0.0.1:<port>
    site_origin: str  # where fixture pages live: http://site.test:<port>
    database: Database

    def page_url(self, key: str, name: str, query: str = "", **options: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in options.items())
        return f"{self.site_origin}/fixture/{key}/{name}?x=1{extra}{query}"


# Set as the slow server answers: a test waits for it to see that a late answer changes nothing.
slow_answered = threading.Event()


def _fixture_router(server_url: Callable[[], str]) -> APIRouter:
    """Test-only routes: fixture pages with the install tag, and servers that misbehave."""
    router = APIRouter()

    @router.get("/fixture/{key}/{name}")
    def fixture_page(key: str, name: str, consent: str = "", server: str = "") -> HTMLResponse:
        path = PAGES / name
        if path.parent != PAGES or not path.is_file():
            raise HTTPException(404)
        tag = install_tag(server_url(), key, consent_required=consent == "required")
        if server:  # point the snippet's requests elsewhere: a closed port, a slow server…
            base = DOWN if server == "down" else f"{server_url()}/{server}"
            tag = tag.replace(" data-key=", f' data-server="{base}" data-key=')
        return HTMLResponse(path.read_text().replace("{{SNIPPET}}", tag))

    @router.post("/slow/t/visit")
    async def slow_visit() -> JSONResponse:
        await asyncio.sleep(3)  # a slow server (the snippet gives up after 2 s), not a wait
        slow_answered.set()
        return JSONResponse(_answer("+15125559999"))

    @router.post("/failing/t/visit")
    def failing_visit() -> JSONResponse:
        return JSONResponse({"detail": "database unavailable"}, status_code=500)

    # An error the snippet can read (the app's own errors carry CORS headers).
    @router.post("/broken/t/visit")
    def broken_visit() -> JSONResponse:
        headers = {"Access-Control-Allow-Origin": "*"}
        return JSONResponse({"detail": "something broke"}, status_code=500, headers=headers)

    # What a proxy or captive portal does: 200 with its own page (readable: it allows CORS).
    @router.post("/portal/t/visit")
    def portal_visit() -> HTMLResponse:
        page = "<!doctype html><title>Sign in to Wi-Fi</title><p>Accept the terms</p>"
        return HTMLResponse(page, headers={"Access-Control-Allow-Origin": "*"})

    # JSON, but no visit answer.
    @router.post("/odd/t/visit")
    def odd_visit() -> JSONResponse:
        return JSONResponse({"s": 1, "numbers": 7}, headers={"Access-Control-Allow-Origin": "*"})

    return router


def _answer(number: str) -> dict[str, Any]:
    """A well-formed visit answer: if the snippet used it too late, the page would change."""
    return {
        "v": "v" * 16,
        "s": "s" * 16,
        "exp": int(time.time() * 1000) + 1_800_000,
        "hb": 60,
        "bot": False,
        "src": {"source": "(direct)", "medium": "(none)", "campaign": None, "term": None},
        "numbers": [
            {
                "pool": 1,
                "pool_name": "late",
                "target": "+15125550000",
                "selector": None,
                "number": number,
                "display": number,
            }
        ],
    }


def live_settings(db_path: Path, port: int) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db_path}",
        public_url=f"http://127.0.0.1:{port}",
        secret_key="test-secret-key-0123456789",
        routing_cache_path=db_path.parent / "routing.json",
        call_spool_dir=db_path.parent / "spool",
        _env_file=None,  # type: ignore[call-arg]
    )


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[str]:
    """Runs ``app`` with uvicorn in a background thread; yields its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError("the app's thread ended before it started")
        return server.started

    wait_for(started, "the app to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("snippet") / "callpool.db"
    shutil.copy(sqlite_template, path)
    port = free_port()
    settings = live_settings(path, port)
    database = Database(settings.database_url)
    app = create_app(settings, database)
    app.include_router(_fixture_router(lambda: settings.public_url))
    with serving(app, port) as url:
        yield Server(url=url, site_origin=f"http://site.test:{port}", database=database)
    database.dispose()


_numbers = itertools.count(100)


@dataclass(frozen=True)
class DemoSite:
    key: str
    site_id: int
    pool_ids: list[int]
    trackers: dict[int, list[str]]  # pool id → its tracker numbers


@pytest.fixture
def make_site(live_server: Server) -> Callable[..., DemoSite]:
    """A site with one session pool per swap target, each with its own trackers."""

    def make(
        targets: list[tuple[str | None, str | None]] | None = None,
        *,
        trackers: int = 3,
        prefix: str = "+1512555",
        region: str = "US",
    ) -> DemoSite:
        targets = targets or [("+15125550000", None)]
        factory = Factory(live_server.database, Clock())
        site = factory.site(
            factory.account("Snippet test"),
            name="Fixture site",
            public_key=uuid.uuid4().hex[:24],
            allowed_origins=[live_server.site_origin],
            region=region,
        )
        numbers: dict[int, list[str]] = {}
        for index, (target, selector) in enumerate(targets):
            pool = factory.pool(
                site,
                name=f"Pool {index + 1}",
                original_number=target or "+15125550000",
                size=trackers,
                swap_number=target,
                swap_selector=selector,
                priority=len(targets) - index,
            )
            numbers[pool.id] = [f"{prefix}{next(_numbers):04d}" for _ in range(trackers)]
            for number in numbers[pool.id]:
                factory.tracker(
                    pool,
                    number=number,
                    original_number=pool.original_number,
                    activated_at=factory.clock.now(),
                )
        return DemoSite(
            key=site.public_key, site_id=site.id, pool_ids=list(numbers), trackers=numbers
        )

    return make


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as runner:
        yield runner


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/install --test installs it)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Traffic:
    """Every request the page makes to the visit API, in order."""

    requests: list[Request] = field(default_factory=list)

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.url.split("?")[0].endswith(path)]

    def bodies(self, path: str) -> list[dict[str, Any]]:
        import json

        return [json.loads(r.post_data or "{}") for r in self.to(path)]


def visitor_agent(browser: Browser) -> str:
    """Chromium's own user agent without "Headless", which the server rightly calls a bot."""
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{browser.version} Safari/537.36"
    )


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(user_agent=visitor_agent(browser))
    yield context
    context.close()


@pytest.fixture
def traffic(context: BrowserContext) -> Traffic:
    seen = Traffic()

    def record(request: Request) -> None:
        if "/t/" in request.url:
            seen.requests.append(request)

    context.on("request", record)
    return seen


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    # Whatever happened, the snippet never throws into the host page.
    assert errors == []
