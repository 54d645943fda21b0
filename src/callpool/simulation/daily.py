"""Pool-size advice from each site's own last 30 days, refreshed daily by the worker.

The advice is what ``callpool simulate --site ID --days 30 --json`` prints for the account's
accuracy target, computed by the worker in a child process: the simulation is seconds to
minutes of CPU, which in ``callpool serve``'s worker thread would hold the GIL against the
visit path; a child runs beside it at a lower priority, and stores its answer itself as a
``PoolEvent`` of kind ``advice`` on the site's session pool (the pool ``simulate --site``
replays), so the answer is kept even when the worker ran ``--once`` and is gone. One child
at a time per worker; pool health shows the latest.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any, NamedTuple

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from callpool import clock
from callpool.db import Database
from callpool.models import Account, Pool, PoolEvent, Site, VisitSession
from callpool.models.pool import SESSION
from callpool.settings import Settings, get_settings
from callpool.telephony.base import Provider

log = logging.getLogger(__name__)

ADVICE = "advice"  # PoolEvent.kind
EVERY = timedelta(days=1)
DAYS = 30
# A child still running after this is stopped; its pool is tried again on the next day.
CHILD_TIMEOUT = timedelta(minutes=30)
MIN_SESSIONS = 100


@dataclass(frozen=True, slots=True)
class Advice:
    """The stored outcome of one simulation of a pool's site."""

    at: datetime
    target: float
    days: float
    sessions: int
    size: int
    accuracy: float | None  # at the pool's own size
    recommended_size: int | None
    curve: list[tuple[int, float]]  # (size, accuracy), ours
    naive_curve: list[tuple[int, float]]


def latest_advice(db: Session, pool_id: int) -> Advice | None:
    event = db.scalar(
        select(PoolEvent)
        .where(PoolEvent.pool_id == pool_id, PoolEvent.kind == ADVICE)
        .order_by(PoolEvent.at.desc(), PoolEvent.id.desc())
        .limit(1)
    )
    return None if event is None else advice_of(event.at, event.detail)


def advice_of(at: datetime, detail: dict[str, Any]) -> Advice:
    return Advice(
        at=at,
        target=detail["target"],
        days=detail["days"],
        sessions=detail["sessions"],
        size=detail["size"],
        accuracy=detail["accuracy"],
        recommended_size=detail["recommended_size"],
        curve=[(size, accuracy) for size, accuracy in detail["curve"]],
        naive_curve=[(size, accuracy) for size, accuracy in detail["naive_curve"]],
    )


def detail_of(printed: dict[str, Any], size: int) -> dict[str, Any]:
    """What is stored of ``simulate --json``'s answer for a pool of ``size`` numbers."""
    sizes = printed["sizes"]
    return {
        "target": printed["target"],
        "days": printed["days"],
        "sessions": printed["sessions"],
        "size": size,
        "accuracy": next((e["accuracy"] for e in sizes if e["size"] == size), None),
        "recommended_size": printed["recommended_size"],
        "curve": [[e["size"], e["accuracy"]] for e in sizes],
        "naive_curve": [[e["size"], e["naive"]["accuracy"]] for e in sizes],
    }


def simulate_args(site_id: int, until: datetime, target: float) -> list[str]:
    """The ``callpool simulate`` arguments whose answer is the advice."""
    return [
        "simulate",
        "--site",
        str(site_id),
        "--days",
        str(DAYS),
        "--until",
        until.isoformat(),
        "--target",
        str(target),
        "--json",
    ]


def command(due: Due, until: datetime) -> list[str]:
    """The child's command line: ``advise_in_child`` at a lower CPU priority. The target is
    passed as read when the pool was found due, so the stored advice says which target it
    was for even if the account's changes meanwhile (then it is due again at once)."""
    runner = (
        "import os, sys; os.nice(10); "
        "from callpool.simulation.daily import advise_in_child; advise_in_child(sys.argv[1:])"
    )
    return [
        sys.executable,
        "-c",
        runner,
        str(due.pool_id),
        str(due.size),
        *simulate_args(due.site_id, until, due.target),
    ]


def advise_in_child(argv: list[str]) -> None:
    """Run ``callpool simulate`` (``argv[2:]``), print its JSON and store it as the advice of
    pool ``argv[0]`` of size ``argv[1]``, dated at ``--until``."""
    from callpool.cli import build_parser  # the CLI imports the worker, which imports this
    from callpool.simulation.command import simulated

    pool_id, size, simulate = int(argv[0]), int(argv[1]), argv[2:]
    args = build_parser().parse_args(simulate)
    printed = simulated(args).as_dict()
    print(json.dumps(printed))
    database = Database(get_settings().database_url)
    try:
        _record(database, pool_id, args.until, detail_of(printed, size))
    finally:
        database.dispose()


@dataclass
class _Child:
    pool_id: int
    process: subprocess.Popen[bytes]
    output: IO[bytes]
    started: datetime


class Adviser:
    """The worker's advice job: at most one ``simulate`` child at a time, per process."""

    def __init__(self) -> None:
        self._child: _Child | None = None
        self._lock = threading.Lock()

    def __call__(self, database: Database, settings: Settings, _provider: Provider) -> None:
        with self._lock:
            if self._child is not None and not self._finished(database, self._child):
                return
            self._child = self._start_next(database, settings)

    def wait(self, timeout: float) -> None:
        """Block until the running child (if any) exits: for ``worker --once`` and tests."""
        if self._child is not None:
            self._child.process.wait(timeout)

    def _finished(self, database: Database, child: _Child) -> bool:
        """Whether the child is done (it stored the advice itself, or failed: recorded here,
        so that the pool waits a day rather than fail every round)."""
        code = child.process.poll()
        if code is None:
            if clock.now() - child.started < CHILD_TIMEOUT:
                return False
            child.process.kill()
            child.process.wait()
            log.warning("pool %s: advice took too long; stopped", child.pool_id)
            code = -1
        child.output.seek(0)
        text = child.output.read().decode(errors="replace")
        child.output.close()
        if code != 0:
            log.warning("pool %s: advice failed (%s): %s", child.pool_id, code, text[-500:])
            _record(database, child.pool_id, child.started, None)
        return True

    def _start_next(self, database: Database, settings: Settings) -> _Child | None:
        now = clock.now()
        with database.reader() as db:
            due = pools_due(db, now)
        if due is None:
            return None
        output = tempfile.TemporaryFile()  # noqa: SIM115 (closed when the child is read)
        # The child reads its settings from the environment: this process's database, and
        # its secret key (so that the child never generates one of its own).
        env = {
            **os.environ,
            "CALLPOOL_DATABASE_URL": settings.database_url,
            "CALLPOOL_SECRET_KEY": settings.secret_key,
        }
        process = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            command(due, now), stdout=output, stderr=subprocess.STDOUT, env=env
        )
        return _Child(due.pool_id, process, output, now)


class Due(NamedTuple):
    """A pool whose advice is due, and the target to simulate for."""

    pool_id: int
    site_id: int
    size: int
    target: float  # the account's accuracy target


def pools_due(db: Session, now: datetime) -> Due | None:
    """A site's first live session pool (by priority) whose advice is due: none yet, the last
    one (or the last failed attempt) a day old, or an advice for another target than the
    account's now (the owner changed it: due at once, and before the day-old ones, as they
    are waiting for it). Only sites with ``MIN_SESSIONS`` sessions in the days replayed (fewer
    say nothing about a pool's size). A failed attempt waits its day even after a target
    change, so that a pool whose simulation fails is not tried every round."""
    # The pool ``simulate --site`` replays (``history.site_pool``): the one visitors get.
    first_pool = (
        select(Pool.id)
        .where(Pool.site_id == Site.id, Pool.kind == SESSION, Pool.deleted_at.is_(None))
        .order_by(Pool.priority.desc(), Pool.id)
        .limit(1)
        .correlate(Site)
        .scalar_subquery()
    )
    latest_id = (
        select(PoolEvent.id)
        .where(PoolEvent.pool_id == Pool.id, PoolEvent.kind.in_((ADVICE, ADVICE_FAILED)))
        .order_by(PoolEvent.at.desc(), PoolEvent.id.desc())
        .limit(1)
        .correlate(Pool)
        .scalar_subquery()
    )
    latest = aliased(PoolEvent)
    # JSON field extraction: json_extract on SQLite, ->> and a cast on PostgreSQL.
    stored_target = latest.detail["target"].as_float()
    retarget = (latest.kind == ADVICE) & (
        func.abs(stored_target - Account.accuracy_target) > TARGET_TOLERANCE
    )
    rows = db.execute(
        select(Pool.id, Pool.site_id, Pool.size, Account.accuracy_target)
        .join(Site, Site.id == Pool.site_id)
        .join(Account, Account.id == Site.account_id)
        .outerjoin(latest, latest.id == latest_id)
        .where(Site.deleted_at.is_(None), Pool.id == first_pool)
        .where(latest.id.is_(None) | (latest.at <= now - EVERY) | retarget)
        .order_by(latest.id.is_not(None), case((retarget, 0), else_=1), latest.at, Pool.id)
    )
    for pool_id, site_id, size, target in rows:
        if _busy_enough(db, site_id, now):
            return Due(pool_id, site_id, size, target)
    return None


# Targets are stored to 4 decimals (accounts.service.checked_target): anything closer is
# the same target read back through JSON.
TARGET_TOLERANCE = 1e-6


def _busy_enough(db: Session, site_id: int, now: datetime) -> bool:
    """Whether the site has ``MIN_SESSIONS`` in the days replayed: one index range, read no
    further than that many entries."""
    nth = db.scalar(
        select(VisitSession.started_at)
        .where(VisitSession.site_id == site_id, VisitSession.started_at >= now - timedelta(DAYS))
        .order_by(VisitSession.started_at)
        .offset(MIN_SESSIONS - 1)
        .limit(1)
    )
    return nth is not None


ADVICE_FAILED = "advice_failed"


def _record(database: Database, pool_id: int, at: datetime, detail: dict[str, Any] | None) -> None:
    kind = ADVICE if detail is not None else ADVICE_FAILED
    with database.session() as db:
        db.add(PoolEvent(pool_id=pool_id, kind=kind, at=at, detail=detail or {}))


advise_pool_sizes = Adviser()
