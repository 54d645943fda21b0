"""The dashboard buys numbers off the event loop: a slow carrier holds up no other request."""

from __future__ import annotations

import threading

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callpool.app import create_app
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.settings import Settings
from callpool.sites.schemas import SiteCreate
from callpool.sites.service import create_site
from callpool.telephony.base import PurchasedNumber
from callpool.telephony.sandbox.provider import SandboxProvider
from tests.dashboard.conftest import Person, csrf_of, sign_in

DEADLINE = 30.0


class HeldCarrier(SandboxProvider):
    """A carrier whose purchases wait until the test lets them go."""

    def __init__(self, signing_key: str) -> None:
        super().__init__(signing_key)
        self.buying = threading.Event()
        self.go = threading.Event()

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> PurchasedNumber:
        self.buying.set()
        assert self.go.wait(DEADLINE)
        return super().buy_number(number, voice_url=voice_url, status_url=status_url)


@pytest.fixture
def carrier(settings: Settings) -> HeldCarrier:
    return HeldCarrier(settings.secret_key)


@pytest.fixture
def app(
    settings: Settings, database: Database, clock: FrozenClock, carrier: HeldCarrier
) -> FastAPI:
    return create_app(settings, database, carrier)


def test_creating_a_pool_on_a_slow_carrier_blocks_no_other_request(
    client: TestClient, database: Database, owner: Person, carrier: HeldCarrier
) -> None:
    site_id = create_site(database, owner.account_id, SiteCreate(name="Acme")).id
    sign_in(client, owner.email)
    form_page = client.get(f"/dashboard/sites/{site_id}/pools/new")
    data = {
        "name": "Web",
        "kind": "session",
        "original_number": "(512) 555-0123",
        "number_type": "local",
        "area_code": "512",
        "size": "2",
        "csrf": csrf_of(form_page.text),
    }
    created: list[httpx2.Response] = []
    buyer = threading.Thread(
        target=lambda: created.append(
            client.post(f"/dashboard/sites/{site_id}/pools", data=data, follow_redirects=False)
        )
    )
    buyer.start()
    try:
        assert carrier.buying.wait(DEADLINE)  # the form's request is in the carrier now
        answered: list[int] = []
        health = threading.Thread(
            target=lambda: answered.append(client.get("/healthz").status_code)
        )
        health.start()
        health.join(DEADLINE)  # a blocked event loop would hold it until the carrier answers
        assert answered == [200]
        assert created == []
    finally:
        carrier.go.set()
        buyer.join(DEADLINE)
    assert created[0].status_code == 303
