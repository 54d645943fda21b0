"""The visit API shows an automated pool's active tracker to visits of its source/medium."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Lease, Site
from callpool.pools import service
from callpool.settings import Settings
from tests.pools.conftest import BUSINESS, AddVisits, MakePool, RecordingSandbox

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


@pytest.fixture
def app(
    settings: Settings, database: Database, clock: FrozenClock, provider: RecordingSandbox
) -> FastAPI:
    from callpool.app import create_app

    return create_app(settings, database, provider)


def shown(client: TestClient, site: Site, url: str) -> list[Any]:
    body = {"k": site.public_key, "v": None, "s": None, "u": url, "r": "", "t": "Acme"}
    response = client.post(
        "/t/visit",
        content=json.dumps(body),
        headers={
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": "https://acme.example",
            "User-Agent": CHROME,
        },
    )
    assert response.status_code == 200, response.text
    return [entry["number"] for entry in response.json()["numbers"]]


def test_each_source_sees_its_own_number_and_others_the_original(
    client: TestClient,
    site: Site,
    make_pool: MakePool,
    visits: AddVisits,
    account: Account,
    deps: Any,
    database: Database,
) -> None:
    pool = make_pool(size=2, utilization=1.0)
    visits("google", "cpc", 150)
    visits("facebook", "social", 120)
    service.rebalance_now(deps, account.id, pool.id)
    active = {
        t.source: t.number for t in service.list_trackers(deps, account.id, pool.id, "active")
    }

    google = shown(client, site, "https://acme.example/?utm_source=google&utm_medium=cpc")
    facebook = shown(client, site, "https://acme.example/?utm_source=facebook&utm_medium=social")
    direct = shown(client, site, "https://acme.example/")

    assert google == [active["google"]]
    assert facebook == [active["facebook"]]
    assert direct == []  # no tracker for (direct)/(none): the site keeps BUSINESS
    assert BUSINESS not in google + facebook


def test_others_can_be_served_by_a_session_pool(
    client: TestClient,
    site: Site,
    make_pool: MakePool,
    visits: AddVisits,
    account: Account,
    deps: Any,
    database: Database,
) -> None:
    session_pool = make_pool(name="visitors", kind="session", size=2, utilization=None)
    session_numbers = {
        t.number for t in service.list_trackers(deps, account.id, session_pool.id, "active")
    }
    pool = make_pool(size=2, utilization=1.0, others=f"pool:{session_pool.id}", priority=10)
    visits("google", "cpc", 150)
    service.rebalance_now(deps, account.id, pool.id)
    (google_tracker,) = service.list_trackers(deps, account.id, pool.id, "active")

    google = shown(client, site, "https://acme.example/?utm_source=google&utm_medium=cpc")
    direct = shown(client, site, "https://acme.example/")
    newsletter = shown(client, site, "https://acme.example/?utm_source=news&utm_medium=email")

    assert google == [google_tracker.number]
    assert direct[0] in session_numbers
    assert newsletter[0] in session_numbers
    assert newsletter != direct  # a session pool: each visit leases its own number
    with database.reader() as db:
        leased = db.scalars(select(Lease.tracker_id)).all()
    assert len(leased) == 2  # the two "others" visits; the google visit holds no lease
