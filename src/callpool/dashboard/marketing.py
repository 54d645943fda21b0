"""Dashboard page for the ad and analytics platforms calls are fed to: the account's Google
Ads feed (settings, the URL to paste, how to schedule it) and each site's GA4 stream
(settings, events sent and skipped, the test button).

Handlers stay thin: forms become the services' settings, the services check them (``Invalid``
is shown beside its field), scoped to the viewer's account.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callpool.dashboard.auth import CsrfChecked, CurrentViewer, Viewer, database_of, settings_of
from callpool.dashboard.forms import PostedForm, checkbox, text
from callpool.dashboard.render import DashboardRoute, render
from callpool.errors import Invalid
from callpool.integrations import ads
from callpool.integrations.ga4 import service as ga4
from callpool.integrations.ga4.sender import ENDPOINTS
from callpool.integrations.google_ads import feed as google_ads
from callpool.models import GoogleAdsFeed
from callpool.restapi import Id

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)
PAGE = "/dashboard/ads"


@router.get("/ads")
def ads_page(request: Request, viewer: CurrentViewer) -> Response:
    return _page(request, viewer)


def _page(
    request: Request,
    viewer: Viewer,
    *,
    forms: Mapping[str, Mapping[str, Any]] | None = None,
    errors: Mapping[str, dict[str, str]] | None = None,
    notice: str | None = None,
    test: tuple[int, ga4.TestResult] | None = None,
    status_code: int = 200,
) -> Response:
    page = ads.overview(database_of(request), viewer.account_id)
    feed, public_url = page.feed, settings_of(request).public_url.rstrip("/")
    forms = forms or {}
    google_form = forms.get("google") or _google_current(feed, page.time_zone)
    return render(
        request,
        "ads.html",
        status_code,
        title="Ads & analytics",
        viewer=viewer,
        feed=feed,
        feed_url=f"{public_url}/feeds/google-ads/{feed.token}.csv" if feed else None,
        feed_counts=(page.in_feed, page.braid_only),
        time_zone=page.time_zone,
        google_form=google_form,
        streams=page.streams,
        stream_forms=forms,
        errors=errors or {},
        regions=list(ENDPOINTS),
        notice=notice,
        test=test,
    )


def _google_current(feed: GoogleAdsFeed | None, time_zone: str) -> dict[str, Any]:
    if feed is None:
        return {"min_duration": "60", "currency": "USD", "value": "0", "time_zone": time_zone}
    return {
        "name": feed.conversion_name,
        "min_duration": str(feed.min_duration),
        "first_time_only": "on" if feed.first_time_only else "",
        "value": f"{feed.value:.2f}",
        "currency": feed.currency,
        "time_zone": time_zone,
    }


# -- Google Ads -----------------------------------------------------------------------------


@router.post("/ads/google", dependencies=[CsrfChecked])
def save_google_ads(request: Request, viewer: CurrentViewer, posted: PostedForm) -> Response:
    form = dict(posted)
    try:
        chosen = google_ads.FeedSettings(
            conversion_name=text(form, "name") or "",
            min_duration=_integer(form, "min_duration", 60),
            first_time_only=checkbox(form, "first_time_only"),
            value=_decimal(form, "value"),
            currency=text(form, "currency") or "",
        )
        time_zone = text(form, "time_zone") or "UTC"
        google_ads.save_feed(database_of(request), viewer.account_id, chosen, time_zone)
    except Invalid as bad:
        errors = {"google": {bad.field or "form": str(bad)}}
        return _page(request, viewer, forms={"google": form}, errors=errors, status_code=422)
    return _page(request, viewer, notice="Saved. The feed URL is below.")


@router.post("/ads/google/rotate", dependencies=[CsrfChecked])
def rotate_google_ads(request: Request, viewer: CurrentViewer) -> Response:
    google_ads.rotate_token(database_of(request), viewer.account_id)
    notice = "New URL below: the old one no longer works. Paste the new one into the schedule."
    return _page(request, viewer, notice=notice)


def _integer(form: Mapping[str, Any], name: str, default: int) -> int:
    given = text(form, name)
    if given is None:
        return default
    if not given.isdigit():
        raise Invalid("enter a whole number of seconds", name)
    return int(given)


def _decimal(form: Mapping[str, Any], name: str) -> Decimal:
    try:
        value = Decimal(text(form, name) or "0")
    except InvalidOperation:
        raise Invalid("enter a number, such as 50 or 49.90", name) from None
    if not value.is_finite():
        raise Invalid("enter a number, such as 50 or 49.90", name)
    return value.quantize(Decimal("0.01"))


# -- GA4 ------------------------------------------------------------------------------------


@router.post("/ads/ga4/{site_id}", dependencies=[CsrfChecked])
def save_ga4(request: Request, viewer: CurrentViewer, site_id: Id, posted: PostedForm) -> Response:
    form = dict(posted)
    chosen = ga4.StreamSettings(
        measurement_id=text(form, "measurement_id") or "",
        api_secret=text(form, "api_secret") or "",
        event_name=text(form, "event_name") or ga4.DEFAULT_EVENT,
        region=text(form, "region") or "global",
        enabled=checkbox(form, "enabled"),
    )
    try:
        ga4.save_stream(database_of(request), viewer.account_id, site_id, chosen)
    except Invalid as bad:
        key = f"ga4:{site_id}"
        errors = {key: {bad.field or "form": str(bad)}}
        return _page(request, viewer, forms={key: form}, errors=errors, status_code=422)
    return _page(request, viewer, notice="GA4 saved: calls from this site's visits are sent.")


@router.post("/ads/ga4/{site_id}/delete", dependencies=[CsrfChecked])
def delete_ga4(request: Request, viewer: CurrentViewer, site_id: Id) -> Response:
    ga4.delete_stream(database_of(request), viewer.account_id, site_id)
    return _page(request, viewer, notice="GA4 removed: no more events are sent for this site.")


@router.post("/ads/ga4/{site_id}/test", dependencies=[CsrfChecked])
def test_ga4(request: Request, viewer: CurrentViewer, site_id: Id) -> Response:
    # A plain def, so in the thread pool: two HTTP requests to GA4 wait there, not on the loop.
    result = ga4.send_test(database_of(request), settings_of(request), viewer.account_id, site_id)
    if result is None:
        return _page(request, viewer, notice="Save the GA4 settings first.", status_code=409)
    return _page(request, viewer, test=(site_id, result))
