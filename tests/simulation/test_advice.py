"""Pool-size advice from a site's own last 30 days, as the worker refreshes it daily: the same
figures ``callpool simulate --site`` prints for that site, aimed at the account's target."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.cli import main
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, PoolEvent, Site
from callpool.settings import Settings, get_settings
from callpool.simulation.daily import (
    ADVICE,
    ADVICE_FAILED,
    DAYS,
    MIN_SESSIONS,
    Adviser,
    detail_of,
    latest_advice,
    pools_due,
)
from callpool.simulation.history import recorded_traffic
from callpool.simulation.traffic import Assumptions
from tests.dashboard.conftest import cheap_argon2, sign_in
from tests.factories import ORIGIN, Factory

__all__ = ["cheap_argon2"]  # the dashboard tests' autouse fixture: cheap password hashing

TARGET = 0.95  # the account's own, not the default 99 %


def record_sessions(
    factory: Factory, site: Site, clock: FrozenClock, count: int, every: timedelta
) -> None:
    """``count`` sessions back from now, one every ``every``, each of two pages."""
    for i in range(count):
        at = clock.now() - every * (i + 1)
        session = factory.session(site, started_at=at, last_seen_at=at + timedelta(minutes=4))
        factory.pageview(session, f"{ORIGIN}/", at)
        factory.pageview(session, f"{ORIGIN}/contact", at + timedelta(minutes=2))


def simulate_prints(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> dict[str, object]:
    """What ``callpool simulate --json`` with ``args`` prints, run as a user would, on the
    tests' database."""
    monkeypatch.setenv("CALLPOOL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CALLPOOL_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    capsys.readouterr()
    try:
        with pytest.raises(SystemExit) as exited:
            main(["simulate", *args, "--json"])
    finally:
        get_settings.cache_clear()
    assert exited.value.code == 0
    printed: dict[str, object] = json.loads(capsys.readouterr().out)
    return printed


def test_the_daily_advice_is_what_simulate_prints_for_the_site(
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    client: TestClient,
) -> None:
    account = factory.account("Acme Plumbing", accuracy_target=TARGET)
    auth = {"Authorization": f"Bearer {factory.api_key(account)}"}
    factory.user(account, "owner@acme.test")
    site = factory.site(account)
    pool = factory.pool(site, size=3)
    health = client.get(f"/api/v1/reports/pools/{pool.id}", headers=auth).json()
    assert health["advice"] is None  # until the first run
    factory.trackers(pool, ["+15125550301", "+15125550302", "+15125550303"])
    record_sessions(factory, site, clock, MIN_SESSIONS, timedelta(hours=3))

    adviser = Adviser()
    adviser(database, settings, None)  # starts `callpool simulate` for the site
    adviser.wait(timeout=300)
    with database.reader() as db:  # the child stored its answer (`worker --once` is gone)
        advice = latest_advice(db, pool.id)
        assert pools_due(db, clock.now()) is None  # refreshed daily, not every round
    adviser(database, settings, None)  # sees the child done; nothing else is due
    assert advice is not None
    assert advice.at == clock.now()
    # 100 sessions, one every 3 hours: the site's 12.5 days of traffic, not the 30 asked.
    assert (advice.size, advice.days, advice.sessions, advice.target) == (3, 12.5, 100, TARGET)
    assert [size for size, _ in advice.curve] == [3, 5, 10, 20, 40]
    assert advice.accuracy == dict(advice.curve)[3]

    # The command, without --target, aims at the site's account's target too.
    printed = simulate_prints(
        settings,
        monkeypatch,
        capsys,
        *("--site", str(site.id), "--days", str(DAYS), "--until", clock.now().isoformat()),
    )
    assert printed["target"] == TARGET
    with database.reader() as db:
        stored = db.scalars(select(PoolEvent.detail).where(PoolEvent.kind == ADVICE)).one()
    assert stored == detail_of(printed, 3)
    sizes = printed["sizes"]
    assert isinstance(sizes, list)
    recommended = printed["recommended_size"]
    assert isinstance(recommended, int)  # 95 % is within reach of the sizes tried

    # Pool health (the API and the dashboard) shows it.
    health = client.get(f"/api/v1/reports/pools/{pool.id}", headers=auth).json()
    assert health["advice"]["recommended_size"] == recommended
    assert health["advice"]["target"] == health["advice"]["account_target"] == TARGET
    assert health["advice"]["outdated"] is False
    assert health["advice"]["accuracy"] == advice.accuracy
    assert health["advice"]["curve"] == [
        {"size": e["size"], "accuracy": e["accuracy"], "naive_accuracy": e["naive"]["accuracy"]}
        for e in sizes
    ]
    sign_in(client, "owner@acme.test")
    page = client.get(f"/dashboard/pools/{pool.id}").text
    assert f"The smallest size reaching 95%: <strong>{recommended}</strong>." in page
    for entry in sizes:
        share = f"{entry['accuracy'] * 100:.1f}%"
        naive = f"{entry['naive']['accuracy'] * 100:.1f}%"
        assert f'<td class="num">{share}</td><td class="num">{naive}</td>' in page

    clock.advance(days=1)  # a day later the pool is due again
    with database.reader() as db:
        assert pools_due(db, clock.now()) == (pool.id, site.id, 3, TARGET)


def test_a_new_target_makes_the_advice_due_at_once(
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account = factory.account("Acme Plumbing")
    auth = {"Authorization": f"Bearer {factory.api_key(account)}"}
    site, other_site = factory.site(account), factory.site(account)
    pool = factory.pool(site, size=3)
    other = factory.pool(other_site, size=5)
    for each in (site, other_site):
        record_sessions(factory, each, clock, MIN_SESSIONS, timedelta(hours=3))
    factory.advice(other, at=clock.now() - timedelta(hours=23))
    factory.advice(pool, at=clock.now() - timedelta(hours=1))
    with database.reader() as db:
        assert pools_due(db, clock.now()) is None

    changed = client.patch("/api/v1/account", headers=auth, json={"accuracy_target": 0.98})
    assert changed.status_code == 200

    # Both pools' advice is for 99 %: both are due now, the one advised longest ago first.
    with database.reader() as db:
        assert pools_due(db, clock.now()) == (other.id, other_site.id, 5, 0.98)
    health = client.get(f"/api/v1/reports/pools/{pool.id}", headers=auth).json()["advice"]
    assert (health["target"], health["account_target"], health["outdated"]) == (0.99, 0.98, True)

    # The worker's run for the new target: the pool is no longer due.
    adviser = Adviser()
    adviser(database, settings, None)
    adviser.wait(timeout=300)
    adviser(database, settings, None)  # the first child done: the second pool's turn
    adviser.wait(timeout=300)
    with database.reader() as db:
        assert pools_due(db, clock.now()) is None
        advised = [latest_advice(db, each.id) for each in (other, pool)]
    assert [each.target if each else None for each in advised] == [0.98, 0.98]
    health = client.get(f"/api/v1/reports/pools/{pool.id}", headers=auth).json()["advice"]
    assert (health["target"], health["outdated"]) == (0.98, False)
    printed = simulate_prints(
        settings,
        monkeypatch,
        capsys,
        *("--site", str(site.id), "--days", str(DAYS), "--until", clock.now().isoformat()),
    )
    assert health["recommended_size"] == printed["recommended_size"]

    # A failed attempt after a change waits its day, as any failure does: no retry per round.
    client.patch("/api/v1/account", headers=auth, json={"accuracy_target": 0.9})
    factory.pool_event(pool, ADVICE_FAILED, clock.now())
    factory.pool_event(other, ADVICE_FAILED, clock.now())
    with database.reader() as db:
        assert pools_due(db, clock.now()) is None
    clock.advance(days=1)
    with database.reader() as db:
        assert pools_due(db, clock.now()) is not None


def test_a_site_with_too_few_sessions_gets_no_advice(
    database: Database, clock: FrozenClock, account: Account, factory: Factory
) -> None:
    site = factory.site(account)
    factory.pool(site, size=3)
    record_sessions(factory, site, clock, MIN_SESSIONS - 1, timedelta(hours=3))
    with database.reader() as db:
        assert pools_due(db, clock.now()) is None


def test_the_advice_is_for_the_pool_simulate_replays(
    database: Database, clock: FrozenClock, account: Account, factory: Factory
) -> None:
    """Of a site's session pools, the one its visitors get first (the highest priority), as
    ``simulate --site`` picks it: the advice's size is that pool's."""
    site = factory.site(account)
    factory.pool(site, size=3)
    preferred = factory.pool(site, size=8, priority=5)
    record_sessions(factory, site, clock, MIN_SESSIONS, timedelta(hours=3))
    with database.reader() as db:
        assert pools_due(db, clock.now()) == (preferred.id, site.id, 8, 0.99)


def test_a_busy_site_is_replayed_on_its_latest_whole_days(
    database: Database, clock: FrozenClock, account: Account, factory: Factory
) -> None:
    """Past the cap, the replay keeps whole days (night and day) rather than the latest
    sessions; a site busier than the cap in one day is replayed on its latest sessions."""
    site = factory.site(account)
    record_sessions(factory, site, clock, 72, timedelta(hours=1))  # 3 days, one an hour
    now = clock.now()
    with database.reader() as db:

        def replay(cap: int) -> tuple[int, float]:
            traffic = recorded_traffic(
                db,
                site.id,
                since=now - timedelta(days=DAYS),
                until=now,
                assumptions=Assumptions(),
                seed=1,
                max_sessions=cap,
            )
            return len(traffic.sessions), traffic.days

        assert replay(100) == (72, 3.0)  # under the cap: all of it (3 days, the site's age)
        assert replay(30) == (24, 1.0)  # the latest 30 cover 30 hours: one whole day
        assert replay(60) == (48, 2.0)
        assert replay(48) == (24, 1.0)  # the 48th is the day's first: maybe not all of it
        assert replay(20) == (20, 20 / 24)  # not one whole day under the cap: 20 hours
