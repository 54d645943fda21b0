"""Pool-size advice from a site's own last 30 days, as the worker refreshes it daily: the same
figures ``callpool simulate --site`` prints for that site."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.cli import main
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, PoolEvent
from callpool.settings import Settings, get_settings
from callpool.simulation.daily import (
    ADVICE,
    DAYS,
    MIN_SESSIONS,
    Adviser,
    detail_of,
    latest_advice,
    pools_due,
)
from tests.factories import ORIGIN, Factory


def record_sessions(factory: Factory, site: object, clock: FrozenClock, count: int) -> None:
    """``count`` sessions of the last two weeks, one every 3 hours, each of two pages."""
    for i in range(count):
        at = clock.now() - timedelta(hours=3 * (i + 1))
        session = factory.session(site, started_at=at, last_seen_at=at + timedelta(minutes=4))
        factory.pageview(session, f"{ORIGIN}/", at)
        factory.pageview(session, f"{ORIGIN}/contact", at + timedelta(minutes=2))


def test_the_daily_advice_is_what_simulate_prints_for_the_site(
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    account: Account,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    client: TestClient,
    auth: dict[str, str],
) -> None:
    factory = Factory(database, clock)
    site = factory.site(account)
    pool = factory.pool(site, size=3)
    health = client.get(f"/api/v1/reports/pools/{pool.id}", headers=auth).json()
    assert health["advice"] is None  # until the first run
    factory.trackers(pool, ["+15125550301", "+15125550302", "+15125550303"])
    record_sessions(factory, site, clock, MIN_SESSIONS)

    adviser = Adviser()
    adviser(database, settings, None)  # starts `callpool simulate` for the site
    adviser.wait(timeout=300)
    with database.reader() as db:  # the child stored its answer (`worker --once` is gone)
        advice = latest_advice(db, pool.id)
        assert pools_due(db, clock.now()) is None  # refreshed daily, not every round
    adviser(database, settings, None)  # sees the child done; nothing else is due
    assert advice is not None
    assert advice.at == clock.now()
    assert (advice.size, advice.days, advice.sessions, advice.target) == (3, DAYS, 100, 0.99)
    assert [size for size, _ in advice.curve] == [3, 5, 10, 20, 40]
    assert advice.accuracy == dict(advice.curve)[3]

    monkeypatch.setenv("CALLPOOL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CALLPOOL_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit):
            main(["simulate", "--site", str(site.id), "--days", str(DAYS), "--json"])
    finally:
        get_settings.cache_clear()
    printed = json.loads(capsys.readouterr().out)
    with database.reader() as db:
        stored = db.scalars(select(PoolEvent.detail).where(PoolEvent.kind == ADVICE)).one()
    assert stored == detail_of(printed, 3)
    assert advice.recommended_size == printed["recommended_size"]

    # Pool health (the API and the dashboard) shows it.
    health = client.get(f"/api/v1/reports/pools/{pool.id}", headers=auth).json()
    assert health["advice"]["recommended_size"] == printed["recommended_size"]
    assert health["advice"]["accuracy"] == advice.accuracy
    assert health["advice"]["curve"] == [
        {"size": e["size"], "accuracy": e["accuracy"], "naive_accuracy": e["naive"]["accuracy"]}
        for e in printed["sizes"]
    ]

    clock.advance(days=1)  # a day later the pool is due again
    with database.reader() as db:
        assert pools_due(db, clock.now()) == (pool.id, site.id, 3)


def test_a_site_with_too_few_sessions_gets_no_advice(
    database: Database, clock: FrozenClock, account: Account
) -> None:
    factory = Factory(database, clock)
    site = factory.site(account)
    factory.pool(site, size=3)
    record_sessions(factory, site, clock, MIN_SESSIONS - 1)
    with database.reader() as db:
        assert pools_due(db, clock.now()) is None
