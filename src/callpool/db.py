"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode, and every transaction that may write starts with ``BEGIN IMMEDIATE``:
a deferred transaction that reads and then writes can fail with SQLITE_BUSY instead of waiting,
which is how concurrent processes double-assign or drop visits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# SQLite copies its write-ahead log into the database file (a checkpoint, with fsyncs) when the
# log reaches this many pages, inside whichever commit crosses the line, stalling its caller.
# A serving app checkpoints in the background instead (see ``checkpoint_in_background``), which
# keeps the log far below this mark; the mark only bounds the log where nothing does.
AUTOCHECKPOINT_PAGES = 10_000
# A PostgreSQL server that accepts connections but does not answer (overloaded, or a network
# that drops packets) would otherwise hold each connecting thread for minutes: threads the
# webhooks and visits need. A call is routed from the local table after its own deadline
# anyway; this frees the thread that was trying.
CONNECT_TIMEOUT_SECONDS = 5
# How long a SQLite connection waits for another's write lock. Threads (the dashboard, the
# worker) may wait that long; the visit path's group commits never wait on the event loop
# (see ``callpool.visits.group_commit``).
BUSY_TIMEOUT_MS = 30_000
# How long a thread waits for a free PostgreSQL connection when all are in use (SQLAlchemy's
# default is 30 s). A page or an API client is better told "unavailable, retry" sooner, and a
# waiting thread is one the other requests cannot use.
POOL_TIMEOUT_SECONDS = 10
# The database is away or overloaded (down, a lock held past its timeout, no free connection),
# not a bug in a query: work is kept for later, and HTTP answers 503 with Retry-After.
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # Held by the visit API's group commits while they write (``callpool.visits.group_commit``)
        # and by a checkpoint while it finishes: see ``checkpoint``.
        self.wal_lock = threading.Lock()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(callpool_read_only=True), expire_on_commit=False
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only unit of work; on SQLite it does not take the write lock."""
        with self._readers() as session, session.begin():
            yield session

    def migrate(self) -> None:
        upgrade(self.engine)

    def checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database file without blocking anyone.

        The log starts over from its beginning only after a checkpoint has copied all of it,
        and under steady load commits keep adding to it while it is copied. So the bulk is
        copied beside the writers, twice, then the rest (the frames committed meanwhile: ~3 ms
        with the fsyncs, at full load here) while group commits wait on ``wal_lock``. The log
        then stays a few megabytes, rewritten in place, instead of growing to the
        autocheckpoint mark and being copied inside some visit's commit.
        """
        raw = self.engine.raw_connection()
        try:
            connection: Any = raw.driver_connection
            for _ in range(2):  # the bulk, then what was committed meanwhile
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with self.wal_lock:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            raw.close()

    def checkpoint_in_background(self, interval: float = 0.1) -> threading.Event:
        """Checkpoint every ``interval`` seconds in a thread until the returned event is set,
        so that requests seldom pay for a checkpoint's fsync. Often: each copies and syncs
        little, and the log is synced to disk at least that often (``synchronous=NORMAL``
        syncs it only at checkpoints)."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval):
                try:
                    self.checkpoint()
                except Exception:  # a busy or vanished file: the next round tries again
                    log.warning("SQLite checkpoint failed", exc_info=True)

        threading.Thread(target=run, daemon=True, name="sqlite-checkpoint").start()
        return stop

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(
            url,
            echo=echo,
            pool_size=10,
            max_overflow=20,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
    engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when a transaction starts (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes; WAL-safe
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    read_only = connection.get_execution_options().get("callpool_read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)
