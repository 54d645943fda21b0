"""The storage foundation: migrations, UTC round-trips, API-key auth and tenant scoping."""

from __future__ import annotations

import re
import socket
import threading
from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from callpool.clock import FrozenClock
from callpool.db import CONNECT_TIMEOUT_SECONDS, Database
from callpool.models import Account, Base


def test_the_migration_builds_exactly_the_models(database: Database) -> None:
    """Alembic's autogenerate comparison of the migrated database with the models: a column,
    type, index, constraint or default in one and not the other is a difference."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_timestamps_come_back_aware_and_in_utc(database: Database, clock: FrozenClock) -> None:
    paris = timezone(timedelta(hours=1))
    with database.session() as db:
        db.add(Account(name="x", created_at=datetime(2026, 3, 1, 13, 0, tzinfo=paris)))
    with database.reader() as db:
        stored = db.scalar(select(Account.created_at))
    assert stored == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert stored is not None
    assert stored.tzinfo is not None


def api_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every operation of the API, from its OpenAPI document: a new router
    is in it, so the tests over it cover the new router too."""
    paths = app.openapi()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


def call(client: TestClient, method: str, path: str, key: str | None) -> Response:
    """The operation on ids that match nothing (so a valid key changes nothing), no body."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return client.request(method, re.sub(r"\{[^}]+\}", "999999", path), headers=headers)


def test_every_api_operation_refuses_a_missing_a_wrong_and_a_revoked_key(
    app: FastAPI, client: TestClient, auth: dict[str, str]
) -> None:
    created = client.post("/api/v1/api-keys", json={"name": "old"}, headers=auth)
    assert created.status_code == 201, created.text
    revoked = created.json()
    assert client.post(f"/api/v1/api-keys/{revoked['id']}/revoke", headers=auth).status_code == 204
    valid = auth["Authorization"].removeprefix("Bearer ")
    wrong = "cp_" + "x" * 40

    operations = api_operations(app)
    assert len(operations) > 30  # sites, keys, sessions, calls, pools, reports, webhooks
    for method, path in operations:
        refused = {
            "missing": call(client, method, path, None),
            "wrong": call(client, method, path, wrong),
            "revoked": call(client, method, path, revoked["key"]),
        }
        for which, answer in refused.items():
            assert answer.status_code == 401, f"{method} {path} with a {which} key: {answer.text}"
            assert "API key" in answer.json()["detail"]
        # The same request with a valid key gets past the check (404, 422…): the 401s above
        # are the key's doing.
        assert call(client, method, path, valid).status_code != 401, f"{method} {path}"


def test_the_api_documents_that_every_operation_needs_a_key(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    unsecured = [
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method, operation in item.items()
        if operation.get("security") != [{"HTTPBearer": []}]
    ]
    assert unsecured == []


def test_the_health_check_and_the_api_documents_need_no_key(client: TestClient) -> None:
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
