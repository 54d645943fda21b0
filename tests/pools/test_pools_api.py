"""Pools through the REST API: create, list, read, update, delete; validation; tenants."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callpool.calls.routing import routing_table
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Pool, Site, Tracker
from callpool.settings import Settings
from tests.factories import Factory
from tests.pools.conftest import BUSINESS, IDLE, AddVisits, RecordingSandbox, session_pool

API = "/api/v1/pools"


@pytest.fixture
def app(
    settings: Settings, database: Database, clock: FrozenClock, provider: RecordingSandbox
) -> FastAPI:
    from callpool.app import create_app

    return create_app(settings, database, provider)


def count_rows(database: Database, model: type[Any]) -> int:
    with database.reader() as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def test_create_a_session_pool_buys_active_trackers_pointed_at_callpool(
    client: TestClient, auth: dict[str, str], site: Site, provider: RecordingSandbox
) -> None:
    response = client.post(API, json=session_pool(site), headers=auth)
    assert response.status_code == 201, response.text
    pool = response.json()
    assert pool["kind"] == "session"
    assert pool["trackers"] == {"available": 0, "active": 3, "flagged": 0, **IDLE}
    trackers = client.get(f"{API}/{pool['id']}/trackers", headers=auth).json()
    assert [t["status"] for t in trackers] == ["active"] * 3
    assert all(t["number"].startswith("+1512") for t in trackers)
    assert {t["original_number"] for t in trackers} == {BUSINESS}
    assert provider.last_urls == (
        "https://callpool.test/webhooks/sandbox/voice",
        "https://callpool.test/webhooks/sandbox/status",
    )


def test_new_pools_skip_numbers_the_install_already_has(
    client: TestClient, auth: dict[str, str], site: Site
) -> None:
    first = client.post(API, json=session_pool(site), headers=auth).json()
    second = client.post(API, json=session_pool(site, name="Second"), headers=auth).json()
    numbers = [
        t["number"]
        for pool in (first, second)
        for t in client.get(f"{API}/{pool['id']}/trackers", headers=auth).json()
    ]
    assert len(set(numbers)) == 6


def test_toll_free_pools_get_toll_free_numbers(
    client: TestClient, auth: dict[str, str], site: Site
) -> None:
    body = session_pool(site, area_code=None, toll_free=True, size=1)
    pool = client.post(API, json=body, headers=auth).json()
    [tracker] = client.get(f"{API}/{pool['id']}/trackers", headers=auth).json()
    assert tracker["number"].startswith("+1800")


def test_list_get_update_and_delete(
    client: TestClient, auth: dict[str, str], site: Site, provider: RecordingSandbox
) -> None:
    pool = client.post(API, json=session_pool(site), headers=auth).json()
    assert [p["id"] for p in client.get(API, headers=auth).json()] == [pool["id"]]
    assert client.get(f"{API}?site_id={site.id + 1}", headers=auth).json() == []

    changed = client.patch(f"{API}/{pool['id']}", json={"name": "Renamed", "size": 5}, headers=auth)
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Renamed"
    assert changed.json()["trackers"]["active"] == 5

    assert client.delete(f"{API}/{pool['id']}", headers=auth).status_code == 204
    assert len(provider.released) == 5
    assert client.get(f"{API}/{pool['id']}", headers=auth).status_code == 404
    assert client.get(API, headers=auth).json() == []


def test_deleted_pools_keep_their_trackers_as_history(
    client: TestClient, auth: dict[str, str], site: Site, database: Database
) -> None:
    pool = client.post(API, json=session_pool(site), headers=auth).json()
    client.delete(f"{API}/{pool['id']}", headers=auth)
    with database.reader() as db:
        stored = db.get(Pool, pool["id"])
        statuses = set(db.scalars(select(Tracker.status).where(Tracker.pool_id == pool["id"])))
    assert stored is not None
    assert stored.deleted_at is not None
    assert statuses == {"released"}


def test_shrinking_a_session_pool_keeps_numbers_in_front_of_visitors(
    client: TestClient, auth: dict[str, str], site: Site, database: Database, clock: FrozenClock
) -> None:
    pool = client.post(API, json=session_pool(site, size=3), headers=auth).json()
    with database.session() as db:
        held = db.scalars(select(Tracker).where(Tracker.pool_id == pool["id"])).all()
        for tracker in held[1:]:
            tracker.leased_until = clock.now().replace(hour=13)  # leased to visitors for 1 h
    response = client.patch(f"{API}/{pool['id']}", json={"size": 1}, headers=auth)
    assert response.json()["trackers"]["active"] == 2  # only the free one could go


def test_add_trackers_by_count_and_by_number_and_release_one(
    client: TestClient, auth: dict[str, str], site: Site, provider: RecordingSandbox
) -> None:
    pool = client.post(API, json=session_pool(site, size=1), headers=auth).json()
    url = f"{API}/{pool['id']}/trackers"
    added = client.post(url, json={"count": 2}, headers=auth)
    assert added.status_code == 201, added.text
    given = client.post(url, json={"number": "+1 (737) 555-0150"}, headers=auth)
    assert given.status_code == 201, given.text
    assert given.json()[0]["number"] == "+17375550150"
    assert client.get(f"{API}/{pool['id']}", headers=auth).json()["size"] == 4

    tracker_id = given.json()[0]["id"]
    released = client.post(f"{url}/{tracker_id}/release", headers=auth)
    assert released.status_code == 200
    assert released.json()["status"] == "released"
    assert released.json()["released_at"] is not None
    assert len(provider.released) == 1
    statuses = [t["status"] for t in client.get(url, headers=auth).json()]
    assert statuses == ["active", "active", "active", "released"]
    assert [t["status"] for t in client.get(f"{url}?status=released", headers=auth).json()] == [
        "released"
    ]
    again = client.post(url, json={"number": "+17375550150"}, headers=auth)
    assert again.status_code == 201  # a released number can be bought back
    duplicate = client.post(url, json={"number": "+17375550150"}, headers=auth)
    assert duplicate.status_code == 409


def test_routing_follows_pool_changes(
    client: TestClient, auth: dict[str, str], site: Site, settings: Settings
) -> None:
    pool = client.post(API, json=session_pool(site, size=1), headers=auth).json()
    [tracker] = client.get(f"{API}/{pool['id']}/trackers", headers=auth).json()
    assert routing_table(settings).lookup(tracker["number"]) is not None
    client.patch(f"{API}/{pool['id']}", json={"original_number": "+15125550142"}, headers=auth)
    route = routing_table(settings).lookup(tracker["number"])
    assert route is not None
    assert route.forward_to == "+15125550142"  # session trackers follow the pool's number
    client.delete(f"{API}/{pool['id']}", headers=auth)
    assert routing_table(settings).lookup(tracker["number"]) is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"original_number": "555-1234"}, "original_number"),
        ({"original_number": "+1512555"}, "original_number"),
        ({"swap_number": "call us"}, "swap_number"),
        ({"overflow_policy": "fallback", "overflow_number": "+1"}, "overflow_number"),
        ({"size": 0}, "size"),
        ({"size": 100000}, "size"),
        ({"kind": "automated", "utilization": 0}, "utilization"),
        ({"kind": "automated", "utilization": 1.5}, "utilization"),
        ({"area_code": "51"}, "area_code"),
        ({"overflow_policy": "sometimes"}, "overflow_policy"),
        ({"kind": "broadcast"}, "kind"),
        ({"others": "everyone"}, "others"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(
    client: TestClient,
    auth: dict[str, str],
    site: Site,
    database: Database,
    fields: dict[str, Any],
    field: str,
) -> None:
    response = client.post(API, json=session_pool(site, **fields), headers=auth)
    assert response.status_code == 422
    assert field in response.text
    assert count_rows(database, Pool) == 0
    assert count_rows(database, Tracker) == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"overflow_policy": "fallback"}, "overflow_number"),
        ({"kind": "automated", "others": "pool:999"}, "others"),
    ],
)
def test_rules_across_fields_are_checked_before_anything_is_bought(
    client: TestClient,
    auth: dict[str, str],
    site: Site,
    database: Database,
    provider: RecordingSandbox,
    fields: dict[str, Any],
    field: str,
) -> None:
    response = client.post(API, json=session_pool(site, **fields), headers=auth)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert provider.bought == []
    assert count_rows(database, Pool) == 0


def test_an_invalid_number_in_an_update_changes_nothing(
    client: TestClient, auth: dict[str, str], site: Site
) -> None:
    pool = client.post(API, json=session_pool(site), headers=auth).json()
    response = client.patch(
        f"{API}/{pool['id']}", json={"original_number": "12", "name": "x"}, headers=auth
    )
    assert response.status_code == 422
    assert "original_number" in response.text
    assert client.get(f"{API}/{pool['id']}", headers=auth).json()["name"] == "Website"


@pytest.mark.parametrize("field", ["name", "size", "original_number", "rules", "others"])
def test_required_settings_cannot_be_cleared(
    client: TestClient, auth: dict[str, str], site: Site, field: str
) -> None:
    pool = client.post(API, json=session_pool(site), headers=auth).json()
    response = client.patch(f"{API}/{pool['id']}", json={field: None}, headers=auth)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_kind_and_site_cannot_change(client: TestClient, auth: dict[str, str], site: Site) -> None:
    pool = client.post(API, json=session_pool(site), headers=auth).json()
    response = client.patch(f"{API}/{pool['id']}", json={"kind": "manual"}, headers=auth)
    assert response.status_code == 422


def test_utilization_is_ignored_outside_automated_pools(
    client: TestClient, auth: dict[str, str], site: Site
) -> None:
    body = session_pool(site, kind="manual", utilization=0.5)
    pool = client.post(API, json=body, headers=auth).json()
    assert pool["utilization"] is None
    assert pool["trackers"] == {"available": 3, "active": 0, "flagged": 0, **IDLE}


def test_a_site_of_another_account_is_refused(
    client: TestClient, auth: dict[str, str], factory: Factory
) -> None:
    their_site = factory.site(factory.account("Other"))
    response = client.post(API, json=session_pool(their_site), headers=auth)
    assert response.status_code == 422
    assert response.json()["field"] == "site_id"


def test_an_outsider_gets_404_for_everything(
    client: TestClient,
    auth: dict[str, str],
    outsider_auth: dict[str, str],
    site: Site,
) -> None:
    pool = client.post(API, json=session_pool(site), headers=auth).json()
    tracker = client.get(f"{API}/{pool['id']}/trackers", headers=auth).json()[0]
    base = f"{API}/{pool['id']}"
    assert client.get(API, headers=outsider_auth).json() == []
    assert client.get(base, headers=outsider_auth).status_code == 404
    assert client.patch(base, json={"name": "mine"}, headers=outsider_auth).status_code == 404
    assert client.get(f"{base}/trackers", headers=outsider_auth).status_code == 404
    assert (
        client.post(f"{base}/trackers", json={"count": 1}, headers=outsider_auth).status_code == 404
    )
    release = client.post(f"{base}/trackers/{tracker['id']}/release", headers=outsider_auth)
    assert release.status_code == 404
    assert client.get(f"{base}/diagnostics", headers=outsider_auth).status_code == 404
    assert client.post(f"{base}/rebalance", headers=outsider_auth).status_code == 404
    assert client.delete(base, headers=outsider_auth).status_code == 404
    assert client.get(base, headers=auth).json()["name"] == "Website"
    assert client.get(API).status_code == 401


def test_a_provider_outage_is_a_502_and_nothing_is_kept(
    client: TestClient,
    auth: dict[str, str],
    site: Site,
    database: Database,
    provider: RecordingSandbox,
) -> None:
    provider.fail_buying_after = 2
    response = client.post(API, json=session_pool(site, size=3), headers=auth)
    assert response.status_code == 502
    assert "provider" in response.json()["detail"]
    assert count_rows(database, Pool) == 0
    assert count_rows(database, Tracker) == 0
    assert len(provider.released) == 2  # the two bought before the failure went back


def test_a_provider_refusal_is_a_422(
    client: TestClient, auth: dict[str, str], site: Site, provider: RecordingSandbox
) -> None:
    provider.fail_buying_after = 0
    provider.permanent = True
    response = client.post(API, json=session_pool(site), headers=auth)
    assert response.status_code == 422
    assert "refused" in response.json()["detail"]


def test_too_few_numbers_at_the_provider_is_a_409(
    client: TestClient, auth: dict[str, str], site: Site, database: Database
) -> None:
    response = client.post(API, json=session_pool(site, size=150), headers=auth)
    assert response.status_code == 409
    assert "area code 512" in response.json()["detail"]
    assert count_rows(database, Pool) == 0


def test_automated_pool_endpoints(
    client: TestClient, auth: dict[str, str], site: Site, visits: AddVisits
) -> None:
    body = session_pool(site, kind="automated", size=2, utilization=0.5, others="original")
    pool = client.post(API, json=body, headers=auth).json()
    base = f"{API}/{pool['id']}"
    visits("google", "cpc", 150)
    visits("bing", "cpc", 120)

    rebalanced = client.post(f"{base}/rebalance", headers=auth)
    assert rebalanced.json() == {
        "created": 0,
        "flagged": 0,
        "unflagged": 0,
        "activated": 1,
        "deactivated": 0,
        "released": 0,
    }
    report = client.get(f"{base}/diagnostics", headers=auth).json()
    assert report["top_list_length"] == 1
    assert [(s["source"], s["visits"], s["in_top_list"]) for s in report["sources"]] == [
        ("google", 150, True),
        ("bing", 120, False),
    ]
    client.patch(base, json={"original_number": "+15125550142"}, headers=auth)
    assert client.post(f"{base}/reassign-original-number", headers=auth).json() == {"reassigned": 1}
    [active] = client.get(f"{base}/trackers?status=active", headers=auth).json()
    assert (active["source"], active["original_number"]) == ("google", "+15125550142")


def test_a_session_pool_serving_another_pool_cannot_be_deleted(
    client: TestClient, auth: dict[str, str], site: Site
) -> None:
    fallback = client.post(API, json=session_pool(site, size=1), headers=auth).json()
    body = session_pool(site, kind="automated", size=1, others=f"pool:{fallback['id']}")
    automated = client.post(API, json=body, headers=auth)
    assert automated.status_code == 201, automated.text
    response = client.delete(f"{API}/{fallback['id']}", headers=auth)
    assert response.status_code == 409
    assert "others" in response.json()["detail"]


def test_another_accounts_number_is_refused_without_naming_it(
    client: TestClient,
    auth: dict[str, str],
    outsider_auth: dict[str, str],
    factory: Factory,
    account: Account,
) -> None:
    mine = factory.site(account)
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
