"""Several OS processes assigning numbers at once never lease one tracker to two sessions.

Each process has its own engine and connections, as app processes behind a load balancer do.
They start together (a barrier) and each starts many new sessions against the same pool. The
pool holds fewer trackers than sessions: the first ``TRACKERS`` sessions must each get their
own tracker, and only the rest may share (overflow ``reuse``), marked as shared.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import traceback
from collections import defaultdict
from datetime import datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import select

from callpool import clock as clock_module
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Lease, Pool, PoolEvent, Site, Tracker
from callpool.visits import service
from callpool.visits.group_commit import GroupCommit
from callpool.visits.schemas import VisitIn
from callpool.visits.site_cache import SiteCache

PROCESSES = 5
VISITS_EACH = 40
BURST = 4  # visits started together in one process
TRACKERS = 180  # 200 visits: 20 must overflow
SITE_KEY = "site_race"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def _visit_many(url: str, barrier: Barrier, worker: int, now: datetime) -> None:
    """One app process: its visits arrive in bursts, as the server's event loop batches them.
    Its clock is frozen at the test's ``now``, so every lease overlaps every other."""
    clock_module.use(FrozenClock(now))
    try:
        database = Database(url)
        site = SiteCache(database).site(SITE_KEY)
        assert site is not None
        client = service.Client(CHROME, f"10.0.0.{worker}")
        commits = GroupCommit(database)

        async def burst(numbers: range) -> None:
            bodies = [
                VisitIn(k=SITE_KEY, u=f"https://race.example/?w={worker}&n={n}") for n in numbers
            ]
            await asyncio.gather(
                *(commits.run(service.visit, site, body, client, "secret") for body in bodies)
            )

        async def visit_all() -> None:
            for start in range(0, VISITS_EACH, BURST):
                await burst(range(start, min(start + BURST, VISITS_EACH)))

        barrier.wait(timeout=60)
        asyncio.run(visit_all())
        database.dispose()
    except BaseException:
        traceback.print_exc()
        raise


@pytest.mark.slow
def test_no_tracker_is_leased_twice_while_free_ones_remain(
    database: Database,
    database_url: str,
    account: Account,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with database.session() as db:
        site = Site(
            account_id=account.id,
            name="Race",
            public_key=SITE_KEY,
            allowed_origins=["https://race.example"],
            created_at=clock.now(),
        )
        db.add(site)
        db.flush()
        pool = Pool(
            account_id=account.id,
            site_id=site.id,
            name="Race pool",
            kind="session",
            original_number="+15125550100",
            size=TRACKERS,
            overflow_policy="reuse",
            max_leases_per_address=0,  # each process's visits come from one address
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        db.add(pool)
        db.flush()
        for i in range(TRACKERS):
            db.add(
                Tracker(
                    pool_id=pool.id,
                    number=f"+1512555{i:04d}",
                    provider="sandbox",
                    status="active",
                    created_at=clock.now(),
                )
            )
    database.dispose()

    # spawn, not fork: a forked child inherits whatever lock another thread of this process
    # held at that moment (the browser tests' Playwright, coverage), and may wait on it forever.
    context = multiprocessing.get_context("spawn")
    monkeypatch.syspath_prepend(str(Path(__file__).parents[2]))  # the children import ``tests``
    barrier = context.Barrier(PROCESSES)
    workers = [
        context.Process(target=_visit_many, args=(database_url, barrier, w, clock.now()))
        for w in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
    assert [process.exitcode for process in workers] == [0] * PROCESSES

    with database.reader() as db:
        leases = db.scalars(select(Lease)).all()
        exhausted = db.scalars(select(PoolEvent).where(PoolEvent.kind == "exhausted")).all()
    own = [lease for lease in leases if not lease.shared]
    assert len(leases) == PROCESSES * VISITS_EACH
    assert len(own) == TRACKERS  # every tracker went to exactly one session first...
    assert len({lease.tracker_id for lease in own}) == TRACKERS
    assert len(exhausted) == PROCESSES * VISITS_EACH - TRACKERS  # ...and only then shared
    assert _overlapping_unshared(own) == []


def _overlapping_unshared(leases: list[Lease]) -> list[tuple[int, int]]:
    by_tracker: dict[int, list[Lease]] = defaultdict(list)
    for lease in leases:
        by_tracker[lease.tracker_id].append(lease)
    clashes = []
    for held in by_tracker.values():
        held.sort(key=lambda lease: lease.started_at)
        for before, after in itertools.pairwise(held):
            if after.started_at < before.leased_until:
                clashes.append((before.id, after.id))
    return clashes
