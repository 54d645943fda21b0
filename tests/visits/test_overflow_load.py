"""Three ``callpool serve`` processes on one database, a pool smaller than the visitors at once.

Many new visits at once, spread over the processes, each policy in turn (``reuse``,
``fallback``, ``original``; one site and pool each). What visitors and the operator must see:
every visit answered 200 (a visit that waited 2 s for the database would be answered 503, one
that deadlocked 500), each tracker leased to one session before any is shared, and no visit
shared a number or went without one while a tracker of its pool was free. The last is read
from the leases: at the start of each shared lease, and at each "exhausted" event, every
tracker of the pool was leased.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from callpool.db import Database
from callpool.models import Lease, PoolEvent, Tracker
from tests.processes import run_async
from tests.visits.servers import add_site_with_pool, serving, visit_request

PROCESSES = 3
TRACKERS = 10  # per pool: far fewer than the visits in flight
VISITS = 240  # per policy
CONCURRENCY = 48
POLICIES = ("reuse", "fallback", "original")
FALLBACK = "+15125550199"
ANSWER_WITHIN = 30  # seconds: a hung request fails the test, it does not hang it


def seed(database: Database) -> dict[str, int]:
    """One site and session pool per policy: the pool's id by policy."""
    return {
        policy: add_site_with_pool(
            database,
            f"site_{policy}",
            [f"+1512555{index}{n:03d}" for n in range(TRACKERS)],
            overflow_policy=policy,
            overflow_number=FALLBACK,
            max_leases_per_address=0,  # every visit comes from 127.0.0.1
        )
        for index, policy in enumerate(POLICIES)
    }


async def visit_all(bases: list[str], policy: str) -> list[httpx2.Response]:
    """``VISITS`` new visits, ``CONCURRENCY`` at a time, spread over the processes."""
    limits = httpx2.Limits(max_connections=CONCURRENCY)
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx2.AsyncClient(timeout=ANSWER_WITHIN, limits=limits) as client:

        async def one(n: int) -> httpx2.Response:
            body, headers = visit_request(f"site_{policy}", n)
            async with gate:
                base = bases[n % len(bases)]
                return await client.post(f"{base}/t/visit", content=body, headers=headers)

        return await asyncio.gather(*(one(n) for n in range(VISITS)))


def leased_at(leases: list[Lease], tracker_ids: set[int], at: datetime) -> set[int]:
    return {
        lease.tracker_id
        for lease in leases
        if lease.tracker_id in tracker_ids and lease.started_at <= at < lease.leased_until
    }


@pytest.mark.slow
def test_an_exhausted_pool_under_load_from_several_processes(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    pools = seed(database)
    no_rate_limit = {"new_sessions_per_address_per_minute": "0"}  # one address, like an office
    with serving(database_url, tmp_path, PROCESSES, **no_rate_limit) as bases:
        answers = {policy: run_async(visit_all(bases, policy)) for policy in POLICIES}

    with database.reader() as db:
        for policy, pool_id in pools.items():
            statuses = [answer.status_code for answer in answers[policy]]
            assert statuses == [200] * VISITS, (policy, sorted(set(statuses)))
            shown = [answer.json()["numbers"] for answer in answers[policy]]
            trackers = set(db.scalars(select(Tracker.id).where(Tracker.pool_id == pool_id)))
            leases = list(
                db.scalars(
                    select(Lease).where(Lease.tracker_id.in_(trackers)).order_by(Lease.started_at)
                )
            )
            events = list(
                db.scalars(
                    select(PoolEvent).where(
                        PoolEvent.pool_id == pool_id, PoolEvent.kind == "exhausted"
                    )
                )
            )
            own = [lease for lease in leases if not lease.shared]
            # Each tracker went to one session, and only then did anyone overflow.
            assert sorted(lease.tracker_id for lease in own) == sorted(trackers), policy
            assert len(events) == VISITS - TRACKERS, policy
            overflowed = [lease.started_at for lease in leases if lease.shared]
            overflowed += [event.at for event in events]
            free_then = [at for at in overflowed if leased_at(leases, trackers, at) != trackers]
            assert free_then == [], policy
            if policy == "reuse":
                assert len(leases) == VISITS
                assert all(len(numbers) == 1 for numbers in shown)
            else:
                assert len(leases) == TRACKERS
                overflow_numbers = [n[0]["number"] if n else None for n in shown]
                expected = FALLBACK if policy == "fallback" else None
                assert overflow_numbers.count(expected) == VISITS - TRACKERS, policy
