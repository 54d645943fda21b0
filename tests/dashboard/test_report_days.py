"""The dashboard's report days are the account's (issue 13, item 6): a Chicago business's visit
and call at 23:00 on 2 January are on its 2 January, in the chart and in the pool's days."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import update

from callpool.db import Database
from callpool.models import Account, Lease
from tests.factories import Factory


def test_report_days_split_at_the_accounts_midnight(
    as_owner: TestClient, database: Database, factory: Factory, account: Account
) -> None:
    late = datetime(2026, 1, 3, 5, 0, tzinfo=UTC)  # 2 January, 23:00 in Chicago
    site = factory.site(account)
    pool = factory.pool(site)
    tracker = factory.tracker(pool, number="+15125550111", status="active")
    session = factory.session(site, source="google", medium="cpc", started_at=late)
    factory.add(
        Lease(
            tracker_id=tracker.id,
            session_id=session.id,
            started_at=late,
            leased_until=datetime(2026, 1, 3, 5, 30, tzinfo=UTC),
        )
    )
    factory.call(account, "+15550001", started_at=late, pool_id=pool.id)
    with database.session() as db:
        db.execute(update(Account).values(time_zone="America/Chicago"))

    page = as_owner.get("/dashboard/reports", params={"start": "2026-01-01", "end": "2026-01-04"})
    assert page.status_code == 200
    found = re.search(r'id="chart-data">(.*?)</script>', page.text)
    assert found is not None
    chart = json.loads(found.group(1))
    midnights = [datetime(2026, 1, day, 6, tzinfo=UTC).timestamp() for day in (1, 2, 3, 4)]
    assert chart["x"] == midnights  # Chicago's midnights, 06:00 UTC in winter
    assert chart["calls"] == [0, 1, 0, 0]
    assert chart["sessions"] == [0, 1, 0, 0]

    # The tests' clock reads 5 January, 06:00 in Chicago: its last seven days are shown.
    pool_page = as_owner.get(f"/dashboard/pools/{pool.id}").text
    assert '<td class="nowrap">Fri 02 Jan</td><td class="num">1</td>' in pool_page
    assert '<td class="nowrap">Sat 03 Jan</td><td class="num">0</td>' in pool_page
    assert "Tue 30 Dec" in pool_page
    assert "Mon 05 Jan" in pool_page
