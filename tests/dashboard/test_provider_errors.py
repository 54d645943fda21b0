"""Provider failures in words on the pool form, with the Twilio provider against a fake Twilio."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callpool.app import create_app
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.settings import Settings
from callpool.sites.schemas import SiteCreate
from callpool.sites.service import create_site
from callpool.telephony.twilio.provider import TwilioProvider
from tests.dashboard.conftest import Person, post_form, sign_in
from tests.telephony.conftest import (  # the fake of Twilio's HTTP API
    ACCOUNT_SID,
    AUTH_TOKEN,
    EMPTY_AREA_CODE,
    FakeTwilio,
    fake_twilio,
)

__all__ = ["fake_twilio"]  # a fixture, used by name


@pytest.fixture(params=[AUTH_TOKEN, "a-token-twilio-does-not-know"], ids=["right", "wrong"])
def token(request: pytest.FixtureRequest) -> str:
    token: str = request.param
    return token


@pytest.fixture
def app(
    settings: Settings, database: Database, clock: FrozenClock, fake_twilio: FakeTwilio, token: str
) -> FastAPI:
    provider = TwilioProvider(ACCOUNT_SID, token, api_base_url=fake_twilio.url)
    return create_app(settings, database, provider)


def test_twilio_refusals_are_shown_in_words(
    client: TestClient, database: Database, owner: Person, token: str
) -> None:
    site_id = create_site(database, owner.account_id, SiteCreate(name="Acme")).id
    sign_in(client, owner.email)
    form = f"/dashboard/sites/{site_id}/pools/new"
    data = {
        "name": "Web",
        "kind": "session",
        "original_number": "(512) 555-0123",
        "number_type": "local",
        "area_code": EMPTY_AREA_CODE,
        "size": "3",
    }
    response = post_form(client, form, f"/dashboard/sites/{site_id}/pools", data)

    assert response.status_code == 422
    if token == AUTH_TOKEN:
        assert f"Twilio has no numbers in area code {EMPTY_AREA_CODE} available" in response.text
    else:
        assert "Twilio refused the credentials" in response.text
    assert "Nothing was bought" in response.text
    assert "No pool yet" in client.get(f"/dashboard/sites/{site_id}").text
