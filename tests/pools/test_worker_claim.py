"""Several workers: a pool is rebalanced by one of them at a time (STYLE.md point 7)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event, func, select, update

from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Pool, PoolEvent
from callpool.pools.rebalance import rebalance_due_pools
from tests.pools.conftest import AddVisits, MakePool, RecordingSandbox
from tests.waiting import wait_for

# What a worker sends to claim a pool, and then waits on while another holds the claim:
# SQLite's write lock is taken at BEGIN IMMEDIATE, PostgreSQL's row lock by the UPDATE.
CLAIMS = ("BEGIN IMMEDIATE", "UPDATE pools")


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
    claiming: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread() is not main and statement.startswith(CLAIMS):
            claiming.append(statement)

    main = threading.current_thread()
    event.listen(database.engine, "before_cursor_execute", seen)

    with database.session() as db:
        # The first worker claims the pool and is still busy with it (uncommitted) …
        db.execute(update(Pool).where(Pool.id == pool.id).values(rebalanced_at=clock.now()))
        second = threading.Thread(
            target=lambda: results.append(
                rebalance_due_pools(database, provider, public_url="https://callpool.test")
            )
        )
        second.start()
        # It saw the pool due and is claiming it: that waits for the first worker's commit.
        wait_for(lambda: claiming, "the second worker to claim the pool")
        assert results == []

    # … and once the first commits, the second finds the pool claimed and leaves it alone.
    second.join(timeout=30)
    assert results == [0]
    with database.reader() as db:
        rebalances = db.scalar(
            select(func.count()).where(PoolEvent.pool_id == pool.id, PoolEvent.kind == "rebalanced")
        )
    assert rebalances == 0
