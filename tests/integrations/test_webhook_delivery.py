"""Webhooks reach a real receiver that verifies their signatures: retried with backoff until
accepted, with the same webhook-id; every attempt listed; 24 h of failures disable the endpoint
and tell the owner in the dashboard and by email."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool import worker
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.integrations import jobs
from callpool.models import OutboxMessage
from callpool.settings import Settings
from callpool.telephony.registry import provider_for
from tests.calls.conftest import Factory
from tests.dashboard.conftest import sign_in
from tests.integrations.conftest import (
    CALLER,
    Mailbox,
    Receiver,
    Setup,
    add_endpoint,
    deliver_until,
    visit_and_call,
)

ALL_EVENTS = ["call.started", "call.attributed", "call.completed", "pool.exhausted"]


def test_a_failing_receiver_gets_each_event_once_accepted_with_one_webhook_id(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    endpoint = add_endpoint(client, auth, receiver, ALL_EVENTS)
    assert str(endpoint["secret"]).startswith("whsec_")
    receiver.fail_first = 2
    call_id = visit_and_call(factory, setup, settings, "CA-retried")

    deliver_until(database, settings, clock, lambda: len(receiver.accepted()) == 3)

    events = sorted(r.event for r in receiver.accepted())
    assert events == ["call.attributed", "call.completed", "call.started"]
    for event in events:
        tries = receiver.of(event)
        assert [r.answered for r in tries] == [500, 500, 200]
        assert len({r.webhook_id for r in tries}) == 1  # the same message every time
        assert all(r.verified for r in tries)  # standardwebhooks verified each signature

    deliveries = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=auth).json()
    listed = deliveries["deliveries"]
    assert {d["event"] for d in listed} == set(events)
    for delivery in listed:
        assert delivery["state"] == "delivered"
        assert [a["response_code"] for a in delivery["attempts"]] == [500, 500, 200]
        # The first retry came within 10 s, the second within a minute of it.
        first, second, third = (datetime.fromisoformat(a["at"]) for a in delivery["attempts"])
        assert second - first <= timedelta(seconds=10)
        assert third - second <= timedelta(seconds=60)
        assert delivery["attempts"][0]["response_start"] == "receiver says no"
        assert delivery["attempts"][-1]["response_start"] == '{"ok": true}'
        assert all(a["latency_ms"] is not None for a in delivery["attempts"])
        assert delivery["webhook_id"] == receiver.of(delivery["event"])[0].webhook_id

    completed = json.loads(receiver.of("call.completed")[-1].body)
    assert completed["type"] == "call.completed"
    call = completed["data"]["call"]
    assert call["id"] == call_id
    assert call["from_number"] == CALLER
    assert call["status"] == "completed"
    assert call["duration"] == 60
    attribution = call["attribution"]
    assert attribution["source"] == "google"
    assert attribution["medium"] == "cpc"
    assert attribution["campaign"] == "spring-sale"
    assert attribution["term"] == "emergency plumber"
    assert attribution["click_ids"]["gclid"] == "Cj0KCQ-test"
    assert attribution["landing_page"] == "https://acme.test/drains?utm_source=google"
    assert attribution["confidence"] > 0
    assert attribution["candidates"] == []
    journey = call["journey"]
    assert [p["url"] for p in journey["pageviews"]] == [
        "https://acme.test/drains?utm_source=google",
        "https://acme.test/contact",
    ]
    assert journey["seconds_to_call"] == 240
    # The same data as the calls API shows.
    api_call = client.get(f"/api/v1/calls/{call_id}", headers=auth).json()
    assert api_call["attribution"] == attribution
    started_event = json.loads(receiver.of("call.started")[-1].body)
    assert started_event["data"]["call"]["status"] == "ringing"


def test_a_receiver_down_for_24_hours_disables_the_endpoint_and_the_owner_is_told(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
    mailbox: Mailbox,
) -> None:
    settings = settings.model_copy(update={"smtp_url": mailbox.url})
    owner_id = factory.user(setup.account)
    endpoint = add_endpoint(client, auth, receiver, ["call.started"])
    receiver.always = 503
    visit_and_call(factory, setup, settings, "CA-down")
    first = clock.now()

    def given_up() -> bool:
        with database.reader() as db:
            row = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook")).one()
            return row.state == "failed"

    deliver_until(database, settings, clock, given_up)

    tries = receiver.of("call.started")
    assert len({r.webhook_id for r in tries}) == 1
    times = [
        a["at"]
        for a in client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=auth).json()[
            "deliveries"
        ][0]["attempts"]
    ]
    assert len(times) == len(tries) >= 8
    assert clock.now() - first >= timedelta(hours=24)  # retried for at least a day

    shown = client.get(f"/api/v1/webhooks/{endpoint['id']}", headers=auth).json()
    assert shown["enabled"] is False
    assert "failed for 24 hours" in shown["disabled_reason"]
    # New events no longer go to it.
    visit_and_call(factory, setup, settings, "CA-after")
    jobs.deliver(database, settings)
    assert len(receiver.received) == len(tries)

    # Told by email (the same outbox delivers it) ...
    jobs.deliver(database, settings)
    mails = mailbox.to("owner@acme.test")
    assert len(mails) == 1
    assert mails[0]["Subject"] == "Webhook endpoint disabled: 127.0.0.1"
    assert receiver.url in mails[0].get_content()
    assert f"/dashboard/webhooks/{endpoint['id']}" in mails[0].get_content()
    assert owner_id
    # ... and in the dashboard.
    sign_in(client, "owner@acme.test")
    page = client.get("/dashboard/webhooks")
    assert "Disabled" in page.text
    assert "failed for 24 hours" in page.text


def test_the_worker_loop_delivers_promptly(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    """What `callpool worker` (and `serve` on SQLite) runs: deliveries every
    ``outbox_interval_seconds``, not at the next minute's round of the other jobs."""
    add_endpoint(client, auth, receiver)
    visit_and_call(factory, setup, settings, "CA-prompt")
    fast = settings.model_copy(update={"outbox_interval_seconds": 0.05})
    stop = worker.start_in_background(database, fast, provider_for(fast))
    try:
        assert receiver.accepting.wait(30), "nothing delivered"
    finally:
        stop.set()
        for thread in threading.enumerate():
            if thread.name == "worker":
                thread.join(30)  # it ends its round first: no job runs past the test
    assert [r.event for r in receiver.accepted()] == ["call.started"]
