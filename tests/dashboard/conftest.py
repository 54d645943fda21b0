"""Three people: the owner and a teammate of ``account``, and an outsider of another account."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.accounts import users
from callpool.accounts.service import new_api_key
from callpool.accounts.users import MEMBER, OWNER
from callpool.db import Database
from callpool.models import Account, Call, Tracker
from callpool.pools import service as pools
from callpool.pools.schemas import PoolCreate
from callpool.pools.service import Deps
from callpool.settings import Settings
from callpool.sites.schemas import SiteCreate
from callpool.sites.service import create_site
from callpool.telephony.sandbox.simulate import status_request, voice_request
from tests.calls.conftest import settled
from tests.factories import Factory

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's cheapest parameters: the same hashing code, a fraction of its cost per test.

    (Like Django test settings' fast hasher; production parameters are argon2-cffi's defaults.)
    """
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@dataclass(frozen=True)
class Person:
    email: str
    account_id: int


def _person(factory: Factory, account: Account, email: str, role: str) -> Person:
    factory.user(account, email, role=role, password=PASSWORD)
    return Person(email, account.id)


@pytest.fixture
def owner(factory: Factory, account: Account) -> Person:
    return _person(factory, account, "owner@acme.test", OWNER)


@pytest.fixture
def teammate(factory: Factory, account: Account) -> Person:
    return _person(factory, account, "teammate@acme.test", MEMBER)


@pytest.fixture
def outsider(factory: Factory) -> Person:
    return _person(factory, factory.account("Rival Plumbing"), "outsider@rival.test", OWNER)


def csrf_of(html: str) -> str:
    """The CSRF token of the page's first form, as a browser would submit it."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    page = client.get("/dashboard/login")
    response = client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def post_form(
    client: TestClient, page_url: str, action: str, data: dict[str, str]
) -> httpx2.Response:
    """Open ``page_url``, then submit ``data`` to ``action`` with the page's CSRF token."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={**data, "csrf": csrf_of(page.text)}, follow_redirects=False)


@pytest.fixture
def as_owner(client: TestClient, owner: Person) -> TestClient:
    sign_in(client, owner.email)
    return client


@dataclass(frozen=True)
class AccountData:
    """One of everything in ``account``: what an outsider must never reach."""

    site_id: int
    pool_id: int
    tracker_id: int
    session_id: str
    call_id: int
    key_id: int
    tracking_number: str


def visit(
    client: TestClient, site_key: str, url: str, origin: str = "https://acme.test"
) -> dict[str, Any]:
    """What the snippet sends on a first pageview; the server's answer."""
    response = client.post(
        "/t/visit",
        content=json.dumps({"k": site_key, "u": url}),
        headers={"Origin": origin, "Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def ring(client: TestClient, settings: Settings, to_number: str, from_number: str) -> str:
    """A signed carrier webhook for a call to ``to_number``, answered for 42 seconds."""
    call = voice_request(settings, to_number=to_number, from_number=from_number)
    assert client.post(call.path, data=call.data, headers=call.headers).status_code == 200
    done = status_request(settings, call_id=call.call_id, status="completed", duration=42)
    assert client.post(done.path, data=done.data, headers=done.headers).status_code == 200
    settled(settings)  # calls are stored just after the carrier is answered
    return call.call_id


@pytest.fixture
def account_data(
    app: FastAPI, client: TestClient, database: Database, settings: Settings, account: Account
) -> AccountData:
    site = create_site(
        database, account.id, SiteCreate(name="Acme", allowed_origins=["https://acme.test"])
    )
    site_id, site_key = site.id, site.public_key
    key_id = new_api_key(database, account.id, "crm").id
    deps = Deps(database, app.state.provider, settings)
    pool = pools.create_pool(
        deps,
        account.id,
        PoolCreate(
            site_id=site_id,
            name="Website visitors",
            original_number="+15125550123",
            area_code="737",
            size=3,
        ),
    )
    answer = visit(client, site_key, "https://acme.test/?utm_source=google&utm_medium=cpc")
    number = answer["numbers"][0]["number"]
    provider_call_id = ring(client, settings, number, "+15125550999")
    with database.reader() as db:
        call = db.scalar(select(Call).where(Call.provider_call_id == provider_call_id))
        tracker = db.scalar(select(Tracker).where(Tracker.number == number))
        assert call is not None
        assert tracker is not None
        return AccountData(site_id, pool.id, tracker.id, answer["s"], call.id, key_id, number)
