"""Google Ads offline click conversions: the account's calls as Google's CSV template.

Google Ads fetches the file itself, on a schedule, from a secret URL (Goals → Uploads →
Schedules → HTTPS): no Google credentials are stored here, and nothing waits in the outbox.
The calls table is the durable record; every fetch reads it afresh, so a call is in the file
from the moment it qualifies until its click is 90 days old (Google's limit for click ids).
Google ignores a conversion it has already imported (same click, action and time), so
sending the same rows on every fetch is what its documentation asks for.

Which calls count, by default: answered (status ``completed``) and at least 60 seconds long,
whatever the caller called before. 60 s because shorter answered calls are mostly wrong
numbers, hang-ups at the greeting and robocalls: counted, they would teach Google's bidding
to buy them. Repeat callers count by default because a returning customer's call is still a
lead the ad brought back; "first-time callers only" is there for businesses that bid on new
customers alone.

Calls with only ``gbraid`` / ``wbraid`` (iOS clicks) are not in the file: Google's file
template has no column for them; Google takes them only through its API
(``ClickConversion.gbraid`` / ``wbraid``), which needs OAuth credentials and a developer
token. The dashboard counts them so the gap is visible (docs/integrations.md).

Transactions: the functions the dashboard and the feed URL call take the ``Database`` and open
their own; the ones taking a ``Session`` are steps inside them.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.repository import scoped
from callpool.db import Database
from callpool.errors import Invalid, NotFound
from callpool.models import Account, Call, GoogleAdsFeed, VisitSession

WINDOW = timedelta(days=90)  # click ids older than this are refused by Google
HEADER = (
    "Google Click ID",
    "Conversion Name",
    "Conversion Time",
    "Conversion Value",
    "Conversion Currency",
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # one of the template's formats; the zone is the Parameters'
ANSWERED = "completed"
TOKEN_BYTES = 24
MAX_ROWS = 100_000


@dataclass(frozen=True)
class FeedSettings:
    """What the account chooses (the dashboard's form)."""

    conversion_name: str
    min_duration: int = 60
    first_time_only: bool = False
    value: Decimal = Decimal(0)
    currency: str = "USD"


def get_feed(db: Session, account_id: int) -> GoogleAdsFeed | None:
    found: GoogleAdsFeed | None = db.scalar(scoped(GoogleAdsFeed, account_id))
    return found


def save_feed(
    database: Database, account_id: int, chosen: FeedSettings, time_zone: str | None
) -> None:
    """Create or change the account's feed and set the account's time zone (the file's times
    are written in it; ``None`` keeps it); ``Invalid`` (nothing changed) for bad input."""
    if time_zone is not None:
        zone(time_zone)
    check(chosen)
    with database.session() as db:
        if time_zone is not None:
            _set_time_zone(db, account_id, time_zone)
        _save_feed(db, account_id, chosen)


def _save_feed(db: Session, account_id: int, chosen: FeedSettings) -> None:
    now = clock.now()
    feed = get_feed(db, account_id)
    if feed is None:
        feed = GoogleAdsFeed(account_id=account_id, token=new_token(), created_at=now)
        db.add(feed)
    feed.conversion_name = chosen.conversion_name.strip()
    feed.min_duration = chosen.min_duration
    feed.first_time_only = chosen.first_time_only
    feed.value = chosen.value
    feed.currency = chosen.currency.upper()
    feed.updated_at = now


def check(chosen: FeedSettings) -> None:
    name = chosen.conversion_name.strip()
    if not name or len(name) > 100 or any(ch in name for ch in "\r\n"):
        raise Invalid("give the conversion action's name, as it is in Google Ads", "name")
    if not 0 <= chosen.min_duration <= 86_400:
        raise Invalid("seconds, from 0 to 86400", "min_duration")
    if not Decimal(0) <= chosen.value < Decimal(10) ** 10:
        raise Invalid("a value from 0", "value")
    if len(chosen.currency) != 3 or not chosen.currency.isalpha():
        raise Invalid("a three-letter ISO 4217 code, such as USD or EUR", "currency")


def rotate_token(database: Database, account_id: int) -> None:
    """A new URL; the old one answers 404 from now on (paste the new one into Google Ads)."""
    with database.session() as db:
        feed = get_feed(db, account_id)
        if feed is None:
            raise NotFound("no Google Ads feed")
        feed.token = new_token()
        feed.updated_at = clock.now()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _set_time_zone(db: Session, account_id: int, name: str) -> None:
    account = db.scalar(scoped(Account, account_id))
    if account is None:
        raise NotFound("account not found")
    account.time_zone = name


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"{name!r} is not a time zone name (such as America/New_York)", "time_zone"
        ) from None


# The file


@dataclass(frozen=True)
class Conversion:
    click_id: str
    at: datetime


def _qualifying(feed: GoogleAdsFeed, since: datetime) -> Select[str | None, datetime]:
    query = (
        select(VisitSession.gclid, Call.started_at)
        .join(VisitSession, VisitSession.id == Call.session_id)
        .where(
            Call.account_id == feed.account_id,
            Call.started_at >= since,
            Call.status == ANSWERED,
            func.coalesce(Call.duration, 0) >= feed.min_duration,
        )
        .order_by(Call.started_at, Call.id)
        .limit(MAX_ROWS)
    )
    if feed.first_time_only:
        query = query.where(Call.first_call_id.is_(None))
    return query


def conversions(db: Session, feed: GoogleAdsFeed) -> list[Conversion]:
    """The qualifying calls of the last 90 days whose visit came from a Google Ads click."""
    query = _qualifying(feed, clock.now() - WINDOW).where(VisitSession.gclid.is_not(None))
    return [Conversion(gclid, at) for gclid, at in db.execute(query) if gclid]


def braid_only(db: Session, feed: GoogleAdsFeed) -> int:
    """Qualifying calls whose click carried only ``gbraid``/``wbraid``: not in the file."""
    query = _qualifying(feed, clock.now() - WINDOW).where(
        VisitSession.gclid.is_(None),
        (VisitSession.gbraid.is_not(None)) | (VisitSession.wbraid.is_not(None)),
    )
    return len(db.execute(query).all())


def render(feed: GoogleAdsFeed, time_zone: str, rows: Iterable[Conversion]) -> str:
    """Google's click-conversion template: the time zone once, the header, one row a call.
    Times are written in ``time_zone`` (the account's), which the Parameters line names."""
    tz = zone(time_zone)
    out = io.StringIO()
    out.write(f"Parameters:TimeZone={time_zone}\r\n")
    writer = csv.writer(out)  # quotes a name with a comma; \r\n line ends, as Excel's export
    writer.writerow(HEADER)
    value = f"{feed.value:.2f}"
    for row in rows:
        at = row.at.astimezone(tz).strftime(TIME_FORMAT)
        writer.writerow((row.click_id, feed.conversion_name, at, value, feed.currency))
    return out.getvalue()


def fetch(database: Database, token: str) -> str:
    """The file behind a feed URL, recording when it was fetched; ``NotFound`` for an unknown
    (or rotated) token."""
    with database.session() as db:
        feed = db.scalar(select(GoogleAdsFeed).where(GoogleAdsFeed.token == token))
        if feed is None:
            raise NotFound("unknown feed")
        account = db.get(Account, feed.account_id)
        assert account is not None  # the feed is deleted with its account
        body = render(feed, account.time_zone, conversions(db, feed))
        db.execute(
            update(GoogleAdsFeed)
            .where(GoogleAdsFeed.id == feed.id)
            .values(last_fetched_at=clock.now())
            .execution_options(synchronize_session=False)
        )
    return body
