"""Times on the dashboard are the account's (issue 13, item 6): an Austin business sees its
7:09 pm call at 19:09, not at 01:09 UTC. API timestamps stay ISO 8601 with their offset."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from callpool.db import Database
from callpool.models import Account
from tests.dashboard.conftest import AccountData


def test_calls_are_shown_in_the_accounts_time_zone(
    as_owner: TestClient, database: Database, account_data: AccountData, auth: dict[str, str]
) -> None:
    # The tests' clock: 2026-01-05 12:00 UTC, when account_data's call rang.
    assert "2026-01-05 12:00 UTC" in as_owner.get("/dashboard/calls").text
    with database.session() as db:
        db.execute(update(Account).values(time_zone="America/Chicago"))
    page = as_owner.get("/dashboard/calls").text
    assert "2026-01-05 06:00 CST" in page
    assert "12:00 UTC" not in page
    call = as_owner.get(f"/dashboard/calls/{account_data.call_id}").text
    assert "2026-01-05 06:00 CST" in call
    assert "06:00:00</span> <strong>called" in call  # the journey's times too
    assert "12:00:00" not in call
    api = as_owner.get("/api/v1/calls", headers=auth).json()
    assert api["calls"][0]["started_at"].endswith(("+00:00", "Z"))


def test_an_unknown_zone_name_falls_back_to_utc(
    as_owner: TestClient, database: Database, account_data: AccountData
) -> None:
    with database.session() as db:
        db.execute(update(Account).values(time_zone="Mars/Olympus_Mons"))
    assert "2026-01-05 12:00 UTC" in as_owner.get("/dashboard/calls").text
