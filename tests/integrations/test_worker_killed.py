"""A worker killed (SIGKILL, a real process) after sending and before recording: the message
is sent again once its lease runs out, with the same webhook-id. Maybe twice, never lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.integrations import jobs, outbox
from callpool.models import DeliveryAttempt, OutboxMessage
from callpool.settings import Settings
from tests.calls.conftest import Factory
from tests.integrations.conftest import Receiver, Setup, add_endpoint, visit_and_call

WORKER = textwrap.dedent(
    """
    import sys
    from callpool.db import Database
    from callpool.integrations import jobs
    from callpool.settings import Settings

    settings = Settings(
        database_url=sys.argv[1],
        secret_key="test-secret-key-0123456789",
        webhooks_allow_private=True,
        _env_file=None,
    )
    jobs.deliver(Database(settings.database_url), settings)
    """
)


def test_a_worker_killed_mid_delivery_loses_nothing_and_keeps_the_webhook_id(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    add_endpoint(client, auth, receiver, ["call.started"])
    receiver.hold = True  # the first request is received, then never answered
    visit_and_call(factory, setup, settings, "CA-killed")

    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, settings.database_url],
        env={**os.environ, "CALLPOOL_SECRET_KEY": "test-secret-key-0123456789"},
    )
    try:
        assert receiver.arrived.wait(60), "the worker never sent the webhook"
        os.kill(worker.pid, signal.SIGKILL)  # sent; its answer not yet recorded
    finally:
        worker.wait(30)
    assert worker.returncode == -signal.SIGKILL
    receiver.hold = False
    receiver.release.set()

    with database.reader() as db:
        row = db.scalars(select(OutboxMessage)).one()
        assert row.state == outbox.SENDING  # claimed by the dead worker, never recorded
        assert db.scalars(select(DeliveryAttempt)).all() == []
        lease_until = row.lease_until
    assert lease_until is not None
    # Nobody takes it while the dead worker's lease runs ...
    clock.set(max(clock.now(), datetime.now(UTC)))
    assert jobs.deliver(database, settings) == 0
    # ... and the next worker does once it has run out.
    clock.set(lease_until)
    assert jobs.deliver(database, settings) == 1

    # Seen twice, as one message: the same webhook-id both times.
    assert len(receiver.received) == 1
    again = receiver.received[0]
    assert receiver.held == [again.webhook_id]
    assert again.verified
    assert again.answered == 200
    with database.reader() as db:
        row = db.scalars(select(OutboxMessage)).one()
        assert row.state == outbox.DELIVERED
        assert row.message_id == again.webhook_id
        attempts = db.scalars(select(DeliveryAttempt)).all()
    assert [a.ok for a in attempts] == [True]
