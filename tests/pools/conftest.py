"""Fixtures of the pools tests: a site, the pool service's dependencies, visits by source."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from callpool.calls.attribution import attribute_to_source
from callpool.db import Database
from callpool.models import Account, Site
from callpool.pools import service
from callpool.pools.schemas import PoolCreate, PoolOut
from callpool.pools.service import Deps
from callpool.settings import Settings
from callpool.telephony.base import ProviderError, PurchasedNumber
from callpool.telephony.sandbox.provider import SandboxProvider
from tests.factories import Factory

BUSINESS = "+15125550199"
NEW_BUSINESS = "+15125550142"
# A pool's tracker counts when no carrier work is in flight.
IDLE = {"provisioning": 0, "releasing": 0, "retiring": 0}


class RecordingSandbox(SandboxProvider):
    """The sandbox, remembering what was released, and failing on demand: the network edge
    of a real provider (a purchase refused half-way, an outage)."""

    def __init__(self, signing_key: str) -> None:
        super().__init__(signing_key)
        self.released: list[str] = []
        self.bought: list[str] = []
        self.fail_buying_after: int | None = None
        self.permanent = False

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> PurchasedNumber:
        if self.fail_buying_after is not None and len(self.bought) >= self.fail_buying_after:
            raise ProviderError("number purchase failed", permanent=self.permanent)
        self.bought.append(number)
        self.last_urls = (voice_url, status_url)
        return super().buy_number(number, voice_url=voice_url, status_url=status_url)

    def release_number(self, provider_sid: str) -> None:
        super().release_number(provider_sid)
        self.released.append(provider_sid)


@pytest.fixture
def provider(settings: Settings) -> RecordingSandbox:
    return RecordingSandbox(settings.secret_key)


@pytest.fixture
def deps(database: Database, provider: RecordingSandbox, settings: Settings) -> Deps:
    return Deps(database, provider, settings)


@pytest.fixture
def site(factory: Factory, account: Account) -> Site:
    return factory.site(account, name="acme.example", allowed_origins=["https://acme.example"])


def session_pool(site: Site, **fields: Any) -> dict[str, Any]:
    """The API body of a session pool of three numbers on ``site``, with ``fields`` changed."""
    return {
        "site_id": site.id,
        "name": "Website",
        "kind": "session",
        "original_number": BUSINESS,
        "area_code": "512",
        "size": 3,
    } | fields


MakePool = Callable[..., PoolOut]


@pytest.fixture
def make_pool(deps: Deps, account: Account, site: Site) -> MakePool:
    def make(**fields: Any) -> PoolOut:
        values: dict[str, Any] = {
            "site_id": site.id,
            "name": "pool",
            "kind": "automated",
            "original_number": BUSINESS,
            "area_code": "512",
            "size": 5,
            "utilization": 0.6,
            "visit_threshold": 100,
        } | fields
        return service.create_pool(deps, account.id, PoolCreate(**values))

    return make


AddVisits = Callable[..., None]


def served_at(db: Session, tracker_id: int, at: datetime) -> tuple[str, str] | None:
    """The source/medium a call to ``tracker_id`` at ``at`` is attributed to, by the query
    attribution runs (no twin of it in the pools package)."""
    found = attribute_to_source(db, tracker_id, at)
    if found.source is None or found.medium is None:
        return None
    return found.source, found.medium


@pytest.fixture
def visits(factory: Factory, site: Site) -> AddVisits:
    """``visits("google", "cpc", 120)``: that many sessions of the site, starting now."""

    def add(source: str, medium: str, count: int, *, bot: bool = False) -> None:
        factory.sessions(site, count, source=source, medium=medium, is_bot=bot)

    return add
