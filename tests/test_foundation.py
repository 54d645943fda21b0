"""The storage foundation: migrations, UTC round-trips, API-key auth and tenant scoping."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta, timezone

from fastapi.testclient import TestClient
from sqlalchemy import inspect, select
from sqlalchemy.exc import OperationalError

from callpool.clock import FrozenClock
from callpool.db import CONNECT_TIMEOUT_SECONDS, Database
from callpool.models import Account, Base


def test_migrations_create_every_table(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_timestamps_come_back_aware_and_in_utc(database: Database, clock: FrozenClock) -> None:
    paris = timezone(timedelta(hours=1))
    with database.session() as db:
        db.add(Account(name="x", created_at=datetime(2026, 3, 1, 13, 0, tzinfo=paris)))
    with database.reader() as db:
        stored = db.scalar(select(Account.created_at))
    assert stored == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert stored is not None
    assert stored.tzinfo is not None


def test_api_requires_a_valid_key(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/healthz").json() == {"ok": True}


def test_a_postgresql_server_that_never_answers_fails_the_connection_instead_of_hanging() -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does), never speaks
    port = silent.getsockname()[1]
    database = Database(f"postgresql+psycopg://callpool@127.0.0.1:{port}/callpool")
    outcome: list[BaseException] = []

    def connect() -> None:
        try:
            database.engine.connect().close()
        except BaseException as error:  # the outcome is what is asserted
            outcome.append(error)

    attempt = threading.Thread(target=connect, daemon=True)
    attempt.start()
    attempt.join(CONNECT_TIMEOUT_SECONDS * 4)  # without the timeout: minutes
    silent.close()
    assert not attempt.is_alive(), "the connection attempt is still waiting"
    [error] = outcome
    assert isinstance(error, OperationalError)
    assert "timeout" in str(error).lower()
