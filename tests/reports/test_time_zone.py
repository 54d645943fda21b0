"""Report days are the account's (issue 13, item 6): a Chicago business's call at 23:30 on its
wall clock is on that day, not on the next UTC day; a DST change day has 23 or 25 hours."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from callpool.db import Database
from callpool.models import Account
from callpool.reports.rollup import rollup_days
from callpool.reports.service import parse_period

from .conftest import Make, World, at
from .test_rollup import LATER, everything

CHICAGO = "America/Chicago"


def set_zone(database: Database, account_id: int, zone: str) -> None:
    with database.session() as db:
        db.execute(update(Account).where(Account.id == account_id).values(time_zone=zone))


def report(client: TestClient, auth: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(f"/api/v1/reports/{path}", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def days(series: Any, measure: str = "calls") -> list[tuple[str, int]]:
    return [(bucket["start"], bucket[measure]) for bucket in series["buckets"]]


def test_a_call_at_half_past_eleven_at_night_is_on_its_local_day(
    client: TestClient, auth: dict[str, str], make: Make, account: Account, database: Database
) -> None:
    site = make.site(account)
    pool = make.pool(site)
    tracker = make.tracker(pool, "+15125550111", status="active")
    session = make.session(site, "01-03 05:00", "google", "cpc")  # 01-02 23:00 in Chicago
    make.lease(tracker, "01-03 05:00", "01-03 05:45", session)
    make.call(account, "01-03 05:30", "+15550001", pool_id=pool.id)  # 01-02 23:30 in Chicago
    period = {"start": "2026-01-01", "end": "2026-01-03", "interval": "day"}
    utc = report(client, auth, "timeseries", **period)
    assert days(utc)[1:] == [("2026-01-02T00:00:00Z", 0), ("2026-01-03T00:00:00Z", 1)]

    set_zone(database, account.id, CHICAGO)
    series = report(client, auth, "timeseries", **period)

    assert series["period"] == {"start": "2026-01-01T06:00:00Z", "end": "2026-01-04T06:00:00Z"}
    assert days(series) == [
        ("2026-01-01T00:00:00-06:00", 0),
        ("2026-01-02T00:00:00-06:00", 1),
        ("2026-01-03T00:00:00-06:00", 0),
    ]
    assert days(series, "sessions")[1] == ("2026-01-02T00:00:00-06:00", 1)
    [health] = report(client, auth, "pools", **period)
    peaks = [(bucket["start"], bucket["peak_leases"]) for bucket in health["buckets"]]
    assert peaks[1:] == [("2026-01-02T00:00:00-06:00", 1), ("2026-01-03T00:00:00-06:00", 0)]


def test_dst_change_days_have_23_and_25_hours(
    client: TestClient, auth: dict[str, str], make: Make, account: Account, database: Database
) -> None:
    set_zone(database, account.id, CHICAGO)
    make.site(account)
    make.call(account, "2026-03-09 04:30", "+15550001")  # 03-08 23:30 CDT: the short day
    make.call(account, "2026-11-02 05:30", "+15550002")  # 11-01 23:30 CST: the long day

    spring = report(client, auth, "timeseries", start="2026-03-08", end="2026-03-09")
    autumn = report(client, auth, "timeseries", start="2026-11-01", end="2026-11-01")

    assert spring["interval"] == autumn["interval"] == "hour"  # two days or less
    spring = report(
        client, auth, "timeseries", start="2026-03-08", end="2026-03-09", interval="day"
    )
    autumn = report(
        client, auth, "timeseries", start="2026-11-01", end="2026-11-02", interval="day"
    )
    assert days(spring) == [("2026-03-08T00:00:00-06:00", 1), ("2026-03-09T00:00:00-05:00", 0)]
    assert days(autumn) == [("2026-11-01T00:00:00-05:00", 1), ("2026-11-02T00:00:00-06:00", 0)]
    starts = [datetime.fromisoformat(start) for start, _ in days(spring) + days(autumn)]
    assert (starts[1] - starts[0]).total_seconds() == 23 * 3600
    assert (starts[3] - starts[2]).total_seconds() == 25 * 3600
    assert spring["period"]["end"] == "2026-03-10T05:00:00Z"


def test_bare_dates_are_days_of_the_zone() -> None:
    period = parse_period("2026-03-08", "2026-03-08", zone=ZoneInfo(CHICAGO))
    assert (period.start, period.end) == (at("2026-03-08 06:00"), at("2026-03-09 05:00"))
    instant = parse_period("2026-03-08T00:00", "2026-03-09T00:00", zone=ZoneInfo(CHICAGO))
    assert instant.start == at("2026-03-08 00:00")  # a date-time without a zone is UTC


@pytest.mark.parametrize("zone", [CHICAGO, "Asia/Kathmandu"])  # whole hours off UTC, +05:45
def test_rolled_up_days_give_the_same_local_days_as_live_rows(
    client: TestClient, auth: dict[str, str], world: World, database: Database, zone: str
) -> None:
    set_zone(database, world.account_id, zone)
    live = everything(client, auth, world)

    rollup_days(database, at(LATER))

    assert everything(client, auth, world) == live
