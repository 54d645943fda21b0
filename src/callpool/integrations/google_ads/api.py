"""The feed URL Google Ads fetches: public, its token is the secret (no API key: Google's
scheduled HTTPS upload cannot send one)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from callpool.db import Database
from callpool.integrations.google_ads import feed

router = APIRouter(include_in_schema=False)


@router.get("/feeds/google-ads/{token}.csv")
def google_ads_feed(request: Request, token: str) -> Response:
    database: Database = request.app.state.database
    body = feed.fetch(database, token)  # NotFound: 404, for a wrong or rotated token alike
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )
