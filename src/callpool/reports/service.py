"""Reports for the dashboard and the REST API.

Every report takes the ``Database`` and the caller's account id, and a ``Period`` (see
``parse_period`` for query strings). An optional ``site_id`` narrows a report to one site; a
site of another account is ``NotFound``.

Transactions: each report opens its own read transaction; the REST API and the dashboard call
these functions and never open one themselves.

Days are the account's (``Account.time_zone``): a period's bare dates and the ``day`` buckets of
the time series and pool health run from midnight to midnight on its wall clock, 23 or 25 hours
across a DST change. The daily rollups stay per UTC day, for every account, because that is the
simplest design that stays correct in every zone: a local day is not made of whole UTC days (nor
of whole hours, at +05:30 or +05:45), so no per-day figure can be cut into another zone's days,
whereas the totals and breakdowns only need the rolled UTC days inside the period, whatever its
zone (its ragged ends are read live, as before). Daily buckets in a zone whose midnights are not
UTC midnights are therefore counted live, one range per local day (``bucket_index``), which
needs no time zone support in the database (SQLite has none). Rolling up per (account, local day)
would make those faster, at the price of a rollup per account and a redo of every account's
days when one changes its zone; measure first. Hourly buckets are UTC hours, shown in the zone.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.repository import get_scoped
from callpool.clock import zone_named
from callpool.db import Database
from callpool.errors import Invalid
from callpool.models import Account, Pool, Site
from callpool.models.pool import SESSION
from callpool.models.tracker import RELEASED, RETIRING, TRACKER_STATUSES, retirement_ends
from callpool.reports import repository
from callpool.reports.expressions import as_utc, landing_path_of
from callpool.reports.schemas import (
    Breakdown,
    BreakdownRow,
    Dimension,
    Interval,
    LeakedNumber,
    Period,
    PoolHealth,
    RetiringNumber,
    SizeAccuracy,
    SizeAdvice,
    TimeBucket,
    TimeSeries,
    Totals,
    UtilizationBucket,
)
from callpool.simulation.daily import TARGET_TOLERANCE, latest_advice

DEFAULT_DAYS = 30
MAX_PERIOD = timedelta(days=1096)  # three years
MAX_BUCKETS = 1500  # hourly buckets for two months at most: a chart, not a table
HOURLY_UP_TO = timedelta(days=3)  # longer periods default to daily buckets

# --- periods -------------------------------------------------------------------------------


def account_zone(database: Database, account_id: int) -> tzinfo:
    """The account's time zone; UTC for a name this machine's zone database lacks."""
    with database.reader() as db:
        name = db.scalar(select(Account.time_zone).where(Account.id == account_id))
    return zone_named(name)


def default_period(days: int = DEFAULT_DAYS, zone: tzinfo = UTC) -> Period:
    """The last ``days`` whole days of ``zone``, today included."""
    today = clock.now().astimezone(zone).date()
    return Period(
        start=_midnight(today - timedelta(days=days - 1), zone),
        end=_midnight(today + timedelta(days=1), zone),
    )


def parse_period(start: str | None, end: str | None, zone: tzinfo = UTC) -> Period:
    """A period from query strings: ISO dates (``2026-01-31``) or date-times.

    A date is a day of ``zone`` (the account's): as ``end`` it includes that whole day; a
    date-time ``end`` is exclusive. Date-times without a zone are UTC. Missing ``end``: the
    end of today; missing ``start``: 30 days before ``end``. Raises ``Invalid`` (422) for text
    that is not a date, or a start that is not before the end.
    """
    end_at = _parse_bound(end, "end", zone) if end else default_period(zone=zone).end
    try:
        start_at = _parse_bound(start, "start", zone) if start else _days_before(end_at, zone)
    except OverflowError:  # an end in the first days of year 1
        raise Invalid("the period starts before the year 1", field="start") from None
    if start_at >= end_at:
        raise Invalid(f"start ({start_at:%Y-%m-%d %H:%M}) must be before end", field="start")
    if end_at - start_at > MAX_PERIOD:
        raise Invalid("the period is longer than three years", field="start")
    return Period(start=start_at, end=end_at)


def _days_before(end: datetime, zone: tzinfo) -> datetime:
    """``DEFAULT_DAYS`` before ``end``: whole days of ``zone`` (23 or 25 hours across a DST
    change) when ``end`` is one of its midnights."""
    last = end.astimezone(zone).date()
    if _midnight(last, zone) == end:
        return _midnight(last - timedelta(days=DEFAULT_DAYS), zone)
    return end - timedelta(days=DEFAULT_DAYS)


def _parse_bound(raw: str, field: str, zone: tzinfo) -> datetime:
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return _midnight(day + timedelta(days=1) if field == "end" else day, zone)
        moment = datetime.fromisoformat(text)
        # A zone can move an instant past year 9999 or before year 1.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise Invalid(f"{field}: {raw!r} is out of the calendar's range", field=field) from None
    except ValueError:
        raise Invalid(
            f"{field}: {raw!r} is not an ISO date (YYYY-MM-DD) or date-time", field=field
        ) from None


def _midnight(day: date, zone: tzinfo = UTC) -> datetime:
    """The instant ``day`` begins in ``zone``, in UTC. A midnight that a DST change skips
    (Santiago, Havana) is the change itself: 00:00 read with the offset before it."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def resolve_interval(period: Period, interval: Interval | None) -> Interval:
    """Hourly buckets for periods of three days or less, daily ones beyond."""
    if interval is None:
        return "hour" if period.length <= HOURLY_UP_TO else "day"
    return interval


def bucket_starts(period: Period, interval: Interval, zone: tzinfo = UTC) -> list[datetime]:
    """Every bucket start of the period, the first one floored to its UTC hour or to its day
    in ``zone``. Day buckets start at midnight in ``zone`` (and carry its offset)."""
    if interval == "day":
        first_day = period.start.astimezone(zone).date()
        count = (period.end.astimezone(zone).date() - first_day).days + 1
        _check_count(count, interval)
        starts = [_midnight(first_day + timedelta(days=n), zone) for n in range(count)]
        return [start.astimezone(zone) for start in starts if start < period.end]
    step = timedelta(hours=1)
    first = period.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    count = math.ceil((period.end - first) / step)
    _check_count(count, interval)
    return [first + step * index for index in range(count)]


def bucket_ends(starts: list[datetime], interval: Interval, zone: tzinfo = UTC) -> list[datetime]:
    """Where each bucket of ``bucket_starts`` ends: the next one's start."""
    if interval == "day":
        after = _midnight(starts[-1].astimezone(zone).date() + timedelta(days=1), zone)
    else:
        after = starts[-1] + timedelta(hours=1)
    return [*starts[1:], after]


def _local_days(starts: list[datetime], interval: Interval) -> list[datetime] | None:
    """Day buckets that are not UTC days (so no daily rollup row is one), else None."""
    if interval == "day" and any(start.astimezone(UTC).time() != time() for start in starts):
        return starts
    return None


def _check_count(count: int, interval: Interval) -> None:
    if count > MAX_BUCKETS:
        raise Invalid(
            f"{count} {interval}ly buckets is too many (at most {MAX_BUCKETS}): "
            "choose a shorter period or interval=day",
            field="interval",
        )


def _require_site(db: Session, account_id: int, site_id: int | None) -> None:
    """``NotFound`` unless ``site_id`` is empty or one of the account's sites."""
    if site_id is not None:
        get_scoped(db, Site, account_id, site_id)


# --- breakdown -----------------------------------------------------------------------------


def breakdown(
    database: Database,
    account_id: int,
    period: Period,
    dimension: Dimension,
    *,
    site_id: int | None = None,
    limit: int = 10,
) -> Breakdown:
    """Sessions and calls by one dimension: the top ``limit`` values by calls, then "other".

    Conversion rate is calls / sessions of the same value in the period (it can pass 1 when
    visits from before the period call during it). First-time callers count the calls that
    attribution did not link to an earlier call from the same number (``first_call_id``).
    Landing pages are paths: query string and fragment dropped.
    """
    counts: dict[str | None, list[int]] = {}  # value → [sessions, calls, first-time callers]
    with database.reader() as db:
        _require_site(db, account_id, site_id)
        split = repository.split_period(db, period)
        for *values, sessions in repository.sessions_by(db, account_id, split, dimension, site_id):
            counts.setdefault(_value(dimension, values), [0, 0, 0])[0] += sessions
        for *values, calls, first in repository.calls_by(db, account_id, split, dimension, site_id):
            entry = counts.setdefault(_value(dimension, values), [0, 0, 0])
            entry[1] += int(calls)
            entry[2] += int(first)
    ranked = sorted(counts.items(), key=lambda item: (-item[1][1], -item[1][0], item[0] or ""))
    rows = [_row(value, *numbers) for value, numbers in ranked[:limit]]
    rest = [numbers for _value_, numbers in ranked[limit:]]
    if rest:
        rows.append(_row(None, *(sum(column) for column in zip(*rest, strict=True)), other=True))
    return Breakdown(
        dimension=dimension,
        period=period,
        rows=rows,
        sessions=sum(numbers[0] for numbers in counts.values()),
        calls=sum(numbers[1] for numbers in counts.values()),
    )


def _value(dimension: Dimension, values: Sequence[Any]) -> str | None:
    if dimension == "landing_page":
        return landing_path_of(values[0])  # the database grouped by URL without its query
    if dimension != "source_medium":
        return values[0]  # type: ignore[no-any-return]
    source, medium = values
    if source is None and medium is None:
        return None
    return f"{source or '(none)'} / {medium or '(none)'}"


def _row(
    value: str | None, sessions: int, calls: int, first: int, *, other: bool = False
) -> BreakdownRow:
    return BreakdownRow(
        value=value,
        sessions=sessions,
        calls=calls,
        conversion_rate=calls / sessions if sessions else None,
        first_time_callers=first,
        is_other=other,
    )


# --- totals and calls over time ------------------------------------------------------------


def totals(
    database: Database, account_id: int, period: Period, *, site_id: int | None = None
) -> Totals:
    """Calls (answered, missed, average duration, attributed share) and sessions."""
    with database.reader() as db:
        _require_site(db, account_id, site_id)
        split = repository.split_period(db, period)
        calls = repository.call_totals(db, account_id, split, site_id)
        sessions = repository.session_count(db, account_id, split, site_id)
    return Totals(
        period=period,
        calls=calls.calls,
        answered=calls.answered,
        missed=calls.missed,
        average_duration=calls.average_duration,
        attributed=calls.attributed,
        attributed_share=calls.attributed / calls.calls if calls.calls else None,
        sessions=sessions,
        first_time_callers=calls.first_time_callers,
    )


def calls_over_time(
    database: Database,
    account_id: int,
    period: Period,
    *,
    interval: Interval | None = None,
    site_id: int | None = None,
    zone: tzinfo = UTC,
) -> TimeSeries:
    """Calls, answered calls and sessions per hour or day (of ``zone``); empty buckets are
    zeros."""
    with database.reader() as db:
        _require_site(db, account_id, site_id)
        interval = resolve_interval(period, interval)
        return _calls_over_time(db, account_id, period, interval, site_id, zone)


def _calls_over_time(
    db: Session,
    account_id: int,
    period: Period,
    interval: Interval,
    site_id: int | None,
    zone: tzinfo,
) -> TimeSeries:
    starts = bucket_starts(period, interval, zone)
    local_days = _local_days(starts, interval)
    # The rollups are UTC days: hourly buckets and other zones' days are read live.
    split = (
        repository.split_period(db, period)
        if interval == "day" and local_days is None
        else repository.live_only(period)
    )
    calls: Counter[datetime] = Counter()
    answered: Counter[datetime] = Counter()
    for bucket, count, answered_count in repository.calls_per_bucket(
        db, account_id, split, interval, site_id, local_days
    ):
        calls[as_utc(bucket)] += int(count)
        answered[as_utc(bucket)] += int(answered_count)
    bounds = [
        (max(start, period.start), min(end, period.end))
        for start, end in zip(starts, bucket_ends(starts, interval, zone), strict=True)
        if not split.is_rolled(start)
    ]
    sessions: Counter[datetime] = Counter()
    for bucket, count in [
        *repository.sessions_per_bucket(db, account_id, site_id, bounds),
        *repository.sessions_per_day_rolled(db, account_id, split, site_id),
    ]:
        sessions[as_utc(bucket)] += int(count)
    buckets = [
        TimeBucket(
            start=start,
            calls=calls[start],
            answered=answered[start],
            sessions=sessions[max(start, period.start)],
        )
        for start in starts
    ]
    return TimeSeries(interval=interval, period=period, buckets=buckets)


# --- pool health ---------------------------------------------------------------------------

HEADROOM = 1.2
# The seed's sizing guidance: daily visitors → the least numbers a session pool should have.
SEED_GUIDANCE = ((1000, 15), (100, 8), (0, 4))


def pool_health(
    database: Database,
    account_id: int,
    period: Period,
    *,
    site_id: int | None = None,
    interval: Interval | None = None,
    zone: tzinfo = UTC,
) -> list[PoolHealth]:
    """Health of each of the account's pools (optionally one site's), oldest pool first;
    day buckets are days of ``zone``."""
    interval = resolve_interval(period, interval)
    with database.reader() as db:
        _require_site(db, account_id, site_id)
        pools = repository.pools_in_period(db, account_id, period, site_id)
        split = repository.split_period(db, period)
        return [_pool_health(db, pool, period, interval, split, zone) for pool in pools]


def pool_health_for(
    database: Database,
    account_id: int,
    pool_id: int,
    period: Period,
    *,
    interval: Interval | None = None,
    zone: tzinfo = UTC,
) -> PoolHealth:
    """Health of one pool; ``NotFound`` for another account's pool."""
    with database.reader() as db:
        pool = get_scoped(db, Pool, account_id, pool_id)
        split = repository.split_period(db, period)
        return _pool_health(db, pool, period, resolve_interval(period, interval), split, zone)


def _pool_health(
    db: Session,
    pool: Pool,
    period: Period,
    interval: Interval,
    split: repository.Split,
    zone: tzinfo,
) -> PoolHealth:
    starts = bucket_starts(period, interval, zone)
    local_days = _local_days(starts, interval)
    if local_days is not None:  # the hourly rollups are UTC days: read these days live
        split = repository.live_only(period)
    spans = repository.tracker_spans(db, pool.id)
    peaks, leases = lease_peaks(db, pool.id, split, interval, local_days)
    exhaustions = {
        as_utc(bucket): count
        for bucket, count in repository.exhaustions_per_bucket(
            db, pool.id, period, interval, local_days
        )
    }
    buckets = []
    for start, end in zip(starts, bucket_ends(starts, interval, zone), strict=True):
        trackers = sum(
            1
            for span in spans
            if span.created_at < end and (span.released_at is None or span.released_at > start)
        )
        buckets.append(
            UtilizationBucket(
                start=start,
                peak_leases=peaks[start],
                trackers=trackers,
                utilization=peaks[start] / trackers if trackers else None,
                exhaustion_events=exhaustions.get(start, 0),
            )
        )
    peak = max(peaks.values(), default=0)
    exhausted = sum(exhaustions.values())
    by_status = Counter(span.status for span in spans if span.status != RELEASED)
    recommended, reason = recommend_size(
        pool.kind, pool.size, peak, exhausted, daily_visits=leases / (period.length / timedelta(1))
    )
    return PoolHealth(
        pool_id=pool.id,
        name=pool.name,
        kind=pool.kind,
        site_id=pool.site_id,
        size=pool.size,
        period=period,
        interval=interval,
        trackers_by_status=_by_status(pool.kind, by_status),
        peak_concurrent_leases=peak,
        leases=leases,
        exhaustion_events=exhausted,
        **dict(zip(CAPPED_FIELDS, repository.capped_sessions(db, pool.id, period), strict=True)),
        recommended_size=recommended,
        recommendation=reason,
        leaked_numbers=leaked(db, pool.id, period) if pool.kind == SESSION else [],
        retiring_numbers=retiring(db, pool.id) if pool.kind == SESSION else [],
        advice=size_advice(db, pool) if pool.kind == SESSION else None,
        buckets=buckets,
    )


CAPPED_FIELDS = ("capped_sessions", "capped_addresses")


# Calls with no lease behind them before a session-pool number counts as leaked: one or two
# are a visitor calling back days later; more, and someone is reading the number elsewhere.
LEAK_MIN_CALLS = 3


def leaked(db: Session, pool_id: int, period: Period) -> list[LeakedNumber]:
    return [
        LeakedNumber(
            tracker_id=tracker, number=number, calls_without_lease=calls, last_call_at=last
        )
        for tracker, number, calls, last in repository.leaked_numbers(
            db, pool_id, period, LEAK_MIN_CALLS
        )
    ]


def retiring(db: Session, pool_id: int) -> list[RetiringNumber]:
    return [
        RetiringNumber(
            tracker_id=tracker,
            number=number,
            retired_at=retired,
            quiet_days=days,
            last_call_at=last,
            release_after=retirement_ends(retired, days, last),
        )
        for tracker, number, retired, days, last in repository.retiring_numbers(db, pool_id)
    ]


def _by_status(kind: str, counts: Counter[str]) -> dict[str, int]:
    """Current trackers by the FAQ's states; session pools add their retiring numbers."""
    statuses = [s for s in TRACKER_STATUSES if s != RELEASED]
    if kind == SESSION:
        statuses.append(RETIRING)
    return {status: counts[status] for status in statuses}


def size_advice(db: Session, pool: Pool) -> SizeAdvice | None:
    """The pool's latest simulated accuracy by size (``callpool.simulation.daily``), and
    whether it was for the account's target of now.

    After a target change the advice is shown as it is, said to be for the old target, rather
    than a size for the new one read off its curve: the curve's sizes double (5, 10, 20 …), so
    such a reading could be up to twice the size needed, while the new advice is due at the
    worker's next round. The curve's marks follow the new target at once.
    """
    advice = latest_advice(db, pool.id)
    if advice is None:
        return None
    account_target = db.get_one(Account, pool.account_id).accuracy_target
    naive = dict(advice.naive_curve)
    return SizeAdvice(
        computed_at=advice.at,
        days=advice.days,
        sessions=advice.sessions,
        daily_sessions=advice.sessions / advice.days if advice.days else 0.0,
        target=advice.target,
        account_target=account_target,
        outdated=abs(advice.target - account_target) > TARGET_TOLERANCE,
        accuracy=advice.accuracy,
        recommended_size=advice.recommended_size,
        curve=[
            SizeAccuracy(size=size, accuracy=accuracy, naive_accuracy=naive[size])
            for size, accuracy in advice.curve
        ],
    )


def lease_peaks(
    db: Session,
    pool_id: int,
    split: repository.Split,
    interval: Interval,
    local_days: list[datetime] | None = None,
) -> tuple[Counter[datetime], int]:
    """Each bucket's peak concurrent leases (0 when none), and the leases started.

    Rolled days come from the hourly rollup; each live stretch gets its own sweep, which
    counts the leases running into it from before, so its buckets match a whole-period sweep.
    ``local_days``: the day starts of a zone that is not UTC, with a split that is all live.
    """
    peaks: Counter[datetime] = Counter()
    leases = 0
    for stretch in split.live:
        running_from = repository.leases_running_from(db, pool_id, stretch.start)
        sweep = repository.lease_sweep(
            db, pool_id, stretch, interval, running_from=running_from, days=local_days
        )
        starts = local_days or bucket_starts(stretch, interval)
        stretch_peaks, started = fold_sweep(sweep, starts)
        peaks.update(stretch_peaks)
        leases += sum(started.values())
    for bucket, peak, count in repository.rolled_pool_peaks(db, pool_id, split, interval):
        peaks[as_utc(bucket)] = max(peaks[as_utc(bucket)], peak)
        leases += count
    return peaks, leases


def fold_sweep(
    sweep: Iterable[Sequence[Any]], starts: list[datetime]
) -> tuple[dict[datetime, int], Counter[datetime]]:
    """Fold the per-bucket sweep into each bucket's peak, and its leases started.

    A bucket's peak is its highest running level, or the level it began with if that held for
    a while (no event at its very first instant): a lease spanning a quiet bucket counts, one
    that ended exactly at the bucket's start does not.
    """
    rows = {as_utc(bucket): row for bucket, *row in sweep}
    level = sum(int(row[2]) for bucket, row in rows.items() if bucket < starts[0])
    peaks: dict[datetime, int] = {}
    leases: Counter[datetime] = Counter()
    for start in starts:
        if start not in rows:
            peaks[start] = level
            continue
        first_event, high, net, started = rows[start]
        held = level if as_utc(first_event) > start else 0
        peaks[start] = max(held, int(high))
        level += int(net)
        leases[start] += int(started)
    return peaks, leases


def recommend_size(
    kind: str, size: int, peak: int, exhausted: int, *, daily_visits: float
) -> tuple[int | None, str]:
    """The size a session pool needs, and how it was found, in words.

    recommended = max(ceil(peak × 1.2), the seed's guidance, ceil(size × 1.2) if exhausted)

    - ceil(peak × 1.2): the most leases held at one instant in the period, plus 20 % headroom,
      so that the least-recently-used number has quiet time before it is handed out again.
    - The seed's guidance for the pool's daily visits (leases started per day): at least 4
      numbers under 100 a day, 8 from 100, 15 from 1,000.
    - When the pool ran out (exhaustion events), the observed peak is capped by what the
      overflow policy let through, so demand was at least the pool's size: add 20 % to it.

    Automated and manual pools hold one tracker per source/medium, not per visitor: their size
    follows the top list (size × utilization), so no size is recommended.
    """
    if kind != SESSION:
        return None, "sized by its top source/medium list, not by concurrent visitors"
    candidates = [(math.ceil(peak * HEADROOM), f"peak of {peak} concurrent leases + 20%")]
    guidance = next(numbers for visits, numbers in SEED_GUIDANCE if daily_visits >= visits)
    candidates.append((guidance, f"guidance for {daily_visits:.0f} visits a day"))
    if exhausted:
        candidates.append(
            (math.ceil(size * HEADROOM), f"ran out {exhausted} times: size {size} + 20%")
        )
    recommended, reason = max(candidates, key=lambda candidate: candidate[0])
    return recommended, reason


# --- CSV export ----------------------------------------------------------------------------

CSV_COLUMNS = (
    "time",
    "caller",
    "tracker",
    "duration",
    "status",
    "recording_url",
    "source",
    "medium",
    "campaign",
    "keyword",
    "landing_page",
    "confidence",
)
_E164 = re.compile(r"\+\d{1,15}")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_calls_csv(
    database: Database, account_id: int, period: Period, *, site_id: int | None = None
) -> Iterator[str]:
    """The period's calls as CSV text, header first, oldest call first, in chunks.

    A site of another account is ``NotFound`` here, before any chunk (so a streamed answer's
    status never depends on its first chunk); the chunks are read lazily, each export in its
    own read transaction held while they are read.
    """
    with database.reader() as db:
        _require_site(db, account_id, site_id)
    return _csv_chunks(database, account_id, period, site_id)


def _csv_chunks(
    database: Database, account_id: int, period: Period, site_id: int | None
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    with database.reader() as db:
        rows = repository.calls_for_export(db, account_id, period, site_id)
        for number, row in enumerate(rows):
            started_at, *middle, confidence = row
            writer.writerow(
                [
                    started_at.isoformat().replace("+00:00", "Z"),
                    *(_cell(value) for value in middle),
                    f"{confidence:.2f}",
                ]
            )
            if number % 500 == 499:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas: UTM values and landing URLs come from strangers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _E164.fullmatch(value):
        return "'" + value
    return "" if value is None else value
