"""Several workers: a pool is rebalanced by one of them at a time (STYLE.md point 7)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select, update

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Pool, PoolEvent
from callpool.pools.rebalance import rebalance_due_pools
from tests.pools.conftest import AddVisits, MakePool, RecordingSandbox


def test_a_second_worker_waits_for_the_first_and_then_skips_the_pool(
    make_pool: MakePool,
    database: Database,
    visits: AddVisits,
    clock: FrozenClock,
    provider: RecordingSandbox,
) -> None:
    pool = make_pool(size=2, utilization=1.0)
    visits("google", "cpc", 200)
    clock.advance(minutes=5)
    results: list[int] = []

    with database.session() as db:
        # The first worker claims the pool and is still busy with it (uncommitted) …
        db.execute(update(Pool).where(Pool.id == pool.id).values(rebalanced_at=clock.now()))
        second = threading.Thread(
            target=lambda: results.append(
                rebalance_due_pools(database, provider, public_url="https://callpool.test")
            )
        )
        second.start()
        time.sleep(0.5)  # let the second worker reach the pool's row and wait on it
        assert results == []  # still waiting: it saw the pool due, the claim is held

    # … and once the first commits, the second finds the pool claimed and leaves it alone.
    second.join(timeout=30)
    assert results == [0]
    with database.reader() as db:
        rebalances = db.scalar(
            select(func.count()).where(PoolEvent.pool_id == pool.id, PoolEvent.kind == "rebalanced")
        )
    assert rebalances == 0
