"""The pool's dashboard page shows its simulated accuracy by size, beside the usual guidance."""

from __future__ import annotations

from fastapi.testclient import TestClient

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, PoolEvent
from callpool.simulation.daily import ADVICE
from tests.dashboard.conftest import cheap_argon2, sign_in
from tests.factories import Factory

__all__ = ["cheap_argon2"]  # the dashboard tests' autouse fixture: cheap password hashing

DETAIL = {
    "target": 0.99,
    "days": 30,
    "sessions": 15000,
    "size": 20,
    "accuracy": 0.8267,
    "recommended_size": 480,
    "curve": [[10, 0.41], [20, 0.8267], [480, 0.991]],
    "naive_curve": [[10, 0.35], [20, 0.76], [480, 0.99]],
}


def test_the_pool_page_shows_accuracy_by_size(
    client: TestClient, database: Database, clock: FrozenClock, account: Account
) -> None:
    factory = Factory(database, clock)
    factory.user(account, "owner@acme.test")
    site = factory.site(account)
    pool = factory.pool(site, size=20)
    sign_in(client, "owner@acme.test")

    page = client.get(f"/dashboard/pools/{pool.id}").text
    assert "Accuracy by pool size" in page
    assert "The worker simulates this pool's accuracy" in page  # none yet

    factory.add(PoolEvent(pool_id=pool.id, kind=ADVICE, at=clock.now(), detail=DETAIL))
    page = client.get(f"/dashboard/pools/{pool.id}").text
    assert "At 20 numbers, <strong>82.7%</strong> of calls go to the right visit" in page
    assert "The smallest size reaching 99%: <strong>480</strong>" in page
    assert "20 (now)" in page
    assert '<td class="num">41.0%</td><td class="num">35.0%</td>' in page
    assert "under 100 daily visitors 4–6 numbers" in page
