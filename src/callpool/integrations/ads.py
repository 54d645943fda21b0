"""What the dashboard's "Ads & analytics" page reads, in one read transaction: the account's
Google Ads feed with its counts and time zone, and each live site's GA4 stream."""

from __future__ import annotations

from dataclasses import dataclass

from callpool.db import Database
from callpool.integrations.ga4.service import SiteStream, site_streams
from callpool.integrations.google_ads import feed as google_ads
from callpool.models import Account, GoogleAdsFeed


@dataclass(frozen=True)
class AdsOverview:
    time_zone: str  # the account's: the feed's times are written in it
    feed: GoogleAdsFeed | None
    in_feed: int  # qualifying calls of the last 90 days with a Google click id
    braid_only: int  # qualifying calls Google's file cannot take (gbraid / wbraid only)
    streams: list[SiteStream]


def overview(database: Database, account_id: int) -> AdsOverview:
    with database.reader() as db:
        account = db.get(Account, account_id)
        feed = google_ads.get_feed(db, account_id)
        return AdsOverview(
            time_zone=account.time_zone if account else "UTC",
            feed=feed,
            in_feed=len(google_ads.conversions(db, feed)) if feed else 0,
            braid_only=google_ads.braid_only(db, feed) if feed else 0,
            streams=site_streams(db, account_id),
        )
