"""Where each tracker forwards its calls, kept where a database outage cannot reach it.

A call must be forwarded even when the database is down. Routing needs very little — tracker
number → forward-to number and the recording flag — so every process keeps it in memory,
refreshed from the database, and writes it atomically to ``settings.routing_cache_path``; a
process that starts while the database is down loads it from that file.

One table per cache file per process (``routing_table(settings)``): the webhooks, the worker
and any code that changes pools or trackers share it without passing it around.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.db import Database
from callpool.models import Pool, Tracker
from callpool.models.tracker import ROUTED_STATUSES
from callpool.settings import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Route:
    number: str  # the tracker, E.164
    tracker_id: int
    pool_id: int
    account_id: int
    forward_to: str
    record: bool
    whisper: str | None = None


_FIELDS = tuple(field.name for field in fields(Route))

# A route as kept in the table: a plain tuple of strings, numbers and None. Python's garbage
# collector stops tracking such tuples, and then the dict holding them, so that a table of
# tens of thousands of trackers adds nothing to its full passes; those would otherwise stall
# every request in flight for tens of milliseconds, several times a minute under load.
_Packed = tuple[Any, ...]


def _pack(route: Route) -> _Packed:
    return tuple(vars(route).values())


class RoutingTable:
    """Tracker number → Route, in memory and in one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.refreshed_at: datetime | None = None
        self._routes: dict[str, _Packed] = {}
        self._document: str | None = None  # what the last refresh installed, if current
        self._lock = threading.Lock()

    def lookup(self, number: str) -> Route | None:
        packed = self._routes.get(number)
        return None if packed is None else Route(*packed)

    def __len__(self) -> int:
        return len(self._routes)

    def replace(self, document: str) -> None:
        """Install a complete table (``routes_document``) and persist it.

        Every process refreshes every minute and the table seldom changes: the same document
        again is not even parsed, and the same routes are not written again.
        """
        with self._lock:
            self.refreshed_at = clock.now()
            if document == self._document and self.path.exists():
                return
            routes = {row[0]: _packed_route(*row) for row in orjson.loads(document)}
            unchanged = routes == self._routes and self.path.exists()
            self._routes, self._document = routes, document
            if not unchanged:
                self._save()

    def remember(self, route: Route) -> None:
        """Keep one route seen in the database up to date, writing the file only on change."""
        packed = _pack(route)
        with self._lock:
            if self._routes.get(route.number) == packed:
                return
            self._routes = {**self._routes, route.number: packed}
            self._document = None
            self._save()

    def load(self) -> bool:
        """Read the file written by an earlier refresh; False when there is none usable."""
        try:
            data = orjson.loads(self.path.read_bytes())
            routes = {number: _pack(Route(**fields)) for number, fields in data["routes"].items()}
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.error("routing cache %s is unreadable: %s", self.path, error)
            return False
        with self._lock:
            self._routes, self._document = routes, None
            self.refreshed_at = datetime.fromisoformat(data["refreshed_at"])
        return True

    def _save(self) -> None:
        data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "refreshed_at": (self.refreshed_at or clock.now()).isoformat(),
            "routes": {
                number: dict(zip(_FIELDS, packed, strict=True))
                for number, packed in self._routes.items()
            },
        }
        try:
            write_atomically(self.path, orjson.dumps(data).decode())
        except OSError as error:
            # The memory copy still routes calls; the file only matters at the next start.
            log.error("could not write routing cache %s: %s", self.path, error)


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one (rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_tables: dict[Path, RoutingTable] = {}
_tables_lock = threading.Lock()


def routing_table(settings: Settings) -> RoutingTable:
    """This process's table for ``settings.routing_cache_path``; loaded from the file if new."""
    path = settings.routing_cache_path.resolve()
    with _tables_lock:
        table = _tables.get(path)
        if table is None:
            table = _tables[path] = RoutingTable(path)
            table.load()
        return table


def refresh_routing(database: Database, settings: Settings) -> RoutingTable:
    """Rebuild the table from the database and rewrite the file if it changed.

    Call it after anything that changes where a tracker's calls go: a tracker bought, activated
    or released, a pool's original number or recording flag changed, a pool deleted. Raises the
    database's error when it is unreachable (the table then keeps what it had).
    """
    with database.reader() as db:
        document = routes_document(db)
    table = routing_table(settings)
    table.replace(document)
    return table


def warm_routing(database: Database, settings: Settings) -> RoutingTable:
    """At start: refresh from the database if it answers, else keep what the file holds."""
    table = routing_table(settings)
    try:
        refresh_routing(database, settings)
    except Exception as error:  # any failure: start with the file rather than not at all
        log.error(
            "database unreachable at start, routing %d numbers from %s: %s",
            len(table),
            table.path,
            error,
        )
    return table


def routes_document(db: Session) -> str:
    """Every route's columns (``_packed_route``'s arguments), as one JSON array built by the
    database.

    One value, not a row per number: every process reloads this every minute, beside the
    visits. Read row by row, its thread waited for the GIL between any two rows; 150,000
    numbers then took seconds, during which SQLite's log could not start over and grew by
    100 MB. Ordered, so that an unchanged table reads as the same text.
    """
    columns = (
        select(
            Tracker.number,
            Tracker.id,
            Tracker.original_number,
            Pool.id,
            Pool.account_id,
            Pool.original_number,
            Pool.record_calls,
            Pool.whisper,
        )
        .join(Pool, Pool.id == Tracker.pool_id)
        .where(Tracker.status.in_(ROUTED_STATUSES))  # not while bought or released
        .order_by(Tracker.id)
        .subquery()
    )
    if db.get_bind().dialect.name == "sqlite":
        document = func.json_group_array(func.json_array(*columns.c))
    else:
        document = func.json_agg(func.json_build_array(*columns.c))
    return db.scalar(select(cast(document, Text))) or "[]"  # PostgreSQL: NULL for no rows


def route_of(tracker: Tracker, pool: Pool) -> Route:
    return _route(
        tracker.number,
        tracker.id,
        tracker.original_number,
        pool.id,
        pool.account_id,
        pool.original_number,
        pool.record_calls,
        pool.whisper,
    )


def _route(*columns: Any) -> Route:
    return Route(*_packed_route(*columns))


def _packed_route(
    number: str,
    tracker_id: int,
    tracker_forward_to: str | None,
    pool_id: int,
    account_id: int,
    pool_forward_to: str,
    record: bool,
    whisper: str | None,
) -> _Packed:
    """The routing rules, in one place: a tracker's route from its and its pool's columns,
    as the table keeps it (``Route``'s fields in order)."""
    # Fixed at activation; a tracker never activated forwards to the pool's number.
    forward_to = tracker_forward_to or pool_forward_to
    # bool(): SQLite's JSON has no booleans, it writes record_calls as 1 or 0.
    return (number, tracker_id, pool_id, account_id, forward_to, bool(record), whisper or None)
