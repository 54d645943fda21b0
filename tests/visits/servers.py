"""Real ``callpool serve`` processes on a test's database (``tests/security``'s), and the
sites and visits the assignment tests give them. Only addresses on this machine (127.0.0.0/8)
are ever served or used by clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from callpool.clock import Clock
from callpool.db import Database
from tests.factories import Factory
from tests.security.conftest import server_env
from tests.security.conftest import serving as serving_processes

BUSINESS = "+15125550100"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def origin(site_key: str) -> str:
    return f"https://{site_key}.example"


def add_site_with_pool(database: Database, site_key: str, numbers: list[str], **fields: Any) -> int:
    """A site ``site_key`` (its origin: ``origin(site_key)``) of a new account, with a session
    pool of active trackers with ``numbers`` (pool ``fields`` as given); the pool's id."""
    factory = Factory(database, Clock())
    site = factory.site(
        factory.account(site_key),
        name=site_key,
        public_key=site_key,
        allowed_origins=[origin(site_key)],
    )
    values: dict[str, Any] = {"original_number": BUSINESS, "swap_number": BUSINESS, **fields}
    pool = factory.pool(site, name=f"{site_key} pool", size=len(numbers), **values)
    factory.trackers(pool, numbers)
    return pool.id


def visit_request(site_key: str, n: int) -> tuple[str, dict[str, str]]:
    """The body and headers of the snippet's ``/t/visit`` for a new visitor of ``site_key``."""
    page = origin(site_key)
    body = f'{{"k":"{site_key}","u":"{page}/?n={n}","r":"","t":"Welcome"}}'
    headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": page, "User-Agent": CHROME}
    return body, headers


@contextmanager
def serving(database_url: str, folder: Path, count: int, **settings: str) -> Iterator[list[str]]:
    """``count`` ``callpool serve`` processes on the database (``CALLPOOL_`` settings given by
    their lower-case names); their base URLs. Stopped when the block ends."""
    env = server_env(database_url, **{f"CALLPOOL_{k.upper()}": v for k, v in settings.items()})
    with serving_processes(env, folder, count) as servers:
        yield [server.base for server in servers]
