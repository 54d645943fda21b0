"""What the benchmarks start from: one account, one site and a session pool of sandbox numbers,
built with the tests' factories (``tests/factories.py``)."""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from callpool import clock
from callpool.db import Database
from callpool.models import Account, Site

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: tests.*
from tests.factories import Factory

BUSINESS_NUMBER = "+15125550100"  # fictional (555-01xx), as the demo's


def session_pool_site(
    database: Database,
    *,
    site_key: str,
    origin: str,
    trackers: int,
    business_number: str = BUSINESS_NUMBER,
) -> Site:
    """A site with ``site_key`` serving ``origin``, its pool's trackers active and never leased,
    swapped for ``business_number``.

    Numbers ``+15122000000`` on: seven digits after the area code, for up to a million.
    """
    factory = Factory(database, clock.clock)
    account = factory.account("Bench Plumbing")
    site = factory.site(
        account, name="shop", public_key=site_key, allowed_origins=[origin], region="US"
    )
    pool = factory.pool(
        site,
        name="Website visitors",
        original_number=business_number,
        swap_number=business_number,
        size=trackers,
    )
    factory.trackers(pool, [f"+1512{2_000_000 + index}" for index in range(trackers)])
    return site


def api_key(database: Database, site: Site) -> str:
    """A new API key of ``site``'s account, for the benchmark's requests."""
    with database.reader() as db:
        account = db.get_one(Account, site.account_id)
    return Factory(database, clock.clock).api_key(account, "bench")


@contextmanager
def database_for(engine: str, pg_server: str) -> Iterator[str]:
    """A fresh, empty database URL for a benchmark run: a temporary SQLite file, or a new
    PostgreSQL database on ``pg_server``, dropped afterwards."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    name = f"callpool_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{pg_server.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
