"""The report queries. Tenant data starts from ``scoped``; every query is bounded by a period.

Aggregation happens in the database (the benchmark loads a million sessions); Python only
merges the few grouped rows that come back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from callpool.accounts.repository import scoped
from callpool.models import Call, Lease, Pool, PoolEvent, Site, Tracker, UTCDateTime, VisitSession
from callpool.reports.expressions import bucket_start, landing_page
from callpool.reports.schemas import Dimension, Interval, Period

ANSWERED = ("completed",)
MISSED = ("busy", "no-answer", "failed", "canceled")
EXHAUSTED = "exhausted"


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# --- scope ---------------------------------------------------------------------------------


def _site_ids(account_id: int, site_id: int | None) -> Select[Any]:
    query = scoped(Site, account_id).with_only_columns(Site.id)
    return query if site_id is None else query.where(Site.id == site_id)


def _sessions_where(account_id: int, period: Period, site_id: int | None) -> list[Any]:
    return [
        VisitSession.site_id.in_(_site_ids(account_id, site_id)),
        VisitSession.started_at >= period.start,
        VisitSession.started_at < period.end,
        VisitSession.is_bot == false(),  # the form the partial index ix_sessions_humans has
    ]


def _calls_where(account_id: int, period: Period, site_id: int | None) -> list[Any]:
    conditions: list[Any] = [
        Call.account_id == account_id,
        Call.started_at >= period.start,
        Call.started_at < period.end,
    ]
    if site_id is not None:
        # Calls reach their site through the pool of the tracker that was dialled.
        site_pools = scoped(Pool, account_id).with_only_columns(Pool.id)
        conditions.append(Call.pool_id.in_(site_pools.where(Pool.site_id == site_id)))
    return conditions


def _first_time_caller() -> ColumnElement[bool]:
    """A call that attribution did not link to an earlier call from the same number."""
    return Call.first_call_id.is_(None)


def tune_for_reports(db: Session) -> None:
    """PostgreSQL: no JIT for this transaction (``SET LOCAL`` ends with it).

    JIT compiling takes 100+ ms, more than these short aggregations gain from it.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SET LOCAL jit = off"))


# --- breakdown -----------------------------------------------------------------------------


def _session_dimension(dimension: Dimension) -> list[Any]:
    columns: dict[str, list[Any]] = {
        "source": [VisitSession.source],
        "medium": [VisitSession.medium],
        "source_medium": [VisitSession.source, VisitSession.medium],
        "campaign": [VisitSession.campaign],
        "term": [VisitSession.term],
        "landing_page": [landing_page(VisitSession.landing_url)],
    }
    return columns[dimension]


def _call_dimension(dimension: Dimension) -> list[Any]:
    return {
        "source": [Call.source],
        "medium": [Call.medium],
        "source_medium": [Call.source, Call.medium],
    }[dimension]


def sessions_by(
    db: Session, account_id: int, period: Period, dimension: Dimension, site_id: int | None
) -> list[tuple[Any, ...]]:
    """Rows of (*dimension values, sessions)."""
    tune_for_reports(db)
    columns = _session_dimension(dimension)
    query = (
        select(*columns, func.count())
        .where(*_sessions_where(account_id, period, site_id))
        .group_by(*columns)
    )
    return [tuple(row) for row in db.execute(query)]


def calls_by(
    db: Session, account_id: int, period: Period, dimension: Dimension, site_id: int | None
) -> list[tuple[Any, ...]]:
    """Rows of (*dimension values, calls, first-time callers)."""
    tune_for_reports(db)
    calls_where = _calls_where(account_id, period, site_id)
    if dimension in ("source", "medium", "source_medium"):
        # Calls carry their own source/medium (automated pools attribute without a session).
        columns = _call_dimension(dimension)
        query = (
            select(*columns, func.count(), _count_if(_first_time_caller()))
            .where(*calls_where)
            .group_by(*columns)
        )
        return [tuple(row) for row in db.execute(query)]
    # Campaign, keyword and landing page come from the attributed session, looked up by its
    # key per call: a join lets PostgreSQL hash every session of every time instead.
    [column] = _session_dimension(dimension)
    value = select(column).where(VisitSession.id == Call.session_id).scalar_subquery()
    per_call = (
        select(value.label("value"), _first_time_caller().label("first"))
        .where(*calls_where)
        .subquery("per_call")
    )
    query = select(per_call.c.value, func.count(), _count_if(per_call.c.first)).group_by(
        per_call.c.value
    )
    return [tuple(row) for row in db.execute(query)]


# --- totals and time series ----------------------------------------------------------------


@dataclass(frozen=True)
class CallTotals:
    calls: int
    answered: int
    missed: int
    average_duration: float | None
    attributed: int
    first_time_callers: int


def call_totals(db: Session, account_id: int, period: Period, site_id: int | None) -> CallTotals:
    tune_for_reports(db)
    attributed = or_(Call.session_id.is_not(None), Call.source.is_not(None))
    query = select(
        func.count(),
        _count_if(Call.status.in_(ANSWERED)),
        _count_if(Call.status.in_(MISSED)),
        func.avg(Call.duration),
        _count_if(attributed),
        _count_if(_first_time_caller()),
    ).where(*_calls_where(account_id, period, site_id))
    calls, answered, missed, average, attributed_calls, first_time = db.execute(query).one()
    return CallTotals(
        calls=calls,
        answered=answered,
        missed=missed,
        average_duration=None if average is None else float(average),
        attributed=attributed_calls,
        first_time_callers=first_time,
    )


def session_count(db: Session, account_id: int, period: Period, site_id: int | None) -> int:
    tune_for_reports(db)
    query = select(func.count()).where(*_sessions_where(account_id, period, site_id))
    return db.scalar(query) or 0


def calls_per_bucket(
    db: Session, account_id: int, period: Period, interval: Interval, site_id: int | None
) -> list[tuple[Any, ...]]:
    """Rows of (bucket start, calls, answered)."""
    tune_for_reports(db)
    bucket = bucket_start(Call.started_at, interval)
    query = (
        select(bucket, func.count(), _count_if(Call.status.in_(ANSWERED)))
        .where(*_calls_where(account_id, period, site_id))
        .group_by(bucket)
    )
    return [tuple(row) for row in db.execute(query)]


def sessions_per_bucket(
    db: Session, account_id: int, site_id: int | None, buckets: Sequence[tuple[datetime, datetime]]
) -> list[tuple[Any, ...]]:
    """Rows of (bucket start, sessions) for the given [start, end) buckets.

    One indexed range count per bucket: PostgreSQL reads ``ix_sessions_humans`` alone and
    skips the per-row date arithmetic and hashing of a GROUP BY on the bucket (measured on a
    million sessions: about half the time).
    """
    tune_for_reports(db)
    bounds = union_all(
        *(
            select(
                literal(start, UTCDateTime()).label("start"),
                literal(end, UTCDateTime()).label("end"),
            )
            for start, end in buckets
        )
    ).subquery("buckets")
    period = Period(start=buckets[0][0], end=buckets[-1][1])
    count = (
        select(func.count())
        .where(
            *_sessions_where(account_id, period, site_id),
            VisitSession.started_at >= bounds.c.start,
            VisitSession.started_at < bounds.c.end,
        )
        .scalar_subquery()
    )
    return [tuple(row) for row in db.execute(select(bounds.c.start, count))]


# --- pool health ---------------------------------------------------------------------------


def pools_in_period(
    db: Session, account_id: int, period: Period, site_id: int | None
) -> Sequence[Pool]:
    """The account's pools that still existed when the period began."""
    query = scoped(Pool, account_id).where(
        or_(Pool.deleted_at.is_(None), Pool.deleted_at > period.start)
    )
    if site_id is not None:
        query = query.where(Pool.site_id == site_id)
    return db.scalars(query.order_by(Pool.id)).all()


@dataclass(frozen=True)
class TrackerSpan:
    status: str
    created_at: datetime
    released_at: datetime | None


def tracker_spans(db: Session, pool_id: int) -> list[TrackerSpan]:
    query = select(Tracker.status, Tracker.created_at, Tracker.released_at).where(
        Tracker.pool_id == pool_id
    )
    return [TrackerSpan(*row) for row in db.execute(query)]


def lease_sweep(
    db: Session, pool_id: int, period: Period, interval: Interval
) -> list[tuple[Any, ...]]:
    """Rows of (bucket start, first event, highest running level, net change, leases started).

    A sweep over the pool's lease boundaries: +1 at each start, -1 at each end, summed in time
    order by a window function, so the database returns one row per bucket, not every lease.
    Ends sort before starts at the same instant: leases are half-open, [start, end).
    Leases that began before the period land in buckets before its first; the caller folds
    them into the level the period starts with.
    """
    tune_for_reports(db)
    if db.get_bind().dialect.name == "postgresql":
        # A busy month is a few hundred thousand boundaries: sort them in memory, not on disk.
        db.execute(text("SET LOCAL work_mem = '64MB'"))
    # Each lease read once, paired with +1 and -1: one pass, where a CTE read twice costs two.
    sides = union_all(
        select(literal_column("1").label("delta")), select(literal_column("-1").label("delta"))
    ).subquery("sides")
    at = case((sides.c.delta == 1, Lease.started_at), else_=Lease.leased_until)
    events = (
        select(at.label("at"), sides.c.delta)
        .select_from(Lease)
        .join(Tracker, Tracker.id == Lease.tracker_id)
        .join(sides, true())
        .where(
            Tracker.pool_id == pool_id,
            Lease.started_at < period.end,
            Lease.leased_until > period.start,
            or_(sides.c.delta == 1, Lease.leased_until < period.end),
        )
        .subquery("events")
    )
    level = func.sum(events.c.delta).over(order_by=(events.c.at, events.c.delta), rows=(None, 0))
    running = select(events.c.at, events.c.delta, level.label("level")).subquery("running")
    bucket = bucket_start(running.c.at, interval)
    query = select(
        bucket,
        func.min(running.c.at),
        func.max(running.c.level),
        func.sum(running.c.delta),
        _count_if(and_(running.c.delta == 1, running.c.at >= period.start)),
    ).group_by(bucket)
    return [tuple(row) for row in db.execute(query)]


def exhaustions_per_bucket(
    db: Session, pool_id: int, period: Period, interval: Interval
) -> list[tuple[Any, ...]]:
    """Rows of (bucket start, exhaustion events)."""
    tune_for_reports(db)
    bucket = bucket_start(PoolEvent.at, interval)
    query = (
        select(bucket, func.count())
        .where(
            PoolEvent.pool_id == pool_id,
            PoolEvent.kind == EXHAUSTED,
            PoolEvent.at >= period.start,
            PoolEvent.at < period.end,
        )
        .group_by(bucket)
    )
    return [tuple(row) for row in db.execute(query)]


# --- export --------------------------------------------------------------------------------


def calls_for_export(
    db: Session, account_id: int, period: Period, site_id: int | None, batch: int = 1000
) -> Iterator[tuple[Any, ...]]:
    """The period's calls, oldest first, with their tracker and session, fetched in batches."""
    tune_for_reports(db)
    query = (
        select(
            Call.started_at,
            Call.from_number,
            Call.to_number,  # the tracking number dialled; kept when the tracker is deleted
            Call.duration,
            Call.status,
            Call.recording_url,
            Call.source,
            Call.medium,
            VisitSession.campaign,
            VisitSession.term,
            VisitSession.landing_url,
            Call.confidence,
        )
        .select_from(Call)
        .outerjoin(VisitSession, VisitSession.id == Call.session_id)
        .where(*_calls_where(account_id, period, site_id))
        .order_by(Call.started_at, Call.id)
        .execution_options(yield_per=batch)
    )
    for row in db.execute(query):
        yield tuple(row)
