"""A session-pool number that keeps getting calls with no lease behind it is listed in pool
health (the API and the pool's page) as probably leaked."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account
from tests.dashboard.conftest import cheap_argon2, sign_in
from tests.factories import Factory

__all__ = ["cheap_argon2"]  # the dashboard tests' autouse fixture: cheap password hashing


def test_numbers_called_without_a_lease_are_listed_as_leaked(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    clock: FrozenClock,
    account: Account,
) -> None:
    factory = Factory(database, clock)
    site = factory.site(account)
    pool = factory.pool(site, size=3)
    printed = factory.tracker(pool, number="+15125550501")  # in a flyer, say
    visited = factory.tracker(pool, number="+15125550502")
    once = factory.tracker(pool, number="+15125550503")
    start = clock.now() - timedelta(days=3)

    def calls(tracker: object, count: int, reason: str) -> None:
        for i in range(count):
            factory.call(
                account,
                f"+1202555{i:04d}",
                tracker_id=tracker.id,  # type: ignore[attr-defined]
                pool_id=pool.id,
                attribution_reason=reason,
                started_at=start + timedelta(hours=i),
            )

    calls(printed, 3, "no_lease")
    calls(printed, 1, "repeat_caller_first_touch")  # a caller of the flyer calls again
    calls(visited, 5, "lease")
    calls(once, 2, "no_lease")  # a visitor calling back days later: not a leak yet

    health = client.get(f"/api/v1/reports/pools/{pool.id}", headers=auth).json()
    assert health["leaked_numbers"] == [
        {
            "tracker_id": printed.id,
            "number": "+15125550501",
            "calls_without_lease": 4,
            "last_call_at": (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        }
    ]

    factory.user(account, "owner@acme.test")
    sign_in(client, "owner@acme.test")
    page = client.get(f"/dashboard/pools/{pool.id}").text
    assert "Numbers that may have leaked" in page
    assert '<td>+15125550501</td><td class="num">4</td>' in page
    assert "+15125550503" not in page.split("Numbers that may have leaked")[1]
