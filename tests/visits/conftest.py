"""A site with a session pool, and a browser that talks to the visit API like the snippet."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from callpool.db import Database
from callpool.models import Account, Site
from tests.factories import Factory

SITE_KEY = "site_acme"
ORIGIN = "https://acme-plumbing.example"
BUSINESS = "+15125550100"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture
def site_id(factory: Factory, account: Account) -> int:
    site = factory.site(
        account, name="Acme Plumbing", public_key=SITE_KEY, allowed_origins=[ORIGIN], region="US"
    )
    return site.id


@pytest.fixture
def make_pool(factory: Factory, database: Database, site_id: int) -> Callable[..., int]:
    """``make_pool(numbers, **pool fields)`` → the id of a pool with active trackers.

    Every request of the test client comes from one address, so these pools have no limit of
    numbers per address unless a test sets ``max_leases_per_address``.
    """

    def make(numbers: list[str], **fields: Any) -> int:
        with database.reader() as db:
            site = db.get_one(Site, site_id)
        values: dict[str, Any] = {
            "name": "Website visitors",
            "original_number": BUSINESS,
            "swap_number": BUSINESS,
            "size": len(numbers),
            "max_leases_per_address": 0,
        }
        pool = factory.pool(site, **(values | fields))
        for number in numbers:
            factory.tracker(pool, number=number, original_number=pool.original_number)
        return pool.id

    return make


@pytest.fixture
def pool_id(make_pool: Callable[..., int]) -> int:
    return make_pool(["+15125550101", "+15125550102", "+15125550103"])


class Browser:
    """Sends what the snippet sends: text/plain JSON bodies from the site's origin."""

    def __init__(self, client: TestClient, origin: str = ORIGIN, agent: str = CHROME) -> None:
        self.client = client
        self.origin = origin
        self.agent = agent

    def post(self, path: str, body: Any) -> Response:
        content = body if isinstance(body, str | bytes) else json.dumps(body)
        headers = {
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": self.origin,
            "User-Agent": self.agent,
        }
        return self.client.post(path, content=content, headers=headers)

    def visit(
        self,
        url: str = f"{ORIGIN}/",
        referrer: str = "",
        visitor: str | None = None,
        session: str | None = None,
    ) -> Response:
        body = {"k": SITE_KEY, "v": visitor, "s": session, "u": url, "r": referrer, "t": "Acme"}
        return self.post("/t/visit", body)

    def number(self, *, visible: bool = True, **kwargs: Any) -> tuple[str | None, dict[str, Any]]:
        """Visit; the one number shown (or None) and the whole answer. A ``visible`` page
        sends its first heartbeat, as the snippet does within ``hb`` seconds: the number is
        then leased for the pool's full lease, not only provisionally."""
        response = self.visit(**kwargs)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        numbers = answer["numbers"]
        assert len(numbers) <= 1
        if visible and not answer["bot"]:
            assert self.heartbeat(answer["s"]).status_code == 204
        return (numbers[0]["number"] if numbers else None), answer

    def pageview(self, session: str, url: str = f"{ORIGIN}/services") -> Response:
        return self.post("/t/pageview", {"k": SITE_KEY, "s": session, "u": url, "t": "Services"})

    def heartbeat(self, session: str) -> Response:
        return self.post("/t/heartbeat", {"k": SITE_KEY, "s": session})

    def tel_click(self, session: str, number: str) -> Response:
        return self.post("/t/event", {"k": SITE_KEY, "s": session, "e": "tel_click", "n": number})


@pytest.fixture
def browser(client: TestClient) -> Browser:
    return Browser(client)
