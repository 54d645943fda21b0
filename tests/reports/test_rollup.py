"""Daily rollups: the reports answer the same with rolled-up days as from the live rows alone."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, DailyCallStats, DailySessionStats, HourlyPoolStats, RolledDay
from callpool.reports.repository import split_period
from callpool.reports.rollup import forget, rollup_days
from callpool.reports.schemas import DIMENSIONS, Period
from callpool.settings import Settings
from callpool.telephony.registry import provider_for
from callpool.worker import run_once

from .conftest import Make, World, at

# Periods whose first or last day is partial, whole days, and one reaching into the live days.
PERIODS = [
    {"start": "2026-01-01", "end": "2026-01-04"},
    {"start": "2026-01-01T10:00", "end": "2026-01-04T09:30"},
    {"start": "2026-01-02T10:15", "end": "2026-01-03T14:30"},  # 28 hours: hourly buckets
    {"start": "2025-12-15", "end": "2026-01-06"},
]
LATER = "01-08 00:00"  # every day of the world is past the late window


def everything(client: TestClient, auth: dict[str, str], world: World) -> dict[str, Any]:
    """Every report of every period, as the API returns them."""
    answers: dict[str, Any] = {}
    for number, period in enumerate(PERIODS):
        queries: dict[str, dict[str, Any]] = {
            "totals": {},
            "totals?site": {"site_id": world.site_id},
            "timeseries": {},
            "timeseries?day": {"interval": "day"},
            "timeseries?site": {"site_id": world.site_id, "interval": "day"},
            "pools": {},
            "pools?hour": {"interval": "hour"} if number != 3 else {},
            f"pools/{world.pool_id}?day": {"interval": "day"},
        }
        for dimension in DIMENSIONS:
            queries[f"breakdown?{dimension}"] = {"dimension": dimension, "limit": 100}
            queries[f"breakdown?{dimension}&site"] = {
                "dimension": dimension,
                "site_id": world.site_id,
            }
        for name, params in queries.items():
            response = client.get(
                f"/api/v1/reports/{name.split('?')[0]}", params={**period, **params}, headers=auth
            )
            assert response.status_code == 200, response.text
            answers[f"{number} {name}"] = response.json()
    return answers


def rolled(database: Database) -> list[date]:
    with database.reader() as db:
        return list(db.scalars(select(RolledDay.day).order_by(RolledDay.day)))


def test_rolled_up_days_give_the_same_reports_as_live_rows(
    client: TestClient, auth: dict[str, str], world: World, database: Database
) -> None:
    live = everything(client, auth, world)

    written = rollup_days(database, at(LATER))

    assert written[0] == date(2025, 12, 1)  # the site's first day
    assert written[-1] == date(2026, 1, 5)  # two days before "now": the late window
    with database.reader() as db:
        split = split_period(db, Period(start=at("01-01 10:00"), end=at("01-04 09:30")))
    assert split.rolled == [(date(2026, 1, 2), date(2026, 1, 4))]
    assert [(p.start, p.end) for p in split.live] == [
        (at("01-01 10:00"), at("01-02 00:00")),
        (at("01-04 00:00"), at("01-04 09:30")),
    ]
    assert everything(client, auth, world) == live


def test_days_inside_the_late_window_stay_live(database: Database, world: World) -> None:
    # The test clock reads 01-05 12:00: 01-03 and later may still receive status callbacks.
    assert rollup_days(database)[-1] == date(2026, 1, 2)
    assert rolled(database)[-1] == date(2026, 1, 2)


def test_rolled_days_are_read_from_the_rollup(
    client: TestClient, auth: dict[str, str], world: World, database: Database
) -> None:
    rollup_days(database, at(LATER))
    with database.session() as db:
        db.execute(DailySessionStats.__table__.update().values(sessions=100))

    totals = client.get("/api/v1/reports/totals", params=PERIODS[0], headers=auth).json()

    assert totals["sessions"] > 100  # the rolled days' rows, not the live sessions


def test_rolling_up_twice_changes_nothing(database: Database, world: World) -> None:
    rollup_days(database, at(LATER))
    before = _rollup_rows(database)

    assert rollup_days(database, at(LATER)) == []
    assert rollup_days(database, at(LATER), redo=[date(2026, 1, 2)]) == [date(2026, 1, 2)]
    assert _rollup_rows(database) == before


def test_a_late_call_on_a_rolled_day_is_rolled_up_on_the_next_run(
    client: TestClient,
    auth: dict[str, str],
    world: World,
    database: Database,
    make: Make,
    account: Account,
) -> None:
    rollup_days(database, at(LATER))
    make.call(  # a call spooled during an outage, stored days later
        account, "01-03 11:00", "+15550077", status="completed", duration=50,
        source="google", medium="organic", pool_id=world.pool_id,
    )  # fmt: skip

    def calls() -> int:
        response = client.get("/api/v1/reports/totals", params=PERIODS[0], headers=auth)
        return int(response.json()["calls"])

    assert calls() == 5  # until the worker's next run, the rolled day shows what it had
    assert rollup_days(database, at(LATER)) == [date(2026, 1, 3)]
    assert calls() == 6
    rolled_answers = everything(client, auth, world)
    with database.session() as db:
        forget(db, rolled(database))  # every day read live again
    assert everything(client, auth, world) == rolled_answers


def test_several_workers_at_once_write_each_day_once(database: Database, world: World) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            rollup_days(database, at(LATER))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    days = rolled(database)
    assert len(days) == len(set(days)) == (date(2026, 1, 6) - date(2025, 12, 1)).days
    with database.reader() as db:
        # One source_medium row per site, day and value: a second writer would double them.
        duplicates = db.execute(
            select(DailySessionStats.site_id, DailySessionStats.day, DailySessionStats.value)
            .where(DailySessionStats.dimension == "source_medium")
            .group_by(
                DailySessionStats.site_id,
                DailySessionStats.day,
                DailySessionStats.value,
                DailySessionStats.value2,
            )
            .having(func.count() > 1)
        ).all()
    assert duplicates == []


@pytest.mark.parametrize("interval", ["hour", "day"])
def test_pool_peaks_across_a_rolled_day_boundary(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    world: World,
    make: Make,
    account: Account,
    interval: str,
) -> None:
    # Leases running from rolled days into a live one count on both sides of midnight, the
    # one that began three days earlier as well (the live sweep reads no older leases).
    site = make.site(account, "night.test")
    pool = make.pool(site, name="Night")
    tracker = make.tracker(pool, "+15125550222")
    other = make.tracker(pool, "+15125550223")
    visit = make.session(site, "01-05 23:00", "x", "y")
    make.lease(tracker, "01-05 23:00", "01-06 01:00", visit)
    make.lease(other, "01-03 08:00", "01-06 02:00", make.session(site, "01-03 08:00", "x", "y"))
    make.lease(tracker, "01-02 08:00", "01-02 09:00", visit)  # over before: never read
    params = {"start": "2026-01-05T20:00", "end": "2026-01-06T03:00", "interval": interval}
    live = client.get(f"/api/v1/reports/pools/{pool.id}", params=params, headers=auth).json()

    rollup_days(database, at(LATER))  # 01-05 is rolled up, 01-06 is not

    after = client.get(f"/api/v1/reports/pools/{pool.id}", params=params, headers=auth).json()
    assert after == live
    assert [b["peak_leases"] for b in after["buckets"]] == (
        [1, 1, 1, 2, 2, 1, 0] if interval == "hour" else [2, 2]
    )


def _rollup_rows(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    tables = {"sessions": DailySessionStats, "calls": DailyCallStats, "pools": HourlyPoolStats}
    with database.reader() as db:
        return {
            name: sorted(
                (tuple(row[1:]) for row in db.execute(select(table.__table__))),
                key=repr,
            )
            for name, table in tables.items()
        }


def test_the_worker_rolls_up_the_closed_days(
    database: Database, settings: Settings, world: World, clock: FrozenClock
) -> None:
    clock.advance(days=3)  # 01-08 12:00: every day of the world is past the late window

    run_once(database, settings, provider_for(settings))

    assert rolled(database)[-1] == date(2026, 1, 5)
