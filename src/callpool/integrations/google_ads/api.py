"""Google Ads: the REST API for the account's feed (``/api/v1/integrations/google-ads``), and
the feed URL Google Ads fetches (public, its token is the secret: Google's scheduled HTTPS
upload cannot send an API key)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.db import Database
from callpool.errors import NotFound
from callpool.integrations import ads
from callpool.integrations.google_ads import feed
from callpool.integrations.google_ads.schemas import GoogleAdsFeedIn, GoogleAdsFeedOut
from callpool.restapi import API, NOT_FOUND

router = APIRouter(prefix="/api/v1/integrations/google-ads", tags=["integrations"], responses=API)
feed_router = APIRouter(include_in_schema=False)


@router.get("", responses=NOT_FOUND)
def get_google_ads_feed(
    request: Request, account_id: AccountId, database: DatabaseDep
) -> GoogleAdsFeedOut:
    """The account's feed of calls as Google Ads offline click conversions; 404 until one is
    set up."""
    return _feed_out(request, database, account_id)


@router.put("")
def set_google_ads_feed(
    body: GoogleAdsFeedIn, request: Request, account_id: AccountId, database: DatabaseDep
) -> GoogleAdsFeedOut:
    """Set up the feed, or change which calls it holds. Its URL stays the same."""
    chosen = feed.FeedSettings(
        conversion_name=body.conversion_name,
        min_duration=body.min_duration,
        first_time_only=body.first_time_only,
        value=body.value,
        currency=body.currency,
    )
    feed.save_feed(database, account_id, chosen, body.time_zone)
    return _feed_out(request, database, account_id)


@router.post("/rotate-url", responses=NOT_FOUND)
def rotate_google_ads_url(
    request: Request, account_id: AccountId, database: DatabaseDep
) -> GoogleAdsFeedOut:
    """A new secret URL; the old one answers 404 from now on (paste the new one into Google
    Ads)."""
    feed.rotate_token(database, account_id)
    return _feed_out(request, database, account_id)


def _feed_out(request: Request, database: Database, account_id: int) -> GoogleAdsFeedOut:
    page = ads.overview(database, account_id)
    if page.feed is None:
        raise NotFound("no Google Ads feed: PUT one first")
    public_url = request.app.state.settings.public_url.rstrip("/")
    return GoogleAdsFeedOut(
        conversion_name=page.feed.conversion_name,
        min_duration=page.feed.min_duration,
        first_time_only=page.feed.first_time_only,
        value=page.feed.value,
        currency=page.feed.currency,
        time_zone=page.time_zone,
        feed_url=f"{public_url}/feeds/google-ads/{page.feed.token}.csv",
        conversions_in_feed=page.in_feed,
        braid_only_calls=page.braid_only,
        updated_at=page.feed.updated_at,
    )


@feed_router.get("/feeds/google-ads/{token}.csv")
def google_ads_feed(request: Request, token: str) -> Response:
    database: Database = request.app.state.database
    body = feed.fetch(database, token)  # NotFound: 404, for a wrong or rotated token alike
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )
