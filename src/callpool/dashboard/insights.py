"""What the tracking shows: calls with their journeys, reports, pool health, CSV export."""

from __future__ import annotations

import json
from datetime import timedelta, tzinfo
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from callpool.calls import service as calls
from callpool.clock import zone_named
from callpool.dashboard.auth import CurrentViewer, database_of
from callpool.dashboard.render import DashboardRoute, render
from callpool.errors import Invalid, NotFound
from callpool.reports import service as reports
from callpool.reports.schemas import DIMENSIONS, Dimension, Period
from callpool.restapi import MAX_ID, Id
from callpool.sites import service as sites

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

CALLS_PER_PAGE = 50
DIMENSION_LABELS: dict[str, str] = {
    "source": "Source",
    "medium": "Medium",
    "source_medium": "Source / medium",
    "campaign": "Campaign",
    "term": "Keyword",
    "landing_page": "Landing page",
}


# -- calls -----------------------------------------------------------------------------------


@router.get("/calls")
def calls_page(
    request: Request, viewer: CurrentViewer, before: Annotated[str | None, Query()] = None
) -> Response:
    # The API's page and cursor: one read path, one cursor format (a made-up one is a 400 page).
    try:
        page = calls.list_calls(
            database_of(request), viewer.account_id, limit=CALLS_PER_PAGE, cursor=before
        )
    except Invalid as error:
        raise HTTPException(400, str(error)) from None
    return render(
        request,
        "calls.html",
        title="Calls",
        viewer=viewer,
        calls=page.calls,
        next_page=page.next_cursor,
    )


@router.get("/calls/{call_id}")
def call_page(request: Request, viewer: CurrentViewer, call_id: Id) -> Response:
    call = calls.get_call(database_of(request), viewer.account_id, call_id)
    return render(request, "call.html", title="Call", viewer=viewer, call=call)


# -- reports ---------------------------------------------------------------------------------


def _period_or_error(
    start: str | None, end: str | None, zone: tzinfo
) -> tuple[Period, dict[str, str]]:
    try:
        return reports.parse_period(start, end, zone), {}
    except Invalid as error:
        return reports.default_period(zone=zone), {error.field or "start": str(error)}


@router.get("/reports")
def reports_page(
    request: Request,
    viewer: CurrentViewer,
    start: str | None = None,
    end: str | None = None,
    site_id: Annotated[str | None, Query()] = None,
    dimension: str = "source_medium",
) -> Response:
    zone = zone_named(viewer.time_zone)  # the account's days: the period's and the chart's
    period, errors = _period_or_error(start, end, zone)
    chosen: Dimension = dimension if dimension in DIMENSIONS else "source_medium"
    site = int(site_id) if site_id and site_id.isdigit() else None
    if site is not None and site > MAX_ID:
        raise NotFound("no such site")  # no row has it: the 404 page, before any query
    database, account_id = database_of(request), viewer.account_id
    site_list = sites.list_sites(database, account_id)
    totals = reports.totals(database, account_id, period, site_id=site)
    series = reports.calls_over_time(database, account_id, period, site_id=site, zone=zone)
    table = reports.breakdown(database, account_id, period, chosen, site_id=site)
    health = reports.pool_health(
        database, account_id, period, site_id=site, interval="day", zone=zone
    )
    chart = {
        "x": [int(bucket.start.timestamp()) for bucket in series.buckets],
        "calls": [bucket.calls for bucket in series.buckets],
        "answered": [bucket.answered for bucket in series.buckets],
        "sessions": [bucket.sessions for bucket in series.buckets],
    }
    return render(
        request,
        "reports.html",
        title="Reports",
        viewer=viewer,
        sites=site_list,
        site_id=site,
        period=period,
        form={
            "start": start or period.start.astimezone(zone).date().isoformat(),
            "end": end or _last_day(period, zone),
        },
        errors=errors,
        totals=totals,
        chart_json=json.dumps(chart),
        interval=series.interval,
        breakdown=table,
        dimension=chosen,
        dimensions=DIMENSION_LABELS,
        health=health,
        export_query=_query(start=start, end=end, site_id=site),
    )


def _last_day(period: Period, zone: tzinfo) -> str:
    """The inclusive last day the form shows for an exclusive end at midnight."""
    return (period.end - timedelta(microseconds=1)).astimezone(zone).date().isoformat()


def _query(**params: Any) -> str:
    return urlencode({name: value for name, value in params.items() if value})


@router.get("/calls.csv")
def calls_csv(
    request: Request,
    viewer: CurrentViewer,
    start: str | None = None,
    end: str | None = None,
    site_id: Id | None = None,
) -> Response:
    """The period's calls as a spreadsheet; streamed, so a large export does not fill memory."""
    zone = zone_named(viewer.time_zone)
    period = reports.parse_period(start, end, zone)
    first, after = period.start.astimezone(zone), period.end.astimezone(zone)
    # A 404 page is raised here, before the first byte.
    chunks = reports.export_calls_csv(
        database_of(request), viewer.account_id, period, site_id=site_id
    )
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": (
                f'attachment; filename="calls-{first:%Y%m%d}-{after:%Y%m%d}.csv"'
            ),
        },
    )
