"""/api/v1/webhooks: endpoints per account, secrets rotated without a gap, deliveries listed
and redelivered with the same webhook-id; private addresses refused at creation and delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from callpool.app import create_app
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.integrations import jobs
from callpool.integrations.webhooks.addresses import is_public
from callpool.settings import Settings
from tests.calls.conftest import Factory
from tests.integrations.conftest import (
    Receiver,
    Setup,
    add_endpoint,
    settle_and_deliver,
    visit_and_call,
)


def test_endpoints_are_created_listed_changed_and_deleted(
    client: TestClient, auth: dict[str, str], outsider_auth: dict[str, str], receiver: Receiver
) -> None:
    created = add_endpoint(client, auth, receiver, ["call.completed", "call.completed"])
    assert created["events"] == ["call.completed"]
    assert created["enabled"] is True
    Webhook(str(created["secret"]))  # a secret the standard library accepts
    path = f"/api/v1/webhooks/{created['id']}"

    listed = client.get("/api/v1/webhooks", headers=auth).json()
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    changed = client.patch(
        path, json={"events": ["pool.exhausted"], "description": "Ops"}, headers=auth
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["pool.exhausted"]
    assert changed.json()["description"] == "Ops"

    # Another account sees none of it.
    assert client.get("/api/v1/webhooks", headers=outsider_auth).json() == []
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"description": "x"}} if method == "patch" else {}
        answer = getattr(client, method)(path, headers=outsider_auth, **kwargs)
        assert answer.status_code == 404
    assert client.post(f"{path}/rotate-secret", headers=outsider_auth).status_code == 404
    assert client.get(f"{path}/deliveries", headers=outsider_auth).status_code == 404

    assert client.delete(path, headers=auth).status_code == 204
    assert client.get(path, headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/", "events": ["call.started"]}, "url"),
        ({"url": "https://example.com/", "events": []}, "events"),
        ({"url": "https://example.com/", "events": ["call.exploded"]}, "events"),
        ({"url": "https://user:pw@example.com/", "events": ["call.started"]}, "url"),
    ],
)
def test_bad_input_is_a_clear_422_and_changes_nothing(
    client: TestClient, auth: dict[str, str], body: dict[str, object], field: str
) -> None:
    answer = client.post("/api/v1/webhooks", json=body, headers=auth)
    assert answer.status_code == 422
    assert field in answer.text
    assert client.get("/api/v1/webhooks", headers=auth).json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_private_addresses_are_refused_unless_allowed(
    settings: Settings, database: Database, clock: FrozenClock, api_key: str, url: str
) -> None:
    strict = settings.model_copy(update={"webhooks_allow_private": False})
    with TestClient(create_app(strict, database)) as client:
        answer = client.post(
            "/api/v1/webhooks",
            json={"url": url, "events": ["call.started"]},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    assert answer.status_code == 422
    assert answer.json()["field"] == "url"
    assert "private, loopback or link-local" in answer.json()["detail"]


def test_public_addresses_pass_the_guard() -> None:
    assert is_public("93.184.215.14")
    assert is_public("2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    assert not is_public("fe80::1%eth0")
    assert not is_public("224.0.0.1")


def test_an_address_that_became_private_is_refused_at_delivery(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    created = add_endpoint(client, auth, receiver)  # allowed when it was saved
    visit_and_call(factory, setup, settings, "CA-private")
    strict = settings.model_copy(update={"webhooks_allow_private": False})
    jobs.deliver(database, strict)
    assert receiver.received == []
    deliveries = client.get(f"/api/v1/webhooks/{created['id']}/deliveries", headers=auth).json()
    [attempt] = deliveries["deliveries"][0]["attempts"]
    assert attempt["ok"] is False
    assert attempt["response_code"] is None
    assert "refused" in attempt["error"]
    assert "private, loopback or link-local" in attempt["error"]


def test_a_rotated_secret_and_the_old_one_both_sign_for_a_day(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    created = add_endpoint(client, auth, receiver)
    old = str(created["secret"])
    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", headers=auth)
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != old
    assert new.startswith("whsec_")

    receiver.secret = old  # a receiver not yet switched over
    visit_and_call(factory, setup, settings, "CA-rotated")
    jobs.deliver(database, settings)
    [delivery] = receiver.received
    assert delivery.verified
    Webhook(new).verify(delivery.body, delivery.headers)  # the new secret signed it too
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2

    clock.advance(hours=24, seconds=1)  # past the grace period: the new secret alone
    receiver.secret = new
    visit_and_call(factory, setup, settings, "CA-later")
    jobs.deliver(database, settings)
    later = receiver.received[-1]
    # A day ahead of the receiver's clock: its timestamp check fails, the signature is checked
    # here the way the library computes it.
    at = datetime.fromtimestamp(int(later.headers["webhook-timestamp"]), UTC)
    expected = Webhook(new).sign(later.webhook_id, at, later.body.decode())
    assert later.headers["webhook-signature"] == expected


def test_redeliver_sends_the_same_message_again_and_lists_the_attempt(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    created = add_endpoint(client, auth, receiver)
    visit_and_call(factory, setup, settings, "CA-again")
    jobs.deliver(database, settings)
    base = f"/api/v1/webhooks/{created['id']}"
    [delivery] = client.get(f"{base}/deliveries", headers=auth).json()["deliveries"]
    assert delivery["state"] == "delivered"

    again = client.post(f"{base}/deliveries/{delivery['id']}/redeliver", headers=auth)
    assert again.status_code == 202
    assert again.json()["state"] == "pending"
    jobs.deliver(database, settings)
    assert [r.webhook_id for r in receiver.received] == [delivery["webhook_id"]] * 2
    assert json.loads(receiver.received[0].body) == json.loads(receiver.received[1].body)
    [listed] = client.get(f"{base}/deliveries", headers=auth).json()["deliveries"]
    assert [a["response_code"] for a in listed["attempts"]] == [200, 200]

    # A disabled endpoint takes no redelivery until it is enabled again.
    client.patch(base, json={"enabled": False}, headers=auth)
    refused = client.post(f"{base}/deliveries/{delivery['id']}/redeliver", headers=auth)
    assert refused.status_code == 409
    assert client.post(f"{base}/deliveries/999/redeliver", headers=auth).status_code == 404


def test_deliveries_come_in_pages(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    created = add_endpoint(client, auth, receiver, ["call.started", "call.completed"])
    visit_and_call(factory, setup, settings, "CA-paged")
    settle_and_deliver(database, settings, clock)
    base = f"/api/v1/webhooks/{created['id']}/deliveries"
    first = client.get(f"{base}?limit=1", headers=auth).json()
    assert len(first["deliveries"]) == 1
    rest = client.get(f"{base}?limit=1&before={first['next_before']}", headers=auth).json()
    assert len(rest["deliveries"]) == 1
    assert rest["next_before"] is None
    assert {first["deliveries"][0]["event"], rest["deliveries"][0]["event"]} == {
        "call.started",
        "call.completed",
    }


def test_the_webhooks_api_is_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert set(paths["/api/v1/webhooks"]) == {"get", "post"}
    assert "/api/v1/webhooks/{webhook_id}/rotate-secret" in paths
    redeliver = paths["/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"]
    assert {"202", "404", "409", "422"} <= set(redeliver["post"]["responses"])


def test_messages_wait_no_longer_than_the_first_retry(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    add_endpoint(client, auth, receiver)
    receiver.fail_first = 1
    visit_and_call(factory, setup, settings, "CA-soon")
    jobs.deliver(database, settings)
    assert jobs.deliver(database, settings) == 0  # not due yet
    clock.advance(seconds=10)
    assert jobs.deliver(database, settings) == 1
    assert [r.answered for r in receiver.received] == [500, 200]


def test_deliveries_are_listed_for_a_month_then_removed(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    created = add_endpoint(client, auth, receiver)
    visit_and_call(factory, setup, settings, "CA-old")
    jobs.deliver(database, settings)
    listed = f"/api/v1/webhooks/{created['id']}/deliveries"
    clock.advance(days=29)
    jobs.daily(database, settings)
    assert len(client.get(listed, headers=auth).json()["deliveries"]) == 1
    clock.advance(days=2)
    jobs.daily(database, settings)
    assert client.get(listed, headers=auth).json()["deliveries"] == []
