"""``callpool serve`` as a real process while its database is down or locked: the caller is
forwarded at once from the routing table, and every call is stored once the database is back.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from callpool.accounts.service import create_api_key
from callpool.calls import spool
from callpool.calls.routing import refresh_routing
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.errors import DATABASE_UNAVAILABLE
from callpool.settings import Settings
from tests.calls.conftest import Factory
from tests.processes import (
    PgServer,
    ServeProcess,
    postgres_bindir,
    running_postgres,
    unavailable,
)
from tests.waiting import wait_for

FORWARD_TO = "+15125550777"
OWN_PG_PORT = 5442  # our own server, stopped and started by these tests; never the shared one


@pytest.fixture(scope="module")
def own_pg() -> Iterator[PgServer]:
    bindir = postgres_bindir()
    if bindir is None:
        unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        raise AssertionError  # unreachable: unavailable() skips or fails
    with running_postgres(bindir, OWN_PG_PORT) as server:
        yield server


def seeded(url: str, workdir: Path) -> tuple[str, str]:
    """A migrated database with one tracker forwarding to FORWARD_TO, and the routing table
    file a previous run would have left; returns (tracker number, API key)."""
    database = Database(url)
    database.migrate()
    factory = Factory(database, FrozenClock())
    account = factory.account("Acme Plumbing")
    tracker = factory.tracker(factory.pool(factory.site(account)), original_number=FORWARD_TO)
    with database.session() as db:
        key = create_api_key(db, account.id, "outage test")
    settings = Settings(
        database_url=url,
        routing_cache_path=workdir / "routing.json",
        _env_file=None,  # type: ignore[call-arg]
    )
    refresh_routing(database, settings)
    database.dispose()
    return tracker.number, key


def stored_calls(serve: ServeProcess, key: str) -> list[dict[str, object]]:
    try:
        answer = serve.http.get("/api/v1/calls", headers={"Authorization": f"Bearer {key}"})
    except httpx2.TransportError:
        return []
    if answer.status_code != 200:
        return []  # the database is not back yet
    calls: list[dict[str, object]] = answer.json()["calls"]
    return calls


def assert_forwarded(answer: httpx2.Response) -> None:
    assert answer.status_code == 200
    assert '<Dial callerId="+14155550123"' in answer.text
    assert f">{FORWARD_TO}</Number>" in answer.text


def test_serve_starts_with_postgresql_down_forwards_calls_and_stores_them_when_it_is_back(
    own_pg: PgServer, tmp_path: Path
) -> None:
    number, key = seeded(own_pg.create_database("outage_at_start"), tmp_path)
    own_pg.stop()
    serve = ServeProcess(tmp_path, {"CALLPOOL_DATABASE_URL": own_pg.url("outage_at_start")})
    try:
        serve.start()
        answers = [serve.voice(number, f"CA{index}") for index in range(3)]
        ended = serve.status("CA0", "completed", 42)
        down_log = serve.log()

        own_pg.start()
        wait_for(lambda: len(stored_calls(serve, key)) >= 3, "the spooled calls", timeout=60)
        wait_for(lambda: spool.pending(serve.spool_dir) == 0, "the spool to drain", timeout=30)
        calls = stored_calls(serve, key)
    finally:
        serve.stop()

    for answer in answers:
        assert_forwarded(answer)
    assert ended.status_code == 200
    assert down_log.count("database unreachable at start") == 1
    assert "Traceback" not in down_log
    assert sorted(str(call["provider_call_id"]) for call in calls) == ["CA0", "CA1", "CA2"]
    by_id = {call["provider_call_id"]: call for call in calls}
    assert (by_id["CA0"]["status"], by_id["CA0"]["duration"]) == ("completed", 42)
    assert {call["forwarded_to"] for call in calls} == {FORWARD_TO}


def test_calls_during_a_held_sqlite_write_lock_are_forwarded_and_stored_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "callpool.db"
    number, key = seeded(f"sqlite:///{path}", tmp_path)
    serve = ServeProcess(tmp_path, {"CALLPOOL_DATABASE_URL": f"sqlite:///{path}"})
    lock = sqlite3.connect(path, isolation_level=None)
    try:
        serve.start()
        lock.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
        answers = [serve.voice(number, f"CA{index}") for index in range(3)]
        during_the_lock = stored_calls(serve, key)  # readers still read (WAL)
        lock.execute("ROLLBACK")
        wait_for(lambda: len(stored_calls(serve, key)) >= 3, "the spooled calls", timeout=60)
        calls = stored_calls(serve, key)
    finally:
        lock.close()
        serve.stop()

    for answer in answers:
        assert_forwarded(answer)
    assert during_the_lock == []  # answered, not stored yet: the database could not take them
    assert sorted(str(call["provider_call_id"]) for call in calls) == ["CA0", "CA1", "CA2"]


def test_while_postgresql_is_down_the_api_and_the_dashboard_answer_503_with_retry_after(
    own_pg: PgServer, tmp_path: Path
) -> None:
    _number, key = seeded(own_pg.create_database("outage_midway"), tmp_path)
    serve = ServeProcess(tmp_path, {"CALLPOOL_DATABASE_URL": own_pg.url("outage_midway")})
    auth = {"Authorization": f"Bearer {key}"}
    try:
        serve.start()
        before = serve.http.get("/api/v1/calls", headers=auth)
        login = serve.http.get("/dashboard/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf is not None
        own_pg.stop()
        try:
            api = serve.http.get("/api/v1/calls", headers=auth)
            page = serve.http.post(
                "/dashboard/login",
                data={
                    "csrf": csrf[1],
                    "next": "",
                    "email": "owner@acme.test",
                    "password": "x" * 12,
                },
            )
            health = serve.http.get("/healthz")
        finally:
            own_pg.start()
        wait_for(
            lambda: serve.http.get("/api/v1/calls", headers=auth).status_code == 200,
            "the API to answer again",
            timeout=60,
        )
        log = serve.log()
    finally:
        serve.stop()

    assert before.status_code == 200
    assert (api.status_code, api.headers["retry-after"]) == (503, "5")
    assert api.json() == {"detail": DATABASE_UNAVAILABLE}
    assert (page.status_code, page.headers["retry-after"]) == (503, "5")
    assert "The database is not answering" in page.text
    assert health.status_code == 200  # the process is alive: a balancer keeps it
    assert "database unavailable: OperationalError" in log
    assert "Traceback" not in log
