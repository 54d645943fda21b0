"""REST API of the reports: ``/api/v1/reports/…``, API-key auth, period as query parameters.

The CSV export lives at ``/api/v1/reports/calls.csv``, inside this router's prefix, so that no
``/api/v1/calls/{id}`` route of the calls API can ever shadow it.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.reports import service
from callpool.reports.schemas import Breakdown, Dimension, Interval, PoolHealth, TimeSeries, Totals
from callpool.restapi import API, NOT_FOUND, Id, Text

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses={**API, **NOT_FOUND})

# Both forms a bound may take. Whether the period they make is one the reports answer (start
# before end, three years at most, not too many buckets) is the server's check: 422 with
# {detail, field}.
BOUND = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
    "maxLength": 64,
}

Start = Annotated[
    Text | None,
    Query(
        min_length=1,
        max_length=64,
        json_schema_extra=BOUND,
        description="First day (YYYY-MM-DD, in the account's time zone) or instant "
        "(ISO date-time, UTC if no zone) of the period. Default: 30 days before end.",
        examples=["2026-01-01"],
    ),
]
End = Annotated[
    Text | None,
    Query(
        min_length=1,
        max_length=64,
        json_schema_extra=BOUND,
        description="Last day, included (YYYY-MM-DD, in the account's time zone), or an "
        "instant, excluded (ISO date-time). Default: today, included.",
        examples=["2026-01-31"],
    ),
]


def _account_zone(account_id: AccountId, database: DatabaseDep) -> tzinfo:
    return service.account_zone(database, account_id)


# The account's time zone: what a bare date and a day bucket mean.
Zone = Annotated[tzinfo, Depends(_account_zone)]
SiteFilter = Annotated[Id | None, Query(description="Only this site of the account")]
IntervalQuery = Annotated[
    Interval | None,
    Query(description="Bucket size. Default: hour for periods of 3 days or less, else day."),
]


@router.get("/breakdown")
def get_breakdown(
    account_id: AccountId,
    database: DatabaseDep,
    zone: Zone,
    dimension: Annotated[Dimension, Query(description="What to group by")] = "source",
    start: Start = None,
    end: End = None,
    site_id: SiteFilter = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Rows before 'other'")] = 10,
) -> Breakdown:
    """Sessions, calls, conversion rate and first-time callers by source, medium,
    source / medium, campaign, term (keyword) or landing page path, most calls first; the
    rows past `limit` are summed into one row with `is_other` true."""
    period = service.parse_period(start, end, zone)
    return service.breakdown(database, account_id, period, dimension, site_id=site_id, limit=limit)


@router.get("/timeseries")
def get_timeseries(
    account_id: AccountId,
    database: DatabaseDep,
    zone: Zone,
    start: Start = None,
    end: End = None,
    interval: IntervalQuery = None,
    site_id: SiteFilter = None,
) -> TimeSeries:
    """Calls, answered calls and sessions per hour or day of the period: hours are UTC
    hours, days run from midnight to midnight in the account's time zone (23 or 25 hours
    across a DST change); each bucket's start carries the zone's offset."""
    period = service.parse_period(start, end, zone)
    return service.calls_over_time(
        database, account_id, period, interval=interval, site_id=site_id, zone=zone
    )


@router.get("/totals")
def get_totals(
    account_id: AccountId,
    database: DatabaseDep,
    zone: Zone,
    start: Start = None,
    end: End = None,
    site_id: SiteFilter = None,
) -> Totals:
    """Calls, answered, missed, average duration, attributed share and sessions."""
    period = service.parse_period(start, end, zone)
    return service.totals(database, account_id, period, site_id=site_id)


@router.get("/pools")
def get_pools_health(
    account_id: AccountId,
    database: DatabaseDep,
    zone: Zone,
    start: Start = None,
    end: End = None,
    interval: IntervalQuery = None,
    site_id: SiteFilter = None,
) -> list[PoolHealth]:
    """Health of every pool: utilization over time (peak concurrent leases / trackers),
    exhaustion events, trackers by status and a recommended size."""
    period = service.parse_period(start, end, zone)
    return service.pool_health(
        database, account_id, period, site_id=site_id, interval=interval, zone=zone
    )


@router.get("/pools/{pool_id}")
def get_pool_health(
    pool_id: Id,
    account_id: AccountId,
    database: DatabaseDep,
    zone: Zone,
    start: Start = None,
    end: End = None,
    interval: IntervalQuery = None,
) -> PoolHealth:
    """Health of one pool (404 if it is not the account's)."""
    period = service.parse_period(start, end, zone)
    return service.pool_health_for(
        database, account_id, pool_id, period, interval=interval, zone=zone
    )


@router.get(
    "/calls.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, header row first"}},
)
def get_calls_csv(
    account_id: AccountId,
    database: DatabaseDep,
    zone: Zone,
    start: Start = None,
    end: End = None,
    site_id: SiteFilter = None,
) -> StreamingResponse:
    """The period's calls as CSV, oldest first, streamed: time (UTC), caller, tracker,
    duration (s), status, recording_url, source, medium, campaign, keyword, landing_page
    (the full landing URL), confidence."""
    period = service.parse_period(start, end, zone)
    # A 404 is raised here, before the first byte is sent.
    chunks = service.export_calls_csv(database, account_id, period, site_id=site_id)
    last_day = (period.end - timedelta(microseconds=1)).astimezone(zone)
    filename = f"calls-{period.start.astimezone(zone):%Y-%m-%d}-to-{last_day:%Y-%m-%d}.csv"
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
