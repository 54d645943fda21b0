"""Origins refused by the visit API, remembered for the verify step.

A page whose address is not among its site's origins asks for a number on every view; the
refusal is answered at once (``visits.api``) and noted here: in memory, and in the database
at most once a minute per (site, origin) and process, from a thread of its own, so a busy
misconfigured site costs the visit path a dict lookup per request.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from callpool import clock
from callpool.db import Database
from callpool.models import RefusedOrigin

log = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 60.0
MAX_REMEMBERED = 10_000  # random origins must not grow memory without end
SHOWN_FOR = timedelta(days=1)
MAX_ORIGIN = 300

_written: dict[tuple[str, int, str], float] = {}  # (database, site, origin) → written at
_lock = threading.Lock()
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refused-origins")


def note(database: Database, site_id: int, origin: str) -> None:
    """A request from ``origin`` was refused for ``site_id``: recorded soon, never waited for."""
    key = (database.url, site_id, origin[:MAX_ORIGIN])
    now = time.monotonic()
    with _lock:
        last = _written.get(key)
        if last is not None and now - last < WRITE_EVERY_SECONDS:
            return
        if len(_written) >= MAX_REMEMBERED:
            _written.clear()
        _written[key] = now
    _writer.submit(_record, database, site_id, key[2], clock.now())


def _record(database: Database, site_id: int, origin: str, at: datetime) -> None:
    try:
        with database.session() as db:
            insert: Any = (
                postgresql if database.engine.dialect.name == "postgresql" else sqlite
            ).insert
            db.execute(
                insert(RefusedOrigin)
                .values(site_id=site_id, origin=origin, first_seen_at=at, last_seen_at=at)
                .on_conflict_do_update(
                    index_elements=[RefusedOrigin.site_id, RefusedOrigin.origin],
                    set_={"last_seen_at": at},
                )
            )
    except Exception:  # a note for the dashboard: never worth more than a log line
        log.warning("could not record refused origin %s of site %s", origin, site_id, exc_info=True)


def recent(database: Database, site_id: int, allowed: list[str]) -> list[RefusedOrigin]:
    """The origins refused in the last day that are still not allowed, latest first."""
    since = clock.now() - SHOWN_FOR
    allowed_now = {origin.lower().rstrip("/") for origin in allowed}
    with database.reader() as db:
        rows = db.scalars(
            select(RefusedOrigin)
            .where(RefusedOrigin.site_id == site_id, RefusedOrigin.last_seen_at >= since)
            .order_by(RefusedOrigin.last_seen_at.desc())
            .limit(20)
        ).all()
    return [row for row in rows if row.origin not in allowed_now]
