"""Manual pools through the REST API: only the operator changes a tracker's state."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Site
from callpool.pools.rebalance import rebalance_due_pools
from callpool.settings import Settings
from tests.pools.conftest import BUSINESS, IDLE, AddVisits, RecordingSandbox, served_at

API = "/api/v1/pools"


@pytest.fixture
def app(
    settings: Settings, database: Database, clock: FrozenClock, provider: RecordingSandbox
) -> FastAPI:
    from callpool.app import create_app

    return create_app(settings, database, provider)


def create_manual_pool(client: TestClient, auth: dict[str, str], site: Site) -> dict[str, Any]:
    body = {
        "site_id": site.id,
        "name": "Print ads",
        "kind": "manual",
        "original_number": BUSINESS,
        "area_code": "512",
        "size": 2,
        "utilization": 0.5,
        "timeline_days": 30,
    }
    response = client.post(API, json=body, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_manual_tracker_life_cycle(
    client: TestClient,
    auth: dict[str, str],
    site: Site,
    database: Database,
    clock: FrozenClock,
    visits: AddVisits,
    provider: RecordingSandbox,
    settings: Settings,
) -> None:
    pool = create_manual_pool(client, auth, site)
    assert pool["utilization"] is None  # ignored for manual pools
    trackers = f"{API}/{pool['id']}/trackers"
    first, second = client.get(trackers, headers=auth).json()
    assert (first["status"], second["status"]) == ("available", "available")

    # Traffic alone changes nothing in a manual pool.
    visits("google", "cpc", 500)
    client.post(f"{API}/{pool['id']}/rebalance", headers=auth)
    assert [t["status"] for t in client.get(trackers, headers=auth).json()] == ["available"] * 2

    activated = client.post(
        f"{trackers}/{first['id']}/activate",
        json={"source": "yellowpages", "medium": "print"},
        headers=auth,
    )
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "active"
    assert activated.json()["original_number"] == BUSINESS
    activated_at = clock.now()

    taken = client.post(
        f"{trackers}/{second['id']}/activate",
        json={"source": "yellowpages", "medium": "print"},
        headers=auth,
    )
    assert taken.status_code == 409
    assert "already has the active tracker" in taken.json()["detail"]

    clock.advance(days=2)
    assigned = client.post(
        f"{trackers}/{first['id']}/assign",
        json={"source": "radio", "medium": "offline"},
        headers=auth,
    )
    assert assigned.json()["source"] == "radio"
    with database.reader() as db:
        assert served_at(db, first["id"], activated_at) == ("yellowpages", "print")
        assert served_at(db, first["id"], clock.now()) == ("radio", "offline")

    flagged = client.post(f"{trackers}/{first['id']}/flag", headers=auth).json()
    assert flagged["status"] == "flagged"
    assert flagged["dropped_at"] is not None
    unflagged = client.post(f"{trackers}/{first['id']}/unflag", headers=auth).json()
    assert (unflagged["status"], unflagged["dropped_at"]) == ("active", None)
    client.post(f"{trackers}/{first['id']}/flag", headers=auth)

    # A flagged tracker keeps attributing calls until its timeline ends, then it is deleted.
    clock.advance(days=29)
    rebalance_due_pools(database, provider, public_url=settings.public_url)
    assert client.get(f"{trackers}?status=flagged", headers=auth).json()[0]["id"] == first["id"]
    clock.advance(days=1)
    assert rebalance_due_pools(database, provider, public_url=settings.public_url) == 1
    released = client.get(f"{trackers}?status=released", headers=auth).json()
    assert [t["id"] for t in released] == [first["id"]]
    assert len(provider.released) == 1
    with database.reader() as db:
        assert served_at(db, first["id"], clock.now()) is None
        assert served_at(db, first["id"], activated_at) == ("yellowpages", "print")


@pytest.mark.parametrize(
    ("action", "body"),
    [("flag", None), ("unflag", None), ("assign", {"source": "a", "medium": "b"})],
)
def test_actions_need_the_right_status(
    client: TestClient,
    auth: dict[str, str],
    site: Site,
    action: str,
    body: dict[str, str] | None,
) -> None:
    pool = create_manual_pool(client, auth, site)
    tracker = client.get(f"{API}/{pool['id']}/trackers", headers=auth).json()[0]
    url = f"{API}/{pool['id']}/trackers/{tracker['id']}/{action}"
    response = client.post(url, json=body, headers=auth)
    assert response.status_code == 409
    assert "it is available" in response.json()["detail"]


def test_automated_pools_refuse_operator_actions(
    client: TestClient, auth: dict[str, str], site: Site
) -> None:
    body = {
        "site_id": site.id,
        "name": "Auto",
        "kind": "automated",
        "original_number": BUSINESS,
        "size": 1,
        "utilization": 1,
    }
    pool = client.post(API, json=body, headers=auth).json()
    tracker = client.get(f"{API}/{pool['id']}/trackers", headers=auth).json()[0]
    response = client.post(
        f"{API}/{pool['id']}/trackers/{tracker['id']}/activate",
        json={"source": "google", "medium": "cpc"},
        headers=auth,
    )
    assert response.status_code == 409
    assert "only manual pools" in response.json()["detail"]


def test_resizing_a_manual_pool_only_touches_available_trackers(
    client: TestClient, auth: dict[str, str], site: Site
) -> None:
    pool = create_manual_pool(client, auth, site)
    trackers = f"{API}/{pool['id']}/trackers"
    first = client.get(trackers, headers=auth).json()[0]
    client.post(
        f"{trackers}/{first['id']}/activate",
        json={"source": "tv", "medium": "offline"},
        headers=auth,
    )
    grown = client.patch(f"{API}/{pool['id']}", json={"size": 4}, headers=auth).json()
    assert grown["trackers"] == {"available": 3, "active": 1, "flagged": 0, **IDLE}
    shrunk = client.patch(f"{API}/{pool['id']}", json={"size": 1}, headers=auth).json()
    assert shrunk["trackers"] == {"available": 0, "active": 1, "flagged": 0, **IDLE}
