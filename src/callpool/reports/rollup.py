"""Daily rollups: the reports' counts for closed UTC days, so a report reads a row per day
and value instead of every session, call and lease.

UTC days for every account, whatever its time zone: its periods use the UTC days they contain
and read their ragged ends live, and its daily buckets are read live when its midnights are
not UTC's (why: ``callpool.reports.service``).

Late data. A day is rolled up once it ended ``LATE_WINDOW`` ago (two days): by then the calls
that were in progress at midnight have their status and duration, attribution has run and
leases running across midnight have their end. Until then the reports read the day live, so
they are exact for recent days. Later than that, one kind of late data is noticed on its own:
calls added to a rolled day (a spool replayed after an outage) change the day's call count,
and each run rolls up again every day of the last ``RECHECK`` whose count differs. Anything
else (an old call re-attributed by hand) needs ``rollup_days(..., redo=[day])``.

Safe to run in several workers: each batch of days is deleted and written again in one
transaction, under a PostgreSQL advisory lock (SQLite's ``BEGIN IMMEDIATE`` serializes
writers already); the rows depend only on the live data, so running twice changes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session

from callpool import clock
from callpool.db import Database
from callpool.models import (
    Account,
    Call,
    DailyCallStats,
    DailySessionStats,
    HourlyPoolStats,
    Lease,
    Pool,
    RolledDay,
    Site,
    Tracker,
    VisitSession,
)
from callpool.reports import repository
from callpool.reports.expressions import as_utc, day_start, landing_page
from callpool.reports.repository import ANSWERED, DAY, midnight
from callpool.reports.schemas import Period
from callpool.reports.service import bucket_starts, fold_sweep
from callpool.telephony.base import MISSED

log = logging.getLogger("callpool.reports.rollup")

HOUR = timedelta(hours=1)
LATE_WINDOW = timedelta(days=2)
RECHECK = timedelta(days=35)  # how far back late calls are looked for on each run
BATCH_DAYS = 31  # days written per transaction: one lease sweep per pool covers them
_LOCK_KEY = 0x726F6C6C  # "roll": the PostgreSQL advisory lock of the rollup writer


def rollup_days(
    database: Database, now: datetime | None = None, *, redo: Iterable[date] = ()
) -> list[date]:
    """Roll up every closed day that is due, or stale, or in ``redo``; returns those days."""
    now = now or clock.now()
    redo = set(redo)
    due = _due_days(database, now) | _stale_days(database, now) | redo
    written: list[date] = []
    for batch in _batches(sorted(due)):
        with database.session() as db:
            if db.get_bind().dialect.name == "postgresql":
                db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            # Once the lock is held: another worker may have written some days meanwhile.
            calls = _call_counts(db, batch)
            batch = [day for day in batch if day in redo or _needed(db, day, calls)]
            if batch:
                _write(db, batch, calls)
                written += batch
    if written:
        log.info("rolled up %d days, %s to %s", len(written), written[0], written[-1])
    return written


def forget(db: Session, days: Iterable[date]) -> None:
    """Mark days as not rolled up: the reports read them live until the next run."""
    db.execute(delete(RolledDay).where(RolledDay.day.in_(list(days))))


# --- which days ----------------------------------------------------------------------------


def _due_days(database: Database, now: datetime) -> set[date]:
    """Closed days past the late window, from the first data on, not rolled up yet."""
    last = (now - LATE_WINDOW).date()  # the first day not due yet
    with database.reader() as db:
        first = _first_day(db)
        if first is None or first >= last:
            return set()
        done = set(db.scalars(select(RolledDay.day).where(RolledDay.day >= first)))
    return {first + DAY * n for n in range((last - first).days)} - done


def _first_day(db: Session) -> date | None:
    """The first day a site or account existed. Earlier days are not rolled up, which is
    only slower, never wrong: the reports read any day without a rollup live."""
    firsts = [
        db.scalar(select(func.min(Site.created_at))),
        db.scalar(select(func.min(Account.created_at))),
    ]
    known = [as_utc(first) for first in firsts if first is not None]
    return min(known).date() if known else None


def _stale_days(database: Database, now: datetime) -> set[date]:
    """Rolled days of the last ``RECHECK`` whose call count changed since."""
    since = (now - RECHECK).date()
    with database.reader() as db:
        rolled = dict(
            db.execute(select(RolledDay.day, RolledDay.calls).where(RolledDay.day >= since)).all()
        )
        if not rolled:
            return set()
        live = _call_counts(db, sorted(rolled))
    return {day for day, calls in rolled.items() if live[day] != calls}


def _call_counts(db: Session, days: list[date]) -> Counter[date]:
    """Calls per day, of every account, from the first of ``days`` to the last."""
    day = day_start(Call.started_at)
    query = (
        select(day, func.count())
        .where(
            Call.account_id.in_(select(Account.id)),  # lets the planner use the account index
            Call.started_at >= midnight(days[0]),
            Call.started_at < midnight(days[-1] + DAY),
        )
        .group_by(day)
    )
    return Counter({as_utc(bucket).date(): int(count) for bucket, count in db.execute(query)})


def _needed(db: Session, day: date, calls: Counter[date]) -> bool:
    done = db.get(RolledDay, day)
    return done is None or done.calls != calls[day]


def _batches(days: list[date]) -> Iterator[list[date]]:
    """Runs of consecutive days, at most ``BATCH_DAYS`` long."""
    batch: list[date] = []
    for day in days:
        if batch and (day != batch[-1] + DAY or len(batch) == BATCH_DAYS):
            yield batch
            batch = []
        batch.append(day)
    if batch:
        yield batch


# --- writing -------------------------------------------------------------------------------


def _write(db: Session, days: list[date], calls: Counter[date]) -> None:
    """Replace the rollup rows of consecutive ``days`` and mark them rolled up."""
    for table in (DailySessionStats, DailyCallStats, HourlyPoolStats):
        db.execute(delete(table).where(table.day.in_(days)))
    db.execute(delete(RolledDay).where(RolledDay.day.in_(days)))
    for day in days:
        db.execute(_insert_session_stats(day))
        db.execute(_insert_call_stats(day))
    _write_pool_stats(db, Period(start=midnight(days[0]), end=midnight(days[-1] + DAY)))
    for day in days:
        db.add(RolledDay(day=day, rolled_at=clock.now(), calls=calls[day]))
    db.flush()


def _on_day(column: Any, day: date) -> list[ColumnElement[bool]]:
    return [column >= midnight(day), column < midnight(day + DAY)]


# What each stored dimension groups sessions and calls by: (value, value2).
def _dimensions() -> dict[str, tuple[Any, Any]]:
    return {
        "source_medium": (VisitSession.source, VisitSession.medium),
        "campaign": (VisitSession.campaign, None),
        "term": (VisitSession.term, None),
        "landing_page": (landing_page(VisitSession.landing_url), None),
    }


def _insert_session_stats(day: date) -> Any:
    selects = []
    for dimension, (value, value2) in _dimensions().items():
        columns = [value] if value2 is None else [value, value2]
        selects.append(
            select(
                VisitSession.site_id,
                literal(day, Date()),
                literal(dimension),
                value,
                value2 if value2 is not None else literal(None),
                func.count(),
            )
            .where(
                VisitSession.site_id.in_(select(Site.id)),  # lets the planner use site indexes
                *_on_day(VisitSession.started_at, day),
                VisitSession.is_bot == false(),
            )
            .group_by(VisitSession.site_id, *columns)
        )
    stats = DailySessionStats
    columns = [stats.site_id, stats.day, stats.dimension, stats.value, stats.value2, stats.sessions]
    return insert(stats).from_select(
        [column.key for column in columns], selects[0].union_all(*selects[1:])
    )


def _insert_call_stats(day: date) -> Any:
    attributed = or_(Call.session_id.is_not(None), Call.source.is_not(None))
    measures = [
        func.count(),
        _count_if(Call.status.in_(ANSWERED)),
        _count_if(Call.status.in_(MISSED)),
        _count_if(Call.first_call_id.is_(None)),
        _count_if(attributed),
        func.coalesce(func.sum(Call.duration), 0),
        func.count(Call.duration),
    ]
    dimensions = _dimensions()
    dimensions["source_medium"] = (Call.source, Call.medium)  # the call's own attribution
    selects = []
    for dimension, (value, value2) in dimensions.items():
        columns = [value] if value2 is None else [value, value2]
        selects.append(
            select(
                Call.account_id,
                Call.pool_id,
                literal(day, Date()),
                literal(dimension),
                value,
                value2 if value2 is not None else literal(None),
                *measures,
            )
            .select_from(Call)
            .outerjoin(VisitSession, VisitSession.id == Call.session_id)
            .where(Call.account_id.in_(select(Account.id)), *_on_day(Call.started_at, day))
            .group_by(Call.account_id, Call.pool_id, *columns)
        )
    stats = DailyCallStats
    columns = [
        stats.account_id,
        stats.pool_id,
        stats.day,
        stats.dimension,
        stats.value,
        stats.value2,
        stats.calls,
        stats.answered,
        stats.missed,
        stats.first_time,
        stats.attributed,
        stats.duration_sum,
        stats.duration_count,
    ]
    return insert(stats).from_select(
        [column.key for column in columns], selects[0].union_all(*selects[1:])
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _write_pool_stats(db: Session, period: Period) -> None:
    """Each pool's peak concurrent leases and leases started per hour, from one sweep."""
    starts = bucket_starts(period, "hour")
    for pool_id in list(db.scalars(select(Pool.id).order_by(Pool.id))):
        bound = repository.leases_running_from(db, pool_id, period.start)
        sweep = repository.lease_sweep(db, pool_id, period, "hour", running_from=bound)
        peaks, started = fold_sweep(sweep, starts)
        running = _running_from(db, pool_id, period, bound)
        rows = [
            {
                "pool_id": pool_id,
                "day": hour.date(),
                "hour": hour,
                "peak_leases": peaks[hour],
                "leases_started": started[hour],
                "running_from": running.get(hour + HOUR),
            }
            for hour in starts
            if peaks[hour] or started[hour] or hour + HOUR in running
        ]
        if rows:
            db.execute(insert(HourlyPoolStats), rows)


def _running_from(
    db: Session, pool_id: int, period: Period, bound: datetime | None
) -> dict[datetime, datetime]:
    """For each midnight that ends a day of ``period``: the earliest start among the pool's
    leases running across it (midnights nothing runs across are left out).

    Each midnight's answer bounds the next one's search (a lease running at a midnight began
    that day or was running at the one before), so each query reads about one day of leases.
    """
    running: dict[datetime, datetime] = {}
    day = period.start
    while day < period.end:
        end = day + DAY
        first = db.scalar(
            select(func.min(Lease.started_at))
            .join(Tracker, Tracker.id == Lease.tracker_id)
            .where(
                Tracker.pool_id == pool_id,
                Lease.started_at < end,
                Lease.leased_until > end,
                Lease.started_at >= bound if bound else true(),
            )
        )
        if first is not None:
            running[end] = as_utc(first)
        bound = running.get(end, end)
        day = end
    return running
