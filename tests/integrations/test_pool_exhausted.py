"""pool.exhausted: derived by the worker from the exhaustion events visits record, at most one
message per pool and endpoint per hour; and several workers claim each message once."""

from __future__ import annotations

import json
import threading

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.integrations import jobs, outbox
from callpool.models import OutboxMessage, PoolEvent
from callpool.settings import Settings
from tests.dashboard.conftest import visit
from tests.integrations.conftest import Receiver, Setup, add_endpoint


def exhaust(client: TestClient, setup: Setup, visits: int) -> None:
    """Visits from one address to a pool of one number: all but the first find it taken."""
    for page in range(visits):
        visit(client, setup.site.public_key, f"https://acme.test/page-{page}")


def exhaustions(database: Database) -> int:
    with database.reader() as db:
        count: int = db.scalar(
            select(func.count()).select_from(PoolEvent).where(PoolEvent.kind == "exhausted")
        )
        return count


def test_an_exhausted_pool_is_told_once_an_hour(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    setup: Setup,
    receiver: Receiver,
) -> None:
    add_endpoint(client, auth, receiver, ["pool.exhausted"])
    exhaust(client, setup, 3)
    assert exhaustions(database) == 2

    jobs.deliver(database, settings)
    assert receiver.received == []  # events settle for a few seconds first
    clock.advance(seconds=11)
    jobs.deliver(database, settings)
    [told] = receiver.received
    assert told.verified
    body = json.loads(told.body)
    assert body["type"] == "pool.exhausted"
    assert body["data"]["pool"]["id"] == setup.pool.id
    assert body["data"]["exhaustions"] == 2

    exhaust(client, setup, 2)  # still full, within the hour: nothing more
    clock.advance(seconds=11)
    jobs.deliver(database, settings)
    assert len(receiver.received) == 1

    # An hour later (the leases have ended meanwhile): full again, told again. (Counted in
    # the outbox: the receiver's clock is an hour behind the moved one.)
    clock.advance(hours=1)
    exhaust(client, setup, 2)
    clock.advance(seconds=11)
    jobs.deliver(database, settings)
    with database.reader() as db:
        told_ids = db.scalars(
            select(OutboxMessage.message_id).where(OutboxMessage.event == "pool.exhausted")
        ).all()
    assert len(set(told_ids)) == 2


def test_two_workers_claim_each_message_once(
    database: Database, settings: Settings, clock: FrozenClock, setup: Setup
) -> None:
    with database.session() as db:
        for number in range(60):
            outbox.enqueue(
                db,
                account_id=setup.account.id,
                kind="webhook",
                target_id=0,
                event="call.started",
                payload={"n": number},
            )
    claimed: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def work(slot: int) -> None:
        start.wait()
        while batch := outbox.claim_due(database, limit=7):
            claimed[slot] += [message.id for message in batch]

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    everything = claimed[0] + claimed[1]
    assert len(everything) == 60
    assert len(set(everything)) == 60
    with database.reader() as db:
        sending = db.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "sending")
        )
    assert sending == 60
