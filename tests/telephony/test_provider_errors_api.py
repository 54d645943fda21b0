"""A carrier's failure through the REST API: one handler (create_app) answers 422 for a refusal,
502 for an outage, in the words the dashboard uses too; nothing is changed."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callpool.app import create_app
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account
from callpool.settings import Settings
from callpool.sites.schemas import SiteCreate
from callpool.sites.service import create_site
from callpool.telephony.twilio.provider import TwilioProvider
from tests.telephony.conftest import ACCOUNT_SID, AUTH_TOKEN, EMPTY_AREA_CODE, FakeTwilio


@pytest.fixture
def app(
    settings: Settings, database: Database, clock: FrozenClock, fake_twilio: FakeTwilio
) -> FastAPI:
    provider = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=fake_twilio.url)
    return create_app(settings, database, provider)


def new_pool(database: Database, account: Account, area_code: str) -> dict[str, object]:
    site = create_site(database, account.id, SiteCreate(name="Acme"))
    return {
        "site_id": site.id,
        "name": "Web",
        "original_number": "+15125550123",
        "area_code": area_code,
        "size": 2,
    }


def test_a_refusal_is_a_422_in_words_and_creates_nothing(
    client: TestClient, database: Database, account: Account, auth: dict[str, str]
) -> None:
    answer = client.post(
        "/api/v1/pools", json=new_pool(database, account, EMPTY_AREA_CODE), headers=auth
    )

    assert answer.status_code == 422
    assert answer.json() == {
        "detail": "The telephony provider refused: Twilio has no numbers in area code "
        f"{EMPTY_AREA_CODE} available right now; try another area code. Nothing was changed."
    }
    assert client.get("/api/v1/pools", headers=auth).json() == []


def test_an_outage_is_a_502_saying_to_retry(
    client: TestClient,
    database: Database,
    account: Account,
    auth: dict[str, str],
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.fail_next(503, 20500, "Service unavailable")

    answer = client.post("/api/v1/pools", json=new_pool(database, account, "512"), headers=auth)

    assert answer.status_code == 502
    assert answer.json() == {
        "detail": "The telephony provider could not be reached (Twilio is having trouble "
        "(HTTP 503); try again later). Nothing was changed; retry."
    }
    assert client.get("/api/v1/pools", headers=auth).json() == []
