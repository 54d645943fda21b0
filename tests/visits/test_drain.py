"""One address floods a real server with new visits; a visitor at another address still gets a
free number of their own (issue 11: "ten requests drain a pool").

The flood comes from 127.0.0.1, the visitor from 127.0.0.2 (a client bound to it): both reach
``callpool serve`` on 127.0.0.1. The pool keeps its default limit of numbers per address.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from callpool.db import Database
from callpool.models import Lease
from tests.processes import run_async
from tests.visits.servers import add_site_with_pool, serving, visit_request

SITE_KEY = "site_drain"
TRACKERS = 10
FLOOD = 60
DEFAULT_LIMIT = 3  # max_leases_per_address of a pool created without it
RATE = 20  # new sessions a minute per address (CALLPOOL_NEW_SESSIONS_PER_ADDRESS_PER_MINUTE)


async def flood(base: str) -> list[httpx2.Response]:
    async with httpx2.AsyncClient(timeout=30) as client:
        requests = (visit_request(SITE_KEY, n) for n in range(FLOOD))
        return await asyncio.gather(
            *(
                client.post(f"{base}/t/visit", content=body, headers=headers)
                for body, headers in requests
            )
        )


def visit_from(base: str, address: str) -> httpx2.Response:
    transport = httpx2.HTTPTransport(local_address=address)
    with httpx2.Client(transport=transport, timeout=30) as client:
        body, headers = visit_request(SITE_KEY, FLOOD)
        return client.post(f"{base}/t/visit", content=body, headers=headers)


@pytest.mark.slow
def test_a_flood_from_one_address_leaves_free_numbers_for_others(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    numbers = [f"+1512555{n:04d}" for n in range(TRACKERS)]
    add_site_with_pool(database, SITE_KEY, numbers)
    settings = {"new_sessions_per_address_per_minute": str(RATE)}
    with serving(database_url, tmp_path, 1, **settings) as [base]:
        flooded = run_async(flood(base))
        visitor = visit_from(base, "127.0.0.2")

    statuses = [answer.status_code for answer in flooded]
    assert statuses.count(200) == RATE  # the rest were refused, nothing stored for them
    assert statuses.count(429) == FLOOD - RATE
    drained = {a.json()["numbers"][0]["number"] for a in flooded if a.status_code == 200}
    assert len(drained) == DEFAULT_LIMIT

    assert visitor.status_code == 200
    answer = visitor.json()
    assert answer["numbers"][0]["number"] not in drained
    with database.reader() as db:
        lease = db.scalars(select(Lease).where(Lease.session_id == answer["s"])).one()
    assert lease.shared is False
