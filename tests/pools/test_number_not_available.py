"""A number another account tracks is "not available": the answer never says whose it is."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account
from callpool.settings import Settings
from tests.pools.conftest import BUSINESS, RecordingSandbox, add_site


@pytest.fixture
def app(
    settings: Settings, database: Database, clock: FrozenClock, provider: RecordingSandbox
) -> FastAPI:
    from callpool.app import create_app

    return create_app(settings, database, provider)


def test_another_accounts_number_is_refused_without_naming_it(
    client: TestClient,
    auth: dict[str, str],
    outsider_auth: dict[str, str],
    database: Database,
    account: Account,
    clock: FrozenClock,
) -> None:
    mine = add_site(database, account.id, clock.now())
    theirs = client.post("/api/v1/sites", json={"name": "Rival"}, headers=outsider_auth).json()
    pool = {"name": "Web", "original_number": BUSINESS, "area_code": "512", "size": 1}
    rival = client.post(
        "/api/v1/pools", json={**pool, "site_id": theirs["id"]}, headers=outsider_auth
    )
    assert rival.status_code == 201, rival.text
    [their_tracker] = client.get(
        f"/api/v1/pools/{rival.json()['id']}/trackers", headers=outsider_auth
    ).json()
    own = client.post("/api/v1/pools", json={**pool, "site_id": mine.id}, headers=auth).json()

    taken = client.post(
        f"/api/v1/pools/{own['id']}/trackers",
        json={"number": their_tracker["number"]},
        headers=auth,
    )

    assert taken.status_code == 409
    assert taken.json() == {"detail": f"{their_tracker['number']} is not available"}
