"""The report queries. Tenant data starts from ``scoped``; every query is bounded by a period.

A period is first cut by ``split_period`` into whole days that are rolled up (read from the
daily rollup tables, see ``callpool.reports.rollup``) and stretches read from the live
tables; each query returns rows from both, which the service sums by value or bucket.
Aggregation happens in the database (the benchmark loads a million sessions); Python only
merges the few grouped rows that come back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
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
from callpool.calls.repository import last_call_at
from callpool.models import (
    Call,
    DailyCallStats,
    DailySessionStats,
    HourlyPoolStats,
    Lease,
    Pool,
    PoolEvent,
    RolledDay,
    Site,
    Tracker,
    UTCDateTime,
    VisitSession,
)
from callpool.models.tracker import ACTIVE, RETIRING
from callpool.reports.expressions import as_utc, bucket_index, bucket_start, landing_page
from callpool.reports.schemas import Dimension, Interval, Period
from callpool.telephony.base import MISSED, CallStatus

ANSWERED = (CallStatus.COMPLETED,)
EXHAUSTED = "exhausted"
CAPPED = "capped"  # callpool.visits.claim: an address at its limit shared its own number


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


def _bucket(column: Any, interval: Interval, days: Sequence[datetime] | None) -> Any:
    """What a query groups by: the UTC hour or day, or (``days``: an account's local day
    starts, not UTC midnights) the index of the day, which ``_bucket_start`` turns back."""
    return bucket_start(column, interval) if days is None else bucket_index(column, days)


def _bucket_start(value: Any, days: Sequence[datetime] | None) -> Any:
    if days is None:
        return value
    return days[value] if value >= 0 else days[0] - DAY  # -1: before the first day


def tune_for_reports(db: Session) -> None:
    """PostgreSQL: no JIT for this transaction (``SET LOCAL`` ends with it).

    JIT compiling takes 100+ ms, more than these short aggregations gain from it.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SET LOCAL jit = off"))


# --- rolled-up days and live stretches -----------------------------------------------------

DAY = timedelta(days=1)
DayRange = tuple[date, date]  # [first, last + 1)


@dataclass(frozen=True)
class Split:
    """A period cut into whole days read from the rollups and stretches read live.

    Together they cover the period exactly once; ``live`` is in time order.
    """

    rolled: list[DayRange] = field(default_factory=list)
    live: list[Period] = field(default_factory=list)

    def is_rolled(self, moment: datetime) -> bool:
        return any(first <= moment.date() < end for first, end in self.rolled)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def live_only(period: Period) -> Split:
    return Split(live=[period])


def split_period(db: Session, period: Period) -> Split:
    """Whole UTC days of the period that are rolled up, and the rest of it, live."""
    start, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
    first_whole = start.date() if start == midnight(start.date()) else start.date() + DAY
    last_end = end.date()
    if first_whole >= last_end:
        return live_only(period)
    days = db.scalars(
        select(RolledDay.day)
        .where(RolledDay.day >= first_whole, RolledDay.day < last_end)
        .order_by(RolledDay.day)
    ).all()
    rolled: list[DayRange] = []
    live: list[Period] = []
    cursor = start
    for day in days:
        if cursor < midnight(day):
            live.append(Period(start=cursor, end=midnight(day)))
        if rolled and rolled[-1][1] == day:
            rolled[-1] = (rolled[-1][0], day + DAY)
        else:
            rolled.append((day, day + DAY))
        cursor = midnight(day + DAY)
    if cursor < end:
        live.append(Period(start=cursor, end=end))
    return Split(rolled=rolled, live=live)


def _on_days(column: Any, ranges: Sequence[DayRange]) -> ColumnElement[bool]:
    return or_(*(and_(column >= first, column < end) for first, end in ranges))


def _session_stats_where(
    account_id: int, split: Split, dimension: str, site_id: int | None
) -> list[Any]:
    return [
        DailySessionStats.site_id.in_(_site_ids(account_id, site_id)),
        DailySessionStats.dimension == dimension,
        _on_days(DailySessionStats.day, split.rolled),
    ]


def _call_stats_where(
    account_id: int, split: Split, dimension: str, site_id: int | None
) -> list[Any]:
    conditions: list[Any] = [
        DailyCallStats.account_id == account_id,
        DailyCallStats.dimension == dimension,
        _on_days(DailyCallStats.day, split.rolled),
    ]
    if site_id is not None:
        site_pools = scoped(Pool, account_id).with_only_columns(Pool.id)
        conditions.append(DailyCallStats.pool_id.in_(site_pools.where(Pool.site_id == site_id)))
    return conditions


# How each breakdown dimension reads the rollups: (stored dimension, columns grouped by).
_ROLLED_SESSION_COLUMNS: dict[str, tuple[str, list[Any]]] = {
    "source": ("source_medium", [DailySessionStats.value]),
    "medium": ("source_medium", [DailySessionStats.value2]),
    "source_medium": ("source_medium", [DailySessionStats.value, DailySessionStats.value2]),
    "campaign": ("campaign", [DailySessionStats.value]),
    "term": ("term", [DailySessionStats.value]),
    "landing_page": ("landing_page", [DailySessionStats.value]),
}
_ROLLED_CALL_COLUMNS: dict[str, tuple[str, list[Any]]] = {
    "source": ("source_medium", [DailyCallStats.value]),
    "medium": ("source_medium", [DailyCallStats.value2]),
    "source_medium": ("source_medium", [DailyCallStats.value, DailyCallStats.value2]),
    "campaign": ("campaign", [DailyCallStats.value]),
    "term": ("term", [DailyCallStats.value]),
    "landing_page": ("landing_page", [DailyCallStats.value]),
}


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
    db: Session, account_id: int, split: Split, dimension: Dimension, site_id: int | None
) -> list[tuple[Any, ...]]:
    """Rows of (*dimension values, sessions); a value can come once per source, so sum them."""
    tune_for_reports(db)
    rows = []
    columns = _session_dimension(dimension)
    for period in split.live:
        query = (
            select(*columns, func.count())
            .where(*_sessions_where(account_id, period, site_id))
            .group_by(*columns)
        )
        rows += [tuple(row) for row in db.execute(query)]
    if split.rolled:
        stored, rolled_columns = _ROLLED_SESSION_COLUMNS[dimension]
        query = (
            select(*rolled_columns, func.sum(DailySessionStats.sessions))
            .where(*_session_stats_where(account_id, split, stored, site_id))
            .group_by(*rolled_columns)
        )
        rows += [tuple(row) for row in db.execute(query)]
    return rows


def calls_by(
    db: Session, account_id: int, split: Split, dimension: Dimension, site_id: int | None
) -> list[tuple[Any, ...]]:
    """Rows of (*dimension values, calls, first-time callers); sum rows of the same value."""
    tune_for_reports(db)
    rows = []
    for period in split.live:
        rows += _live_calls_by(db, account_id, period, dimension, site_id)
    if split.rolled:
        stored, columns = _ROLLED_CALL_COLUMNS[dimension]
        query = (
            select(*columns, func.sum(DailyCallStats.calls), func.sum(DailyCallStats.first_time))
            .where(*_call_stats_where(account_id, split, stored, site_id))
            .group_by(*columns)
        )
        rows += [tuple(row) for row in db.execute(query)]
    return rows


def _live_calls_by(
    db: Session, account_id: int, period: Period, dimension: Dimension, site_id: int | None
) -> list[tuple[Any, ...]]:
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
    calls: int = 0
    answered: int = 0
    missed: int = 0
    duration_sum: int = 0
    duration_count: int = 0  # calls with a duration
    attributed: int = 0
    first_time_callers: int = 0

    def __add__(self, other: CallTotals) -> CallTotals:
        return CallTotals(
            *(int(a) + int(b) for a, b in zip(_fields(self), _fields(other), strict=True))
        )

    @property
    def average_duration(self) -> float | None:
        return self.duration_sum / self.duration_count if self.duration_count else None


def _fields(totals: CallTotals) -> tuple[int, ...]:
    return (
        totals.calls,
        totals.answered,
        totals.missed,
        totals.duration_sum,
        totals.duration_count,
        totals.attributed,
        totals.first_time_callers,
    )


def call_totals(db: Session, account_id: int, split: Split, site_id: int | None) -> CallTotals:
    tune_for_reports(db)
    attributed = or_(Call.session_id.is_not(None), Call.source.is_not(None))
    total = CallTotals()
    for period in split.live:
        query = select(
            func.count(),
            _count_if(Call.status.in_(ANSWERED)),
            _count_if(Call.status.in_(MISSED)),
            func.coalesce(func.sum(Call.duration), 0),
            func.count(Call.duration),
            _count_if(attributed),
            _count_if(_first_time_caller()),
        ).where(*_calls_where(account_id, period, site_id))
        total += CallTotals(*(int(value or 0) for value in db.execute(query).one()))
    if split.rolled:
        stats = DailyCallStats
        sums = [
            stats.calls,
            stats.answered,
            stats.missed,
            stats.duration_sum,
            stats.duration_count,
            stats.attributed,
            stats.first_time,
        ]
        rolled = select(*(func.coalesce(func.sum(column), 0) for column in sums)).where(
            *_call_stats_where(account_id, split, "source_medium", site_id)
        )
        total += CallTotals(*(int(value or 0) for value in db.execute(rolled).one()))
    return total


def session_count(db: Session, account_id: int, split: Split, site_id: int | None) -> int:
    tune_for_reports(db)
    count = 0
    for period in split.live:
        count += (
            db.scalar(select(func.count()).where(*_sessions_where(account_id, period, site_id)))
            or 0
        )
    if split.rolled:
        query = select(func.sum(DailySessionStats.sessions)).where(
            *_session_stats_where(account_id, split, "source_medium", site_id)
        )
        count += db.scalar(query) or 0
    return count


def calls_per_bucket(
    db: Session,
    account_id: int,
    split: Split,
    interval: Interval,
    site_id: int | None,
    days: Sequence[datetime] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of (bucket start, calls, answered); rolled days are whole ``day`` buckets.
    ``days``: bucket by these local day starts instead (see ``_bucket``)."""
    tune_for_reports(db)
    rows = []
    bucket = _bucket(Call.started_at, interval, days)
    for period in split.live:
        query = (
            select(bucket, func.count(), _count_if(Call.status.in_(ANSWERED)))
            .where(*_calls_where(account_id, period, site_id))
            .group_by(bucket)
        )
        rows += [(_bucket_start(start, days), *row) for start, *row in db.execute(query)]
    if split.rolled:
        daily = (
            select(
                DailyCallStats.day,
                func.sum(DailyCallStats.calls),
                func.sum(DailyCallStats.answered),
            )
            .where(*_call_stats_where(account_id, split, "source_medium", site_id))
            .group_by(DailyCallStats.day)
        )
        rows += [(midnight(day), calls, answered) for day, calls, answered in db.execute(daily)]
    return rows


def sessions_per_day_rolled(
    db: Session, account_id: int, split: Split, site_id: int | None
) -> list[tuple[datetime, int]]:
    """Rows of (day start, sessions) for the split's rolled days."""
    if not split.rolled:
        return []
    query = (
        select(DailySessionStats.day, func.sum(DailySessionStats.sessions))
        .where(*_session_stats_where(account_id, split, "source_medium", site_id))
        .group_by(DailySessionStats.day)
    )
    return [(midnight(day), int(count)) for day, count in db.execute(query)]


BUCKETS_PER_QUERY = 400  # under SQLite's limit of 500 terms in a compound SELECT


def sessions_per_bucket(
    db: Session, account_id: int, site_id: int | None, buckets: Sequence[tuple[datetime, datetime]]
) -> list[tuple[Any, ...]]:
    """Rows of (bucket start, sessions) for the given [start, end) buckets.

    One indexed range count per bucket: PostgreSQL reads ``ix_sessions_humans`` alone and
    skips the per-row date arithmetic and hashing of a GROUP BY on the bucket (measured on a
    million sessions: about half the time).
    """
    if not buckets:
        return []
    tune_for_reports(db)
    # SQLite refuses a compound SELECT of more than 500 terms: hourly buckets of a month are 720.
    rows: list[tuple[Any, ...]] = []
    for first in range(0, len(buckets), BUCKETS_PER_QUERY):
        chunk = buckets[first : first + BUCKETS_PER_QUERY]
        rows += _sessions_per_bucket(db, account_id, site_id, chunk)
    return rows


def _sessions_per_bucket(
    db: Session, account_id: int, site_id: int | None, buckets: Sequence[tuple[datetime, datetime]]
) -> list[tuple[Any, ...]]:
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
    db: Session,
    pool_id: int,
    period: Period,
    interval: Interval,
    *,
    running_from: datetime | None = None,
    days: Sequence[datetime] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of (bucket start, first event, highest running level, net change, leases started).

    A sweep over the pool's lease boundaries: +1 at each start, -1 at each end, summed in time
    order by a window function, so the database returns one row per bucket, not every lease.
    Ends sort before starts at the same instant: leases are half-open, [start, end).
    Leases that began before the period land in buckets before its first; the caller folds
    them into the level the period starts with. ``running_from``: no lease that is still
    running at the period's start began before it (see ``leases_running_from``).
    ``days``: bucket by these local day starts (see ``_bucket``).
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
            Lease.started_at >= running_from if running_from else true(),
            or_(sides.c.delta == 1, Lease.leased_until < period.end),
        )
        .subquery("events")
    )
    level = func.sum(events.c.delta).over(order_by=(events.c.at, events.c.delta), rows=(None, 0))
    running = select(events.c.at, events.c.delta, level.label("level")).subquery("running")
    bucket = _bucket(running.c.at, interval, days)
    query = select(
        bucket,
        func.min(running.c.at),
        func.max(running.c.level),
        func.sum(running.c.delta),
        _count_if(and_(running.c.delta == 1, running.c.at >= period.start)),
    ).group_by(bucket)
    return [(_bucket_start(start, days), *row) for start, *row in db.execute(query)]


def leases_running_from(db: Session, pool_id: int, moment: datetime) -> datetime | None:
    """A lower bound for the start of the pool's leases running at ``moment``, or None.

    Known when the day before ``moment``'s is rolled up: a lease running at ``moment`` either
    began that day or later, or was running at midnight, so it began at or after the
    earliest start the rollup kept for that midnight.
    """
    day = moment.astimezone(UTC).date()
    if db.get(RolledDay, day - DAY) is None:
        return None
    last_hour = midnight(day) - timedelta(hours=1)
    running = db.scalar(
        select(HourlyPoolStats.running_from).where(
            HourlyPoolStats.pool_id == pool_id,
            HourlyPoolStats.day == day - DAY,
            HourlyPoolStats.hour == last_hour,
        )
    )
    return midnight(day) if running is None else min(running, midnight(day))


def exhaustions_per_bucket(
    db: Session,
    pool_id: int,
    period: Period,
    interval: Interval,
    days: Sequence[datetime] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of (bucket start, exhaustion events); ``days`` as in ``calls_per_bucket``."""
    tune_for_reports(db)
    bucket = _bucket(PoolEvent.at, interval, days)
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
    return [(_bucket_start(start, days), *row) for start, *row in db.execute(query)]


def capped_sessions(db: Session, pool_id: int, period: Period) -> tuple[int, int]:
    """Sessions that shared their own address's number because the address held its limit
    of the pool's numbers, and from how many addresses (hashed)."""
    address = PoolEvent.detail["address"].as_string()
    query = select(func.count(), func.count(func.distinct(address))).where(
        PoolEvent.pool_id == pool_id,
        PoolEvent.kind == CAPPED,
        PoolEvent.at >= period.start,
        PoolEvent.at < period.end,
    )
    sessions, addresses = db.execute(query).one()
    return int(sessions), int(addresses)


# A call with no lease behind it: no session held the number then, nor within the window before.
NO_LEASE_REASONS = ("no_lease", "repeat_caller_first_touch")


def leaked_numbers(
    db: Session, pool_id: int, period: Period, min_calls: int
) -> list[tuple[int, str, int, datetime]]:
    """(tracker id, number, calls, last call) of the pool's active numbers that got at
    least ``min_calls`` calls with no lease behind them in the period, the most such first."""
    calls = func.count(Call.id)
    rows = db.execute(
        select(Tracker.id, Tracker.number, calls, func.max(Call.started_at))
        .join(Tracker, Tracker.id == Call.tracker_id)
        .where(
            Call.pool_id == pool_id,
            Call.started_at >= period.start,
            Call.started_at < period.end,
            Call.attribution_reason.in_(NO_LEASE_REASONS),
            # Still handed to visitors: a retired number is listed as retiring, a moved one
            # belongs to its manual pool now.
            Tracker.pool_id == pool_id,
            Tracker.status == ACTIVE,
        )
        .group_by(Tracker.id, Tracker.number)
        .having(calls >= min_calls)
        .order_by(calls.desc(), Tracker.number)
    )
    # An aggregate's timestamp comes back as the engine stores it (SQLite: naive text).
    return [(tracker, number, count, as_utc(last)) for tracker, number, count, last in rows]


def retiring_numbers(
    db: Session, pool_id: int
) -> list[tuple[int, str, datetime, int, datetime | None]]:
    """(tracker id, number, retired at, quiet days, last call) of the pool's retiring numbers,
    oldest retirement first."""
    last_call = last_call_at()
    rows = db.execute(
        select(Tracker.id, Tracker.number, Tracker.retired_at, Tracker.quiet_days, last_call)
        .where(Tracker.pool_id == pool_id, Tracker.status == RETIRING)
        .order_by(Tracker.retired_at, Tracker.id)
    )
    return [
        (tracker, number, retired, days or 0, last)
        for tracker, number, retired, days, last in rows
        if retired is not None
    ]


def rolled_pool_peaks(
    db: Session, pool_id: int, split: Split, interval: Interval
) -> list[tuple[datetime, int, int]]:
    """Rows of (bucket start, peak concurrent leases, leases started) for rolled days.

    Hours without a lease are not stored: their peak is 0. A day's peak is its hours' highest.
    """
    if not split.rolled:
        return []
    stats = HourlyPoolStats
    where = [stats.pool_id == pool_id, _on_days(stats.day, split.rolled)]
    if interval == "hour":
        query = select(stats.hour, stats.peak_leases, stats.leases_started).where(*where)
        return [(hour, int(peak), int(started)) for hour, peak, started in db.execute(query)]
    daily = (
        select(stats.day, func.max(stats.peak_leases), func.sum(stats.leases_started))
        .where(*where)
        .group_by(stats.day)
    )
    return [(midnight(day), int(peak), int(started)) for day, peak, started in db.execute(daily)]


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
